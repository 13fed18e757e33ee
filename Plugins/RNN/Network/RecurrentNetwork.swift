import MAMLPluginKit

// MARK: - A recurrent network with exact gradients and Hessian-vector products
//
// One example is a sequence [length, features] (row t is the input at step t). `layers`
// stacked cells (elman, gru or lstm; RecurrentCells.swift) of `hidden` units, zero
// initial state, each layer's hidden sequence the next layer's input; then a linear head
// on the top layer's hidden state:
//   head "last":  outputs [classes] from the last step (sequence to one);
//   head "every": outputs [length, classes] at every step (sequence to sequence, MSE only:
//                 the ABI's cross-entropy has one label per example).
//
// Parameters per layer (PyTorch's gate order and init; one bias per gate row, plus GRU's
// b_hn, the hidden bias of the n gate that r multiplies, the only one not redundant):
//   layer<l>.w_ih [G H, in], layer<l>.w_hh [G H, H], layer<l>.bias [G H], (gru) layer<l>.b_hn [H]
// then head.weight [classes, H], head.bias [classes] (role "head").
//
// Gradient: backpropagation through time. HVP: Pearlmutter's R-operator, forward over
// reverse, the pointwise cell parts through dual numbers (MAMLKernels cell_ops.c) and the
// matrix products with their R-terms written out (RecurrentNetworkPasses.swift).
//
// Activations are stored time-major ([t, example, unit]) so that one step's rows are
// contiguous for the W_hh products and the input projections of all steps are one GEMM.
// Scratch is sized for the largest batch seen and reused: no allocation per call.

/// A stacked recurrent network with loss, gradient and exact Hessian-vector product.
public final class RecurrentNetwork {
    /// Where the head reads the hidden state.
    public enum Head: String, Sendable, CaseIterable {
        case last, every
    }

    /// The shape of the network.
    public struct Config: Equatable, Sendable {
        /// Sequence length (the task's) and features per step.
        public var length: Int
        public var features: Int
        public var cell: RecurrentCell
        public var hidden: Int
        public var layers: Int
        public var head: Head
        public var classes: Int
        public var loss: PluginLossKind

        /// Defaults: the peers' sine-sequence Elman network (hidden 40, length 20, every step).
        public init(length: Int = 20, features: Int = 1, cell: RecurrentCell = .elman, hidden: Int = 40,
                    layers: Int = 1, head: Head = .every, classes: Int = 1, loss: PluginLossKind = .mse) {
            self.length = length; self.features = features; self.cell = cell; self.hidden = hidden
            self.layers = layers; self.head = head; self.classes = classes; self.loss = loss
        }
    }

    /// Parameter offsets of one layer.
    struct Layer {
        var inputs: Int
        var wih: Int, whh: Int, bias: Int, bhn: Int   // bhn -1 unless gru
    }

    public let config: Config
    public let parameterCount: Int
    let layerList: [Layer]
    let headWeight: Int, headBias: Int
    /// Output steps: length (every) or 1 (last).
    let outSteps: Int

    // Scratch units, floats per example (buffer(u) = scratch + u * capacity).
    struct LayerUnits { var h = 0, rh = 0, c = 0, rc = 0, extra = 0, rExtra = 0, gates = 0, rGates = 0 }
    var layerUnits: [LayerUnits] = []
    var x0 = 0, hid = 0, rHid = 0, dax = 0, rDax = 0, dah = 0, rDah = 0
    var top = 0, rTop = 0, below = 0, rBelow = 0, carry = 0, rCarry = 0, cCarry = 0, rcCarry = 0
    var logitsT = 0, rLogitsT = 0, logits = 0, rLogits = 0, probs = 0, grad = 0, rGrad = 0, gradT = 0, rGradT = 0
    var unitsTotal = 0
    var capacity = 0
    var scratch: UnsafeMutablePointer<Float>

