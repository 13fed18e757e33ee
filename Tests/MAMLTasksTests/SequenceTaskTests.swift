// MARK: - Sequence task families: sine-sequences and glyph-rows

import Testing
import Foundation   // cos
import MAMLCore
import MAMLTasks

/// All floats of a batch: inputs [n, inputs] and float targets [n, outputs].
func batchFloats(_ b: Batch, inputs: Int, outputs: Int) -> (x: [Float], y: [Float]) {
    (Array(UnsafeBufferPointer(start: b.x, count: b.n * inputs)), Array(UnsafeBufferPointer(start: b.yFloat!, count: b.n * outputs)))
}

@Suite struct SequenceTaskTests {
    /// Every window of a task is one sinusoid sampled every dt: s(t + dt) + s(t - dt) = 2 cos(w dt) s(t)
    /// with the same w for support and query; targets are the inputs shifted by one step.
    @Test func windowsAreNextValueSinusoidsWithOneFrequencyPerTask() throws {
        let family = try makeTaskFamily(name: "sine-sequences") as! SineSequenceTasks
        #expect(family.inputShape == [20, 1] && family.outputShape == [20, 1] && family.lossKind == .mse)
        let task = TaskBuffer(family: family, supportShots: 10, queryShots: 10)
        var frequencies: [Double] = []
        for t in 0..<100 {
            var rng = RandomGenerator(seed: 3, stream: .metaTrain, iteration: 0, task: t)
            try family.sample(split: .train, supportShots: 10, queryShots: 10, rng: &rng, into: task)
            let (x, y) = batchFloats(task.all, inputs: 20, outputs: 20)
            var ratios: [Double] = []
            for e in 0..<20 {
                let s = (0..<20).map { Double(x[e * 20 + $0]) } + [Double(y[e * 20 + 19])]
                for k in 1..<20 { #expect(y[e * 20 + k - 1] == x[e * 20 + k]) }
                #expect(s.allSatisfy { abs($0) <= 5 + 1e-5 })
                // Least-squares 2 cos(w dt) from the recurrence.
                var num = 0.0, den = 0.0
                for k in 1..<20 { num += (s[k + 1] + s[k - 1]) * s[k]; den += s[k] * s[k] }
                ratios.append(num / den)
            }
            let c = ratios.reduce(0, +) / 20
            #expect(ratios.allSatisfy { abs($0 - c) < 2e-3 }, "task \(t): \(ratios)")
            frequencies.append(acos(min(1, c / 2)) / 0.3)
        }
        #expect(frequencies.allSatisfy { $0 > 0.5 - 1e-2 && $0 < 2 + 1e-2 })
        #expect(frequencies.min()! < 0.6 && frequencies.max()! > 1.9)
    }

    @Test func sameGeneratorSameTaskAndLargerKExtendsTheSupport() throws {
        let family = SineSequenceTasks()
        let small = TaskBuffer(family: family, supportShots: 5, queryShots: 8)
        let large = TaskBuffer(family: family, supportShots: 12, queryShots: 8)
        let start = RandomGenerator(seed: 9, stream: .evaluation, iteration: 0, task: 2)
        var r1 = start, r2 = start
        try family.sample(split: .test, supportShots: 5, queryShots: 8, rng: &r1, into: small)
        try family.sample(split: .test, supportShots: 12, queryShots: 8, rng: &r2, into: large)
        let qa = batchFloats(small.query, inputs: 20, outputs: 20), qb = batchFloats(large.query, inputs: 20, outputs: 20)
        #expect(qa.x == qb.x && qa.y == qb.y)
        let sa = batchFloats(small.support, inputs: 20, outputs: 20), sb = batchFloats(large.support, inputs: 20, outputs: 20)
        #expect(Array(sb.x.prefix(100)) == sa.x && Array(sb.y.prefix(100)) == sa.y)
    }

    /// "predict": "last" gives the same windows with only the final next value as target.
    @Test func predictLastIsTheFinalTargetOfEvery() throws {
        let every = try makeTaskFamily(name: "sine-sequences", config: "{\"length\": 7}")
        let last = try makeTaskFamily(name: "sine-sequences", config: "{\"length\": 7, \"predict\": \"last\"}")
        #expect(last.inputShape == [7, 1] && last.outputShape == [1])
        let a = TaskBuffer(family: every, supportShots: 4, queryShots: 3), b = TaskBuffer(family: last, supportShots: 4, queryShots: 3)
        var r1 = RandomGenerator(seed: 1), r2 = RandomGenerator(seed: 1)
        try every.sample(split: .train, supportShots: 4, queryShots: 3, rng: &r1, into: a)
        try last.sample(split: .train, supportShots: 4, queryShots: 3, rng: &r2, into: b)
        let fa = batchFloats(a.all, inputs: 7, outputs: 7), fb = batchFloats(b.all, inputs: 7, outputs: 1)
        #expect(fa.x == fb.x)
        #expect((0..<7).map { fa.y[$0 * 7 + 6] } == fb.y)
    }

    @Test func configRoundTripsAndBadKeysAreNamed() throws {
        let family = try makeTaskFamily(name: "sine-sequences", config: "{\"length\": 5, \"frequency\": [1, 1.5], \"dt\": 0.25}")
        let again = try makeTaskFamily(name: "sine-sequences", config: family.configJSON) as! SineSequenceTasks
        #expect(again == family as! SineSequenceTasks)
        #expect(again.length == 5 && again.frequencyRange == 1...1.5 && again.dt == 0.25)
        for (json, words) in [("{\"lenght\": 5}", "lenght"), ("{\"predict\": \"all\"}", "predict"),
                              ("{\"length\": 0}", "length"), ("{\"dt\": -1}", "dt"), ("{\"phase\": [2, 1]}", "phase")] {
            do {
                _ = try makeTaskFamily(name: "sine-sequences", config: json)
                Issue.record("accepted \(json)")
            } catch {
                #expect("\(error)".contains(words), "\(json): \(error)")
            }
        }
    }

    /// glyph-rows is glyphs with each image as [rows, columns]: the same floats and labels.
    @Test func glyphRowsAreTheGlyphImagesRowByRow() throws {
        let config = "{\"ways\": 3, \"classes\": 60, \"size\": 12, \"seed\": 4}"
        let rows = try makeTaskFamily(name: "glyph-rows", config: config)
        let images = try makeTaskFamily(name: "glyphs", config: config)
        #expect(rows.inputShape == [12, 12] && rows.outputShape == [3] && rows.lossKind == .softmaxCrossEntropy)
        #expect(rows.configJSON == images.configJSON)
        let a = TaskBuffer(family: rows, supportShots: 2, queryShots: 3), b = TaskBuffer(family: images, supportShots: 2, queryShots: 3)
        for split in TaskSplit.allCases {
            var r1 = RandomGenerator(seed: 6), r2 = RandomGenerator(seed: 6)
            try rows.sample(split: split, supportShots: 2, queryShots: 3, rng: &r1, into: a)
            try images.sample(split: split, supportShots: 2, queryShots: 3, rng: &r2, into: b)
            let n = a.all.n
            #expect(n == 15)
            #expect(Array(UnsafeBufferPointer(start: a.all.x, count: n * 144)) == Array(UnsafeBufferPointer(start: b.all.x, count: n * 144)))
            #expect(Array(UnsafeBufferPointer(start: a.all.yClass!, count: n)) == Array(UnsafeBufferPointer(start: b.all.yClass!, count: n)))
        }
    }
}
