// MARK: - Task families and the task buffer
//
// A task family draws tasks (a support set and a query set of examples from one
// task) into a TaskBuffer that the caller allocated once for the largest sizes
// it will ask for. Sampling is a pure function of the generator passed in, so a
// task is fixed by (seed, stream, iteration, task index); see RNG.swift.
//
// Sizes are given in *shots*: for regression a shot is one example; for N-way
// classification it is one example of each of the N classes, so K shots are
// N * K examples (`exampleCount(shots:)`).

/// Which pool tasks come from. Families with a finite set of classes keep the
/// pools disjoint; for continuous families (sinusoid) the stream alone separates them.
public enum TaskSplit: String, Sendable, CaseIterable {
    case train, validation, test
}

/// A distribution over tasks (sinusoid regression now; images and sequences later).
public protocol TaskFamily: Sendable {
    /// Short name used in configs and checkpoints ("sinusoid").
    var name: String { get }
    /// The family's configuration as a JSON object string (stored in checkpoints).
    var configJSON: String { get }
    /// Shape of one example's input and of the model output it needs.
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    /// The loss the family's targets are made for.
    var lossKind: LossKind { get }
    /// Number of examples in a set of `shots` shots (shots for regression, N * shots for N-way).
    func exampleCount(shots: Int) -> Int
    /// Draws one task from `split` with the given support and query sizes (in shots) into `task`,
    /// using only `rng`; must not allocate.
    func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError)
    /// What loading the family's data did or found that the user should hear once (a cache
    /// built, files skipped); empty for most families.
    var loadNotes: [String] { get }
}

public extension TaskFamily {
    var loadNotes: [String] { [] }
    var inputElements: Int { inputShape.reduce(1, *) }
    var outputElements: Int { outputShape.reduce(1, *) }
}

// MARK: - TaskBuffer

/// Preallocated storage for one task: support examples followed directly by query examples,
/// so `all` (support + query) is one contiguous batch. Used by one thread at a time.
public final class TaskBuffer {
    public let inputElements: Int
    public let outputElements: Int
    public let lossKind: LossKind
    /// Capacity in examples.
    public let supportCapacity: Int
    public let queryCapacity: Int
    /// Examples currently held (set by `prepare`).
    public private(set) var supportCount = 0
    public private(set) var queryCount = 0

    private let xStorage: UnsafeMutablePointer<Float>
    private let yStorage: UnsafeMutablePointer<Float>?
    private let labelStorage: UnsafeMutablePointer<Int32>?

    /// A buffer for up to `supportCapacity` + `queryCapacity` examples of the given shapes.
    public init(inputElements: Int, outputElements: Int, lossKind: LossKind,
                supportCapacity: Int, queryCapacity: Int) {
        self.inputElements = inputElements; self.outputElements = outputElements
        self.lossKind = lossKind
        self.supportCapacity = supportCapacity; self.queryCapacity = queryCapacity
        let n = max(supportCapacity + queryCapacity, 1)
        xStorage = .allocate(capacity: n * max(inputElements, 1))
        xStorage.initialize(repeating: 0, count: n * max(inputElements, 1))
        switch lossKind {
        case .mse:
            yStorage = .allocate(capacity: n * max(outputElements, 1))
            yStorage!.initialize(repeating: 0, count: n * max(outputElements, 1))
            labelStorage = nil
        case .softmaxCrossEntropy:
            yStorage = nil
            labelStorage = .allocate(capacity: n)
            labelStorage!.initialize(repeating: 0, count: n)
        }
    }

    /// A buffer sized for `family` with the given support and query sizes in shots.
    public convenience init(family: any TaskFamily, supportShots: Int, queryShots: Int) {
        self.init(inputElements: family.inputElements, outputElements: family.outputElements,
                  lossKind: family.lossKind,
                  supportCapacity: family.exampleCount(shots: supportShots),
                  queryCapacity: family.exampleCount(shots: queryShots))
    }

    deinit {
        xStorage.deallocate(); yStorage?.deallocate(); labelStorage?.deallocate()
    }

    /// Sets the sizes for the next task (called by a family's `sample`); fails if over capacity.
    public func prepare(support: Int, query: Int) throws(MAMLError) {
        guard support >= 0, query >= 0, support <= supportCapacity, query <= queryCapacity else {
            throw .invalidConfig("task of \(support) support + \(query) query examples does not fit a buffer "
                + "for \(supportCapacity) + \(queryCapacity)")
        }
        supportCount = support; queryCount = query
    }

    // MARK: Views for the family to fill

    public var supportX: UnsafeMutablePointer<Float> { xStorage }
    public var queryX: UnsafeMutablePointer<Float> { xStorage + supportCount * inputElements }
    /// Float targets (MSE families only).
    public var supportY: UnsafeMutablePointer<Float>? { yStorage }
    public var queryY: UnsafeMutablePointer<Float>? { yStorage.map { $0 + supportCount * outputElements } }
    /// Class labels (classification families only).
    public var supportLabels: UnsafeMutablePointer<Int32>? { labelStorage }
    public var queryLabels: UnsafeMutablePointer<Int32>? { labelStorage.map { $0 + supportCount } }

    // MARK: Batches for the backbone

    public var support: Batch {
        Batch(n: supportCount, x: UnsafePointer(supportX), yFloat: supportY.map { UnsafePointer($0) },
              yClass: supportLabels.map { UnsafePointer($0) })
    }
    public var query: Batch {
        Batch(n: queryCount, x: UnsafePointer(queryX), yFloat: queryY.map { UnsafePointer($0) },
              yClass: queryLabels.map { UnsafePointer($0) })
    }
    /// Support and query together (the pretraining baseline trains on both).
    public var all: Batch {
        Batch(n: supportCount + queryCount, x: UnsafePointer(xStorage), yFloat: yStorage.map { UnsafePointer($0) },
              yClass: labelStorage.map { UnsafePointer($0) })
    }
}