    /// Builds the network; a config that cannot work is refused with a message naming the key.
    public init(_ config: Config) throws(PluginError) {
        guard config.length >= 1, config.features >= 1 else {
            throw PluginError(.invalidArgument, "config key \"input\": [\(config.length), \(config.features)] must be [length, features], each at least 1")
        }
        guard config.hidden >= 1, config.layers >= 1 else {
            throw PluginError(.invalidArgument, "config keys \"hidden\" \(config.hidden) and \"layers\" \(config.layers) must be at least 1")
        }
        guard config.classes >= (config.loss == .softmaxCrossEntropy ? 2 : 1) else {
            throw PluginError(.invalidArgument, "config key \"classes\": \(config.classes) is too few for \(config.loss == .mse ? "mse" : "softmax-ce") (expected at least \(config.loss == .mse ? 1 : 2))")
        }
        guard !(config.head == .every && config.loss == .softmaxCrossEntropy) else {
            throw PluginError(.invalidArgument, "config: \"head\": \"every\" needs \"loss\": \"mse\" (softmax-ce has one label per sequence; use \"head\": \"last\")")
        }
        self.config = config
        let h = config.hidden, gh = config.cell.gates * h
        var offset = 0, list: [Layer] = []
        for l in 0..<config.layers {
            let inputs = l == 0 ? config.features : h
            var layer = Layer(inputs: inputs, wih: offset, whh: offset + gh * inputs, bias: offset + gh * (inputs + h), bhn: -1)
            offset = layer.bias + gh
            if config.cell == .gru { layer.bhn = offset; offset += h }
            list.append(layer)
        }
        layerList = list
        headWeight = offset; headBias = offset + config.classes * h
        parameterCount = headBias + config.classes
        outSteps = config.head == .every ? config.length : 1
        let t = config.length, k = config.classes
        let widest = max(h, config.features)
        guard parameterCount <= 1 << 28, t * (gh + widest) <= 1 << 24 else {
            throw PluginError(.invalidArgument, "config: \(parameterCount) parameters, length \(t) x \(gh) gate units is too large (at most \(1 << 28) parameters, \(1 << 24) floats per example and layer)")
        }

        // Scratch units.
        var units = 0
        func take(_ size: Int) -> Int { defer { units += size }; return units }
        for _ in 0..<config.layers {
            var u = LayerUnits()
            u.h = take((t + 1) * h); u.rh = take((t + 1) * h)
            u.gates = take(t * gh); u.rGates = take(t * gh)
            if config.cell == .lstm { u.c = take((t + 1) * h); u.rc = take((t + 1) * h) }
            if config.cell != .elman { u.extra = take(t * h); u.rExtra = take(t * h) }
            layerUnits.append(u)
        }
        x0 = take(t * config.features)
        hid = take(gh); rHid = take(gh)
        dax = take(t * gh); rDax = take(t * gh); dah = take(t * gh); rDah = take(t * gh)
        top = take(t * widest); rTop = take(t * widest); below = take(t * widest); rBelow = take(t * widest)
        carry = take(h); rCarry = take(h); cCarry = take(h); rcCarry = take(h)
        let o = outSteps * k
        logitsT = take(o); rLogitsT = take(o); logits = take(o); rLogits = take(o); probs = take(o)
        grad = take(o); rGrad = take(o); gradT = take(o); rGradT = take(o)
        unitsTotal = units
        scratch = .allocate(capacity: 1)
    }

    deinit { scratch.deallocate() }

    public var inputShape: [Int] { [config.length, config.features] }
    public var outputShape: [Int] { config.head == .every ? [config.length, config.classes] : [config.classes] }

    // MARK: Layout and initialisation

    /// See the file comment; every recurrent tensor has role "body", the head "head".
    public var layout: [LayoutTensor] {
        let h = config.hidden, gh = config.cell.gates * h
        var list: [LayoutTensor] = []
        for (l, layer) in layerList.enumerated() {
            list.append(LayoutTensor(name: "layer\(l).w_ih", offset: layer.wih, shape: [gh, layer.inputs], role: "body"))
            list.append(LayoutTensor(name: "layer\(l).w_hh", offset: layer.whh, shape: [gh, h], role: "body"))
            list.append(LayoutTensor(name: "layer\(l).bias", offset: layer.bias, shape: [gh], role: "body"))
            if layer.bhn >= 0 {
                list.append(LayoutTensor(name: "layer\(l).b_hn", offset: layer.bhn, shape: [h], role: "body"))
            }
        }
        list.append(LayoutTensor(name: "head.weight", offset: headWeight, shape: [config.classes, h], role: "head"))
        list.append(LayoutTensor(name: "head.bias", offset: headBias, shape: [config.classes], role: "head"))
        return list
    }

