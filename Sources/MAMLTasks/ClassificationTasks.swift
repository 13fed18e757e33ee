// MARK: - N-way K-shot classification tasks
//
// Shared by every image classification family (glyphs, omniglot, image-folder). A family
// is a `ClassExampleSource`: disjoint class pools per split plus a way to write
// one example of a class. `NWayKShot` turns that into tasks:
//
// Draw order per task (all from the task's generator `rng`):
//   1. N distinct classes from the split's pool, by rejection: draw uniformly,
//      redraw if already taken. Label l is the class drawn l-th; because the
//      draws are an ordered uniform sample, the class -> label assignment is a
//      uniformly random permutation per task (label shuffling).
//   2. For each label l in order: one word from `rng` seeds the class's own
//      generator g_l. From g_l come first the Q query examples, then the K
//      support examples. Stored sources (omniglot, image-folder) pick distinct
//      stored examples of the class (its own count: classes may differ) by a
//      partial Fisher-Yates shuffle (query first, support next); generated
//      sources (glyphs) draw fresh examples from g_l.
// So for a fixed query size, the same generator gives the same classes and query
// set for every K, and K support shots are a prefix of any larger K's (as for
// sinusoids; the evaluator relies on this to compare K on the same tasks).
//
// Layout: interleaved, shot-major. Support example s * N + l is shot s of label l
// (labels 0, 1, ..., N-1, 0, 1, ...); the query set likewise with Q shots.

/// A labelled data source for N-way classification: disjoint class pools per split and examples of a class.
import MAMLCore
public protocol ClassExampleSource: Sendable {
    /// Floats in one example.
    var exampleElements: Int { get }
    /// The class ids of `split` (the three pools are disjoint ranges).
    func classPool(_ split: TaskSplit) -> Range<Int>
    /// Distinct stored examples that every class has at least, or nil if examples are generated (unlimited).
    var storedExamplesPerClass: Int? { get }
    /// Distinct stored examples of `classID` (at least storedExamplesPerClass; nil when generated).
    func storedExampleCount(classID: Int) -> Int?
    /// The class's name for messages ("class 17" unless the source knows better).
    func className(_ classID: Int) -> String
    /// Writes one example of `classID` into `x`: stored example number `example` for stored sources,
    /// a fresh example drawn from `rng` for generated ones. Must not allocate.
    func writeExample(classID: Int, example: Int, rng: inout RandomGenerator, into x: UnsafeMutablePointer<Float>)
}

public extension ClassExampleSource {
    func storedExampleCount(classID: Int) -> Int? { storedExamplesPerClass }
    func className(_ classID: Int) -> String { "class \(classID)" }
}

/// A square-image N-way classification family: everything TaskFamily needs follows
/// from the image size, the number of ways and the source of examples.
public protocol SquareImageClassification: TaskFamily, ClassExampleSource {
    /// Side of the square images.
    var imageSize: Int { get }
    /// Colour channels (1 grey, 3 RGB).
    var channels: Int { get }
    /// Classes per task (N).
    var ways: Int { get }
}

public extension SquareImageClassification {
    var channels: Int { 1 }
    var inputShape: [Int] { [channels, imageSize, imageSize] }
    var outputShape: [Int] { [ways] }
    var lossKind: LossKind { .softmaxCrossEntropy }
    var exampleElements: Int { channels * imageSize * imageSize }
    func exampleCount(shots: Int) -> Int { NWayKShot(ways: ways).exampleCount(shots: shots) }
    func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        try NWayKShot(ways: ways).sample(from: self, family: name, split: split, supportShots: supportShots,
                                         queryShots: queryShots, rng: &rng, into: task)
    }
}

/// N-way K-shot task sampling (see the file comment for the draw order and layout).
public struct NWayKShot: Sendable, Equatable {
    /// Classes per task (N); the model's output shape is [N].
    public let ways: Int

    public init(ways: Int) { self.ways = ways }

    /// Examples in `shots` shots: N * shots.
    public func exampleCount(shots: Int) -> Int { ways * shots }

