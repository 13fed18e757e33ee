// MARK: - Prototypical Networks (Snell, Swersky, Zemel 2017)
//
// The backbone embeds: f(x) is its output vector (D floats). A task's prototypes are
// the mean embeddings of each class's support examples, c_n = mean{f(s) : y_s = n};
// a query q scores -||f(q) - c_n||^2 for class n and the loss is the softmax
// cross-entropy of those scores, averaged over the query set. The host computes the
// loss and its gradient with respect to every embedding,
//   with P = softmax(scores) - onehot(y), divided by the query count:
//   d/df(q)  = sum_n P[q,n] * -2 (f(q) - c_n)
//   d/dc_n   = sum_q P[q,n] *  2 (f(q) - c_n),   d/df(s) = d/dc_{y_s} / |class y_s|
// and the plugin's "maml.vjp/1" turns those into d/dtheta (one VJP per set). No inner
// loop: "adaptation" is computing the prototypes, so evaluation has no steps.

#if canImport(Glibc)
import Glibc
#endif

/// One worker's buffers for prototype computations, grown to the largest task seen.
final class PrototypeBuffers {
    private(set) var support = FloatBuffer(0), query = FloatBuffer(0)
    private(set) var dSupport = FloatBuffer(0), dQuery = FloatBuffer(0)
    private(set) var prototypes = FloatBuffer(0), gradient = FloatBuffer(0)
    /// Per-class counts, one query's scores, and d loss / d prototypes (Double accumulators).
    var counts: [Int] = [], scores: [Double] = [], dPrototypes: [Double] = []

    func reserve(support s: Int, query q: Int, dimensions d: Int, ways: Int, parameters p: Int) {
        if support.count < s * d { support = FloatBuffer(s * d); dSupport = FloatBuffer(s * d) }
        if query.count < q * d { query = FloatBuffer(q * d); dQuery = FloatBuffer(q * d) }
        if prototypes.count < ways * d { prototypes = FloatBuffer(ways * d) }
        if gradient.count < p { gradient = FloatBuffer(p) }
        if counts.count < ways { counts = [Int](repeating: 0, count: ways); scores = [Double](repeating: 0, count: ways) }
        if dPrototypes.count < ways * d { dPrototypes = [Double](repeating: 0, count: ways * d) }
    }
}

/// The prototype loss and accuracy of one task from its embeddings; with `gradients`, also
/// d loss / d embedding for both sets into the buffers' dSupport and dQuery. Throws on a
/// class without support examples or a label outside 0..<ways.
func prototypeLoss(_ b: PrototypeBuffers, supportLabels: UnsafePointer<Int32>, supportCount ns: Int,
                   queryLabels: UnsafePointer<Int32>, queryCount nq: Int, dimensions d: Int, ways: Int,
                   gradients: Bool) throws(TaskFault) -> (loss: Double, accuracy: Double) {
    let es = b.support.base, eq = b.query.base, c = b.prototypes.base
    for n in 0..<ways { b.counts[n] = 0 }
    c.update(repeating: 0, count: ways * d)
    for s in 0..<ns {
        let y = Int(supportLabels[s])
        guard y >= 0 && y < ways else {
            throw .backbone(BackboneError(.invalidArgument, "support label \(y) outside 0..<\(ways)"), "prototypes")
        }
        b.counts[y] += 1
        for k in 0..<d { c[y * d + k] += es[s * d + k] }
    }
    for n in 0..<ways {
        guard b.counts[n] > 0 else {
            throw .backbone(BackboneError(.invalidArgument, "class \(n) has no support example"), "prototypes")
        }
        let inv = 1 / Float(b.counts[n])
        for k in 0..<d { c[n * d + k] *= inv }
    }
    if gradients {
        b.dSupport.base.update(repeating: 0, count: ns * d)
        b.dQuery.base.update(repeating: 0, count: nq * d)
    }
    var loss = 0.0, correct = 0
    if gradients { for i in 0..<(ways * d) { b.dPrototypes[i] = 0 } }
    for q in 0..<nq {
        let y = Int(queryLabels[q])
        guard y >= 0 && y < ways else {
            throw .backbone(BackboneError(.invalidArgument, "query label \(y) outside 0..<\(ways)"), "prototypes")
        }
        var best = 0
        for n in 0..<ways {
            var dist = 0.0
            for k in 0..<d { let diff = Double(eq[q * d + k]) - Double(c[n * d + k]); dist += diff * diff }
            b.scores[n] = -dist
            if b.scores[n] > b.scores[best] { best = n }
        }
        if best == y { correct += 1 }
        let top = b.scores[best]
        var sum = 0.0
        for n in 0..<ways { sum += exp(b.scores[n] - top) }
        loss += (top + log(sum)) - b.scores[y]
        guard gradients else { continue }
        let dq = b.dQuery.base + q * d
        for n in 0..<ways {
            let p = exp(b.scores[n] - top) / sum - (n == y ? 1 : 0)
            let w = p / Double(nq)
            for k in 0..<d {
                let diff = Double(eq[q * d + k]) - Double(c[n * d + k])
                dq[k] += Float(-2 * w * diff)
                b.dPrototypes[n * d + k] += 2 * w * diff
            }
        }
    }
    if gradients {
        for s in 0..<ns {
            let y = Int(supportLabels[s]), ds = b.dSupport.base + s * d
            for k in 0..<d { ds[k] = Float(b.dPrototypes[y * d + k] / Double(b.counts[y])) }
        }
    }
    guard loss.isFinite else { throw .nonFinite("prototype loss (\(loss))") }
    return (loss / Double(nq), Double(correct) / Double(max(nq, 1)))
}

