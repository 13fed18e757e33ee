// MARK: - Recurrent cells
//
// The pointwise part of a step (gate pre-activations -> activated gates and new state, and its
// backward) runs in C: MAMLKernels cell_ops.c (mk_cell_forward, mk_cell_backward), written once
// over plain and dual numbers (values with their R-values: the R-forward and R-backward passes),
// 16 units at a time under AVX-512. Gate layout per example row, PyTorch's order: elman [a];
// gru [r, z, n]; lstm [i, f, g, o].

/// The recurrent cell types.
public enum RecurrentCell: String, Sendable, CaseIterable {
    /// h' = tanh(W_ih x + W_hh h + b).
    case elman
    /// PyTorch's GRU: r, z = sigmoid(...); n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h.
    case gru
    /// PyTorch's LSTM: i, f, o = sigmoid, g = tanh of W_ih x + W_hh h + b; c' = f c + i g; h' = o tanh(c').
    case lstm

    /// Gate blocks of H rows in W_ih, W_hh and the bias.
    public var gates: Int {
        switch self { case .elman: 1; case .gru: 3; case .lstm: 4 }
    }

    /// The cell's number in MAMLKernels' cell_ops.c (mk_cell_forward / mk_cell_backward).
    public var kernelCode: Int32 {
        switch self { case .elman: 0; case .gru: 1; case .lstm: 2 }
    }
}
