// MARK: - Buffer sizes a configuration asks for, checked before allocating
//
// Counts from command lines, configs and checkpoint headers (meta-batch, shots, inner
// steps, evaluation tasks) multiply with the model's parameter count and the family's
// example size into buffer lengths. A mistyped or crafted value must be refused with a
// message naming it, not overflow Int (a trap) or ask the allocator for terabytes (an
// abort): the fuzzed checkpoint reader found exactly that (docs/fuzzing.md).

/// The most any one count may be (meta-batch, shots per task or class, evaluation tasks).
let maxCount = 1_000_000

/// The largest buffer, in Floats, a configuration may ask for: 2^31 (8 GiB).
let maxBufferFloats = 1 << 31

/// Throws `.invalidConfig` unless `value` is in 1...maxCount (0...maxCount with `allowZero`).
func checkCount(_ key: String, _ value: Int, allowZero: Bool = false) throws(MAMLError) {
    guard value >= (allowZero ? 0 : 1) && value <= maxCount else {
        throw .invalidConfig("\(key) = \(value), expected \(allowZero ? 0 : 1)...\(maxCount)")
    }
}

/// The product of `factors` if it is at most maxBufferFloats; otherwise `.invalidConfig` naming
/// the buffer and each factor.
@discardableResult
func checkBuffer(_ what: String, _ factors: KeyValuePairs<String, Int>) throws(MAMLError) -> Int {
    var product = 1, overflow = false
    for (_, f) in factors {
        let (p, o) = product.multipliedReportingOverflow(by: max(f, 0))
        product = p; overflow = overflow || o
    }
    guard !overflow && product <= maxBufferFloats else {
        let terms = factors.map { "\($0.key) \($0.value)" }.joined(separator: " x ")
        throw .invalidConfig("\(what) would need \(terms) floats, more than the limit of \(maxBufferFloats) (8 GiB)")
    }
    return product
}

/// Refuses shot counts whose task buffer (support or query set) would exceed the limit.
func checkTaskBuffers(family: any TaskFamily, supportShots: Int, queryShots: Int) throws(MAMLError) {
    for (what, shots) in [("support", supportShots), ("query", queryShots)] {
        // exampleCount is ways * shots for N-way families: shots are bounded by maxCount first.
        try checkBuffer("the \(what) set of a task", ["examples": family.exampleCount(shots: shots),
                                            "floats per example": family.inputElements + family.outputElements])
    }
}