/// Embeddings of the support and query sets at `theta` into the buffers.
func embed(_ backbone: any Backbone, _ theta: UnsafePointer<Float>, _ task: TaskBuffer, _ b: PrototypeBuffers,
           dimensions d: Int) throws(TaskFault) {
    let n = backbone.parameterCount
    b.reserve(support: task.support.n, query: task.query.n, dimensions: d, ways: task.outputElements, parameters: n)
    for (batch, out) in [(task.support, b.support.base), (task.query, b.query.base)] {
        do {
            try backbone.forward(params: UnsafeBufferPointer(start: theta, count: n), batch: batch,
                                 output: UnsafeMutableBufferPointer(start: out, count: batch.n * d))
        } catch {
            throw .backbone(error, "embedding forward")
        }
        guard allFinite(out, count: batch.n * d) else { throw .nonFinite("embeddings") }
    }
}

extension MetaLearner {
    func protoNet(_ backbone: any Backbone, _ parameters: UnsafeBufferPointer<Float>, _ task: TaskBuffer,
                  _ ws: MetaWorkspace, _ output: UnsafeMutableBufferPointer<Float>) throws(TaskFault) -> Float {
        let n = ws.parameterCount, theta = parameters.baseAddress!, out = output.baseAddress!
        let d = backbone.outputShape.reduce(1, *), ways = task.outputElements
        let b = ws.prototypes
        Activity.mark(worker: ws.activitySlot, stage: .supportAndQuery)
        try embed(backbone, theta, task, b, dimensions: d)
        guard let ys = task.support.yClass, let yq = task.query.yClass else {
            throw .backbone(BackboneError(.invalidArgument, "protonet needs class labels"), "prototypes")
        }
        let (loss, _) = try prototypeLoss(b, supportLabels: ys, supportCount: task.support.n, queryLabels: yq,
                                          queryCount: task.query.n, dimensions: d, ways: ways, gradients: true)
        Activity.mark(worker: ws.activitySlot, stage: .query)
        for (index, (batch, upstream)) in [(task.support, b.dSupport.base), (task.query, b.dQuery.base)].enumerated() {
            let into = index == 0 ? out : b.gradient.base
            do {
                try backbone.vjp(params: parameters, batch: batch,
                                 outputGrad: UnsafeBufferPointer(start: upstream, count: batch.n * d),
                                 grad: UnsafeMutableBufferPointer(start: into, count: n))
            } catch {
                throw .backbone(error, index == 0 ? "support embedding VJP" : "query embedding VJP")
            }
        }
        let g = b.gradient.base
        for i in 0..<n { out[i] += g[i] }
        guard allFinite(out, count: n) else { throw .nonFinite("prototype gradient") }
        return Float(loss)
    }
}
