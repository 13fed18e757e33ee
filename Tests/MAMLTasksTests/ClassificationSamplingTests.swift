// MARK: - N-way K-shot sampling: counts, layout, pools, labels, determinism

import Testing
import MAMLCore
import MAMLTasks

/// Examples are two floats: (class id, stored example index or a generated draw counter).
struct TaggedSource: ClassExampleSource {
    var splits = ClassSplits(train: 30, validation: 10, test: 12)
    var stored: Int? = 20
    var exampleElements: Int { 2 }
    func classPool(_ split: TaskSplit) -> Range<Int> { splits.range(split) }
    var storedExamplesPerClass: Int? { stored }
    func writeExample(classID: Int, example: Int, rng: inout RandomGenerator, into x: UnsafeMutablePointer<Float>) {
        x[0] = Float(classID)
        x[1] = stored == nil ? Float(rng.int(below: 1_000_000)) : Float(example)
    }
}

/// A drawn task as plain arrays: (class, example, label) per support and query example.
struct DrawnTask: Equatable {
    var support: [[Int]] = []
    var query: [[Int]] = []
}

func draw(_ source: TaggedSource, ways: Int, split: TaskSplit, k: Int, q: Int, seed: UInt64) throws -> DrawnTask {
    let sampler = NWayKShot(ways: ways)
    let task = TaskBuffer(inputElements: 2, outputElements: ways, lossKind: .softmaxCrossEntropy,
                          supportCapacity: sampler.exampleCount(shots: k), queryCapacity: sampler.exampleCount(shots: q))
    var rng = RandomGenerator(seed: seed)
    try sampler.sample(from: source, family: "tagged", split: split, supportShots: k, queryShots: q, rng: &rng, into: task)
    var out = DrawnTask()
    for e in 0..<task.supportCount {
        out.support.append([Int(task.supportX[2 * e]), Int(task.supportX[2 * e + 1]), Int(task.supportLabels![e])])
    }
    for e in 0..<task.queryCount {
        out.query.append([Int(task.queryX[2 * e]), Int(task.queryX[2 * e + 1]), Int(task.queryLabels![e])])
    }
    return out
}

@Suite struct ClassificationSamplingTests {
    @Test func countsLayoutPoolsAndDistinctStoredExamples() throws {
        let source = TaggedSource()
        for split in TaskSplit.allCases {
            for seed in UInt64(0)..<20 {
                let t = try draw(source, ways: 5, split: split, k: 3, q: 4, seed: seed)
                #expect(t.support.count == 15 && t.query.count == 20)
                // Interleaved, shot-major: example e has label e % N.
                for (e, s) in t.support.enumerated() { #expect(s[2] == e % 5) }
                for (e, s) in t.query.enumerated() { #expect(s[2] == e % 5) }
                // One class per label, N distinct classes, all from the split's pool.
                var classOfLabel: [Int: Int] = [:]
                for s in t.support + t.query {
                    if let c = classOfLabel[s[2]] { #expect(c == s[0]) } else { classOfLabel[s[2]] = s[0] }
                }
                #expect(Set(classOfLabel.values).count == 5)
                #expect(classOfLabel.values.allSatisfy { source.classPool(split).contains($0) })
                // Support and query examples of a class are distinct stored examples.
                for l in 0..<5 {
                    let examples = (t.support + t.query).filter { $0[2] == l }.map { $0[1] }
                    #expect(Set(examples).count == 7 && examples.allSatisfy { (0..<20).contains($0) })
                }
            }
        }
    }

    @Test func labelsAreShuffledAcrossTasks() throws {
        // With a 5-class pool every task has the same classes; their labels must vary.
        let source = TaggedSource(splits: ClassSplits(train: 5, validation: 5, test: 5))
        var labelsOfClass0 = Set<Int>(), orders = Set<[Int]>()
        for seed in UInt64(0)..<60 {
            let t = try draw(source, ways: 5, split: .train, k: 1, q: 1, seed: seed)
            orders.insert(t.support.map { $0[0] })
            labelsOfClass0.insert(t.support.first { $0[0] == 0 }![2])
        }
        #expect(labelsOfClass0 == Set(0..<5))
        #expect(orders.count > 30, "only \(orders.count) class orders in 60 tasks (120 possible)")
    }

    @Test func deterministicAndSupportIsAPrefixAcrossK() throws {
        for stored in [20, nil] as [Int?] {
            let source = TaggedSource(stored: stored)
            let a = try draw(source, ways: 5, split: .test, k: 5, q: 3, seed: 7)
            #expect(try draw(source, ways: 5, split: .test, k: 5, q: 3, seed: 7) == a)
            #expect(try draw(source, ways: 5, split: .test, k: 5, q: 3, seed: 8) != a)
            let small = try draw(source, ways: 5, split: .test, k: 1, q: 3, seed: 7)
            #expect(small.query == a.query)
            #expect(small.support == Array(a.support.prefix(5)))
        }
    }

    @Test func errorsNameTheProblem() throws {
        let source = TaggedSource(splits: ClassSplits(train: 10, validation: 3, test: 10))
        #expect(throws: MAMLError.invalidConfig("tagged: the validation split has 3 classes, 5-way tasks need at least 5")) {
            _ = try draw(source, ways: 5, split: .validation, k: 1, q: 1, seed: 0)
        }
        #expect(throws: MAMLError.invalidConfig("tagged: a task needs 21 distinct examples per class "
            + "(5 support + 16 query shots), class 0 in the train split has 20")) {
            _ = try draw(source, ways: 5, split: .train, k: 5, q: 16, seed: 0)
        }
        // A buffer for float targets is refused.
        let mse = TaskBuffer(inputElements: 2, outputElements: 5, lossKind: .mse, supportCapacity: 5, queryCapacity: 5)
        var rng = RandomGenerator(seed: 0)
        #expect(throws: MAMLError.self) {
            try NWayKShot(ways: 5).sample(from: source, family: "tagged", split: .train, supportShots: 1,
                                          queryShots: 1, rng: &rng, into: mse)
        }
    }

    @Test func omniglotProportionsGiveEverySplitEnoughClasses() {
        #expect(ClassSplits.omniglotProportions(classes: 1623, ways: 5) == ClassSplits(train: 1200, validation: 100, test: 323))
        for ways in 2...20 {
            for classes in (3 * ways)...(3 * ways + 200) {
                let s = ClassSplits.omniglotProportions(classes: classes, ways: ways)
                #expect(s.train >= ways && s.validation >= ways && s.test >= ways && s.train + s.validation + s.test == classes)
            }
        }
        let s = ClassSplits(train: 4, validation: 2, test: 3)
        #expect(s.range(.train) == 0..<4 && s.range(.validation) == 4..<6 && s.range(.test) == 6..<9)
    }
}
