// MARK: - Processes that share the tasks of a meta-batch
//
// With `mpirun -np N` (docs/scale-out.md) N processes, the ranks, each compute a
// contiguous share of a meta-batch's tasks (and of evaluation tasks) on their own
// threads, then exchange the per-task results so that every rank holds all of
// them and reduces them in task order, exactly as one process does. The sum is
// therefore defined over tasks, not over ranks: the parameters are bit-identical
// for any N (an all-reduce would add in an order that depends on N). The core
// knows the group only through this protocol; the MPI implementation is the
// host's (maml-host, trait MPI).

/// A fixed set of processes that run the same computation and exchange per-task results.
/// Every rank must make the same calls in the same order (they are collective).
public protocol TaskGroup: AnyObject {
    /// This process's index, 0..<size; rank 0 writes checkpoints, logs and progress.
    var rank: Int { get }
    var size: Int { get }
    /// In-place all-gather of blocks of `blockLength` values: rank r's blocks are
    /// `shares[r]`, and every rank ends with every block.
    func allGather(_ buffer: UnsafeMutablePointer<Float>, blockLength: Int, shares: [Range<Int>]) throws(MAMLError)
    func allGather(_ buffer: UnsafeMutablePointer<Double>, blockLength: Int, shares: [Range<Int>]) throws(MAMLError)
    /// `bytes` (any length) from `root` to every rank; the others' `bytes` are replaced.
    func broadcast(_ bytes: inout [UInt8], from root: Int) throws(MAMLError)
    /// The largest `value` over the ranks.
    func maximum(_ value: Int) throws(MAMLError) -> Int
}

extension TaskGroup {
    /// Each rank's contiguous share of `count` items: rank r gets count*r/size ..< count*(r+1)/size
    /// (the shares differ in length by at most one; a rank may get none).
    public func shares(of count: Int) -> [Range<Int>] {
        (0..<size).map { r in count * r / size ..< count * (r + 1) / size }
    }
}

/// The items this process computes: its share under `group`, or all of them.
func localShare(of count: Int, group: (any TaskGroup)?) -> Range<Int> {
    group.map { $0.shares(of: count)[$0.rank] } ?? 0..<count
}

// MARK: - Agreeing on the first failing task

/// Every rank throws the same error: the one of the lowest failing task over all ranks (what
/// one process throws, since each rank runs its tasks in increasing order and stops at its
/// first failure). `local` is this rank's lowest failing task and its error, if any.
func throwFirstAcrossRanks(_ local: (task: Int, error: MAMLError)?, group: (any TaskGroup)?) throws(MAMLError) {
    guard let group, group.size > 1 else {
        if let local { throw local.error }
        return
    }
    // The lowest failing task, as the maximum of its negation (one small all-reduce).
    let none = Int.min + 1
    let first = -(try group.maximum(local.map { -$0.task } ?? none))
    guard first != -none else { return }
    // The rank that owns it (the one whose own lowest failure it is) sends its error to the others.
    let owner = try group.maximum(local?.task == first ? group.rank : -1)
    var bytes = group.rank == owner ? Array(local!.error.wireText.utf8) : []
    try group.broadcast(&bytes, from: owner)
    throw MAMLError(wireText: String(decoding: bytes, as: UTF8.self))
}
