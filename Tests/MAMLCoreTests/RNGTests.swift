// MARK: - Counter-based randomness

import Testing
import MAMLCore

@Suite struct RNGTests {
    @Test func splitMix64MatchesTheReferenceSequence() {
        var g = SplitMix64(seed: 0)
        #expect([g.next(), g.next(), g.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    @Test func xoshiro256StarStarMatchesTheReferenceSequence() {
        // From the reference C implementation with state {1, 2, 3, 4}.
        var g = RandomGenerator(state: (1, 2, 3, 4))
        #expect([g.next(), g.next(), g.next(), g.next()] == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
    }

    @Test func derivedGeneratorsArePureFunctionsOfTheirCounters() {
        var a = RandomGenerator(seed: 42, stream: .metaTrain, iteration: 7, task: 3)
        var b = RandomGenerator(seed: 42, stream: .metaTrain, iteration: 7, task: 3)
        #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
    }

    @Test func everyCounterChangesTheStream() {
        func first(_ seed: UInt64, _ stream: RandomStream, _ it: Int, _ task: Int) -> [UInt64] {
            var g = RandomGenerator(seed: seed, stream: stream, iteration: it, task: task)
            return (0..<4).map { _ in g.next() }
        }
        let base = first(1, .metaTrain, 5, 2)
        let variants = [first(2, .metaTrain, 5, 2), first(1, .evaluation, 5, 2), first(1, .validation, 5, 2),
                        first(1, .metaTrain, 6, 2), first(1, .metaTrain, 5, 3),
                        first(1, .metaTrain, 2, 5)]          // swapped iteration and task
        for v in variants { #expect(v != base) }
        #expect(Set(variants.map { $0[0] }).count == variants.count)
    }

    @Test func trainingAndEvaluationStreamsDoNotShareGenerators() {
        // The first draw of every (iteration, task) in a block, per stream: no collisions across streams.
        var train = Set<UInt64>(), eval = Set<UInt64>()
        for it in 0..<50 {
            for t in 0..<20 {
                var a = RandomGenerator(seed: 9, stream: .metaTrain, iteration: it, task: t)
                var b = RandomGenerator(seed: 9, stream: .evaluation, iteration: it, task: t)
                train.insert(a.next()); eval.insert(b.next())
            }
        }
        #expect(train.count == 1000 && eval.count == 1000 && train.isDisjoint(with: eval))
    }

    @Test func uniformDrawsStayInRangeWithTheRightMean() {
        var g = RandomGenerator(seed: 3)
        var sum = 0.0
        for _ in 0..<20_000 {
            let x = g.uniform(Float(-5), Float(5))
            #expect(x >= -5 && x <= 5)
            sum += Double(x)
        }
        #expect(abs(sum / 20_000) < 0.1)          // std of the mean: 2.89 / sqrt(20000) = 0.02
        var d = 0.0
        for _ in 0..<20_000 {
            let u = g.unitDouble(); #expect(u >= 0 && u < 1); d += u
            let f = g.unitFloat(); #expect(f >= 0 && f < 1)
        }
        #expect(abs(d / 20_000 - 0.5) < 0.01)
    }

    @Test func integerDrawsCoverTheRangeEvenly() {
        var g = RandomGenerator(seed: 4)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<7000 { counts[g.int(below: 7)] += 1 }
        #expect(counts.allSatisfy { $0 > 850 && $0 < 1150 })
    }

    @Test func normalDrawsHaveUnitVariance() {
        var g = RandomGenerator(seed: 5)
        let xs = (0..<50_000).map { _ in g.normal() }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.03)
        #expect(xs.allSatisfy { $0.isFinite })
    }
}
