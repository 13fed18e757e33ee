import MAMLPluginKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - What a cached forward/backward pass was computed from
//
// MAML calls loss_grad(support, theta_j), then loss_grad(query, theta_k), then
// hvp(support, theta_j) on the same instance. The HVP needs the activations and the
// loss gradients wrt every layer's pre-activation at (support, theta_j): exactly what
// the first loss_grad computed. DenseNetwork keeps them per slot with this key, a
// bitwise copy of everything they depend on (parameters, n, inputs, targets). Callers
// reuse their buffers with new contents, so the key compares contents, never pointers;
// at MLP sizes the copy and compare (memcpy / memcmp) cost far less than the forward
// pass and the gradient chain they save.

/// A bitwise copy of one call's inputs (parameters and batch), valid or not.
struct DenseForwardKey {
    private(set) var valid = false
    private var n = 0
    private let parameterCount: Int, inputCount: Int, outputCount: Int
    private let usesLabels: Bool                      // CE: labels are the target; MSE: y
    private let params: UnsafeMutablePointer<Float>
    private var capacity = 0
    private var x: UnsafeMutablePointer<Float>
    private var y: UnsafeMutablePointer<Float>        // MSE targets
    private var labels: UnsafeMutablePointer<Int32>   // CE labels

    init(parameterCount: Int, inputCount: Int, outputCount: Int, usesLabels: Bool) {
        self.parameterCount = parameterCount; self.inputCount = inputCount; self.outputCount = outputCount
        self.usesLabels = usesLabels
        params = .allocate(capacity: parameterCount)
        x = .allocate(capacity: 1); y = .allocate(capacity: 1); labels = .allocate(capacity: 1)
    }

    /// Frees the copies (called from the owner's deinit).
    func deallocate() {
        params.deallocate(); x.deallocate(); y.deallocate(); labels.deallocate()
    }

    /// Forgets the key: the slot's contents are about to be overwritten.
    mutating func invalidate() { valid = false }

    /// Records (params, batch) as the inputs of the slot's contents (left invalid if the
    /// batch lacks the loss's target: nothing computed from it is worth reusing).
    mutating func store(_ p: UnsafePointer<Float>, _ batch: PluginBatch) {
        valid = false
        let n = batch.n
        guard usesLabels ? batch.yClass != nil : batch.yFloat != nil else { return }
        if n > capacity {
            x.deallocate(); y.deallocate(); labels.deallocate()
            x = .allocate(capacity: n * inputCount); y = .allocate(capacity: n * outputCount)
            labels = .allocate(capacity: n)
            capacity = n
        }
        self.n = n
        params.update(from: p, count: parameterCount)
        x.update(from: batch.x, count: n * inputCount)
        if usesLabels { labels.update(from: batch.yClass!, count: n) } else { y.update(from: batch.yFloat!, count: n * outputCount) }
        valid = true
    }

    /// True if the key is valid and (params, batch) are bitwise what it recorded (only the
    /// loss's own target is compared: the other one is never read).
    func matches(_ p: UnsafePointer<Float>, _ batch: PluginBatch) -> Bool {
        guard valid, batch.n == n, same(batch.x, x, n * inputCount) else { return false }
        if usesLabels {
            guard let yc = batch.yClass, same(yc, labels, n) else { return false }
        } else {
            guard let yf = batch.yFloat, same(yf, y, n * outputCount) else { return false }
        }
        return same(p, params, parameterCount)
    }

    @inline(__always)
    private func same<T>(_ a: UnsafePointer<T>, _ b: UnsafeMutablePointer<T>, _ count: Int) -> Bool {
        memcmp(a, b, count * MemoryLayout<T>.stride) == 0
    }
}
