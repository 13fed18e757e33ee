// MARK: - One backbone instance per worker thread
//
// A backbone instance is used by one thread at a time, so N workers need N
// instances: the caller's, plus N - 1 replicas made by `makeReplica()`. A
// replica that reports another geometry would silently compute something else,
// so each one is checked against the original.

/// Throws `.invalidConfig` unless `threads` is at least 1.
func checkThreads(_ threads: Int) throws(MAMLError) {
    guard threads >= 1 else { throw .invalidConfig("threads = \(threads), expected at least 1") }
}

/// `backbone` followed by `count - 1` checked replicas of it.
func backboneInstances(_ backbone: any Backbone, count: Int) throws(MAMLError) -> [any Backbone] {
    var instances: [any Backbone] = [backbone]
    for w in 1..<max(count, 1) {
        let replica: any Backbone
        do {
            replica = try backbone.makeReplica()
        } catch {
            throw .backbone(error, context: "another instance of the model for worker thread \(w) of \(count)")
        }
        guard replica.parameterCount == backbone.parameterCount, replica.inputShape == backbone.inputShape,
              replica.outputShape == backbone.outputShape, replica.lossKind == backbone.lossKind,
              replica.providesHVP == backbone.providesHVP, replica.providesVJP == backbone.providesVJP,
              replica !== backbone else {
            throw .incompatible("the model's replica for worker thread \(w) differs from the original "
                + "(\(replica.parameterCount) parameters, input \(replica.inputShape), output \(replica.outputShape), "
                + "exact HVP \(replica.providesHVP), VJP \(replica.providesVJP); the original: \(backbone.parameterCount), "
                + "\(backbone.inputShape), \(backbone.outputShape), \(backbone.providesHVP), \(backbone.providesVJP)) "
                + "or is the same instance")
        }
        instances.append(replica)
    }
    return instances
}

// MARK: - Errors from a parallel loop

/// The first error of a loop over tasks, by task index: the one a sequential loop would
/// have stopped at (WorkerPool claims tasks in increasing order), so the reported error does
/// not depend on the thread count. One per worker, written only by that worker.
final class TaskErrorSlot {
    private(set) var task = Int.max
    private(set) var error: MAMLError?

    func record(_ error: MAMLError, task: Int) {
        if task < self.task { self.task = task; self.error = error }
    }

    func reset() { task = .max; error = nil }

    /// Throws the error of the lowest task index among `slots` (and clears them all).
    static func throwFirst(_ slots: [TaskErrorSlot]) throws(MAMLError) {
        if let first = takeFirst(slots) { throw first.error }
    }

    /// The lowest task index among `slots` with its error, if any (and clears them all).
    static func takeFirst(_ slots: [TaskErrorSlot]) -> (task: Int, error: MAMLError)? {
        let first = slots.min { $0.task < $1.task }
        let found = first.flatMap { slot in slot.error.map { (slot.task, $0) } }
        for slot in slots { slot.reset() }
        return found
    }
}