    /// PyTorch's nn.RNN/GRU/LSTM and nn.Linear defaults: everything uniform in +-1/sqrt(hidden),
    /// drawn in layout order from SplitMix64(seed).
    public func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) {
        var rng = SplitMix64(seed: seed)
        let bound = 1 / Float(config.hidden).squareRoot()
        for i in 0..<parameterCount { params[i] = rng.nextFloat(symmetric: bound) }
    }

    /// Floating-point operations of one loss_grad on a batch of n: 2 per multiply-add of the
    /// matrix products (input projection, recurrent product, their weight gradients, the
    /// recurrent and lower-layer input gradients; the head's three); pointwise work not counted.
    public func flops(batch n: Int) -> UInt64 {
        let n = UInt64(n), t = UInt64(config.length), h = UInt64(config.hidden), gh = UInt64(config.cell.gates) * h
        var mac: UInt64 = 0
        for (l, layer) in layerList.enumerated() {
            let inputs = UInt64(layer.inputs)
            mac += n * t * gh * inputs * (l > 0 ? 3 : 2)   // projection, dW_ih, (dX)
            mac += n * t * gh * h * 3                        // W_hh h, dW_hh, dh W_hh
        }
        mac += n * UInt64(outSteps) * UInt64(config.classes) * h * 3
        return 2 * mac
    }

    // MARK: Scratch

    @inline(__always) func buffer(_ unit: Int) -> UnsafeMutablePointer<Float> { scratch + unit * capacity }

    /// Grows the scratch when a batch is larger than any before (the only allocation).
    func reserve(_ n: Int) throws(PluginError) {
        guard n > capacity else { return }
        guard n <= Int(Int32.max) / (config.length * max(config.hidden * config.cell.gates, config.features)),
              n <= (1 << 36) / unitsTotal else {
            throw PluginError(.outOfMemory, "batch of \(n) sequences is too large for this network (\(unitsTotal) floats of scratch per sequence)")
        }
        scratch.deallocate()
        scratch = .allocate(capacity: unitsTotal * n)
        scratch.initialize(repeating: 0, count: unitsTotal * n)
        capacity = n
    }
}

// MARK: - Config from a validated plugin config

extension RecurrentNetwork.Config {
    /// Reads a config already validated against `RecurrentNetwork.configSchema` and resolved.
    public init(resolved config: JSONObject) throws(PluginError) {
        let input = try config.requireIntArray("input")
        guard input.count == 2 else {
            throw PluginError(.invalidArgument, "config key \"input\": \(input) must be [length, features]")
        }
        let cellName = try config.requireString("cell"), headName = try config.requireString("head")
        guard let cell = RecurrentCell(rawValue: cellName), let head = RecurrentNetwork.Head(rawValue: headName) else {
            throw PluginError(.internal, "config: cell \"\(cellName)\" or head \"\(headName)\" not understood after validation")
        }
        self.init(length: input[0], features: input[1], cell: cell, hidden: try config.requireInt("hidden"),
                  layers: try config.requireInt("layers"), head: head, classes: try config.requireInt("classes"),
                  loss: try config.requireString("loss") == "mse" ? .mse : .softmaxCrossEntropy)
    }
}

extension RecurrentNetwork {
    /// The plugin config schema (JSON): keys input, cell, hidden, layers, head, classes, loss.
    public static let configSchema = """
{
  "type": "object",
  "title": "rnn",
  "description": "stacked recurrent cells (elman tanh, gru or lstm as PyTorch) with zero initial state and a linear head on the top layer's hidden state, at the last step (sequence to one) or at every step (sequence to sequence, mse only). Exact BPTT gradient and forward-over-reverse HVP.",
  "properties": {
    "input": {"type": "array", "task": "input-shape", "items": {"type": "integer", "minimum": 1, "maximum": 65536},
              "minItems": 2, "maxItems": 2, "default": [20, 1],
              "description": "[length, features] of one sequence: the task's input shape ([20, 1] sine-sequences, [28, 28] glyph-rows)"},
    "cell": {"type": "string", "enum": ["elman", "gru", "lstm"], "default": "elman",
             "description": "elman: tanh; gru and lstm: PyTorch's gate equations and order"},
    "hidden": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 40,
               "description": "hidden units per layer"},
    "layers": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1,
               "description": "stacked layers; layer l+1 reads layer l's hidden sequence"},
    "head": {"type": "string", "enum": ["last", "every"], "default": "every",
             "description": "last: outputs [classes] from the last step; every: outputs [length, classes], one per step"},
    "classes": {"type": "integer", "task": "output-size", "minimum": 1, "maximum": 65536, "default": 1,
                "description": "outputs per prediction: regression targets (mse) or classes (softmax-ce, at least 2)"},
    "loss": {"type": "string", "task": "loss", "enum": ["mse", "softmax-ce"], "default": "mse",
             "description": "mse: float targets; softmax-ce: labels (head last)"}
  },
  "additionalProperties": false,
  "examples": [
    {},
    {"cell": "lstm", "head": "last"},
    {"input": [28, 28], "cell": "gru", "hidden": 128, "head": "last", "classes": 5, "loss": "softmax-ce"}
  ]
}
"""
}