    /// Draws one task from `source`'s `split` pool into `task`; `family` names the family in errors.
    public func sample<S: ClassExampleSource>(from source: S, family: String, split: TaskSplit,
                                              supportShots: Int, queryShots: Int,
                                              rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        let n = ways, d = source.exampleElements
        let pool = source.classPool(split)
        guard pool.count >= n else {
            throw .invalidConfig("\(family): the \(split.rawValue) split has \(pool.count) classes, "
                + "\(n)-way tasks need at least \(n)")
        }
        guard supportShots >= 0, queryShots >= 0 else {
            throw .invalidConfig("\(family): shots must be >= 0, got \(supportShots) support, \(queryShots) query")
        }
        let picks = queryShots + supportShots
        if let fewest = source.storedExamplesPerClass, picks > fewest,
           let small = pool.first(where: { (source.storedExampleCount(classID: $0) ?? picks) < picks }) {
            throw .invalidConfig("\(family): a task needs \(picks) distinct examples per class "
                + "(\(supportShots) support + \(queryShots) query shots), \(source.className(small)) in the "
                + "\(split.rawValue) split has \(source.storedExampleCount(classID: small) ?? 0)")
        }
        guard task.lossKind == .softmaxCrossEntropy else {
            throw .incompatible("\(family) tasks need class labels (softmax cross-entropy), the task buffer holds floats")
        }
        guard task.inputElements == d else {
            throw .incompatible("\(family) examples have \(d) floats, the task buffer holds \(task.inputElements)")
        }
        try task.prepare(support: n * supportShots, query: n * queryShots)
        // The query views start after the support set: take them only after `prepare`.
        let supportX = task.supportX, queryX = task.queryX
        let supportLabels = task.supportLabels!, queryLabels = task.queryLabels!

        // Scratch on the stack: the drawn classes, then a stored-example permutation.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { scratch in
            let classes = scratch.baseAddress!
            var mostStored = 0
            for l in 0..<n {
                var c: Int
                repeat { c = pool.lowerBound + rng.int(below: pool.count) } while Self.contains(classes, l, c)
                classes[l] = c
                mostStored = max(mostStored, source.storedExampleCount(classID: c) ?? 0)
            }
            withUnsafeTemporaryAllocation(of: Int.self, capacity: mostStored) { orderBuffer in
                let order = orderBuffer.baseAddress
                for l in 0..<n {
                    var g = RandomGenerator(seed: rng.next())
                    let storedCount = source.storedExampleCount(classID: classes[l]) ?? 0
                    if storedCount > 0, let order {
                        for i in 0..<storedCount { order[i] = i }
                        for i in 0..<picks {
                            let j = i + g.int(below: storedCount - i)
                            let t = order[i]; order[i] = order[j]; order[j] = t
                        }
                    }
                    for j in 0..<queryShots {
                        let e = j * n + l
                        source.writeExample(classID: classes[l], example: storedCount > 0 ? order![j] : j,
                                            rng: &g, into: queryX + e * d)
                        queryLabels[e] = Int32(l)
                    }
                    for s in 0..<supportShots {
                        let e = s * n + l
                        source.writeExample(classID: classes[l], example: storedCount > 0 ? order![queryShots + s] : s,
                                            rng: &g, into: supportX + e * d)
                        supportLabels[e] = Int32(l)
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func contains(_ a: UnsafeMutablePointer<Int>, _ count: Int, _ value: Int) -> Bool {
        for i in 0..<count where a[i] == value { return true }
        return false
    }
}

// MARK: - Split sizes

/// Class pools as consecutive ranges: [0, train) train, then validation, then test.
public struct ClassSplits: Sendable, Equatable {
    public var train: Int
    public var validation: Int
    public var test: Int

    public init(train: Int, validation: Int, test: Int) {
        self.train = train; self.validation = validation; self.test = test
    }

    /// Omniglot's proportions (1200 / 100 / 323 of 1623) for `classes` classes, each pool at least `ways`:
    /// validation = max(ways, round(classes * 100 / 1623)), test = max(ways, round(classes * 323 / 1623)),
    /// train = the rest (>= ways whenever classes >= 3 * ways).
    public static func omniglotProportions(classes: Int, ways: Int) -> ClassSplits {
        let validation = max(ways, (classes * 100 + 811) / 1623)
        let test = max(ways, (classes * 323 + 811) / 1623)
        return ClassSplits(train: classes - validation - test, validation: validation, test: test)
    }

    /// The class ids of `split`.
    public func range(_ split: TaskSplit) -> Range<Int> {
        switch split {
        case .train: return 0..<train
        case .validation: return train..<(train + validation)
        case .test: return (train + validation)..<(train + validation + test)
        }
    }
}
