// MARK: - glyphs: determinism, image sanity, class structure, splits, config

import Testing
import MAMLCore
import MAMLTasks

/// Renders example `draw` of class `c` (each draw from its own generator).
func glyph(_ family: GlyphTasks, _ c: Int, draw: UInt64) -> [Float] {
    let n = family.config.size
    var image = [Float](repeating: -1, count: n * n)
    var rng = RandomGenerator(seed: draw)
    image.withUnsafeMutableBufferPointer { family.writeExample(classID: c, example: 0, rng: &rng, into: $0.baseAddress!) }
    return image
}

func meanAbsDifference(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(a.count)
}

@Suite struct GlyphTests {
    @Test func defaultsMatchOmniglotShapeAndSplit() throws {
        let f = try GlyphTasks()
        #expect(f.inputShape == [1, 28, 28] && f.outputShape == [5] && f.lossKind == .softmaxCrossEntropy)
        #expect(f.exampleCount(shots: 3) == 15)
        #expect(f.splits == ClassSplits(train: 1200, validation: 100, test: 323))
        let pools = TaskSplit.allCases.map { Set(f.classPool($0)) }
        #expect(pools[0].isDisjoint(with: pools[1]) && pools[0].isDisjoint(with: pools[2]) && pools[1].isDisjoint(with: pools[2]))
        #expect(pools.map(\.count).reduce(0, +) == 1623)
    }

    @Test func imagesAreInRangeInkedAndAntiAliased() throws {
        let f = try GlyphTasks(), still = try GlyphTasks(config: GlyphConfig(distortion: 0))
        func border(_ img: [Float]) -> Float {
            let n = 28
            return (0..<n).reduce(Float(0)) { $0 + img[$1] + img[(n - 1) * n + $1] + img[$1 * n] + img[$1 * n + n - 1] }
        }
        for c in stride(from: 0, to: 1623, by: 37) {
            let img = glyph(f, c, draw: UInt64(c))
            #expect(img.allSatisfy { $0 >= 0 && $0 <= 1 })
            let ink = img.reduce(0, +)
            #expect(ink > 15 && ink < 400, "class \(c) ink \(ink)")          // strokes, not blank, not filled
            #expect(img.contains(1) && img.contains { $0 > 0.05 && $0 < 0.95 })  // solid cores and soft edges
            // The class's own glyph is centred with a margin; its distortions stay mostly inside
            // (a stroke end may reach the edge, no stroke runs along it).
            #expect(border(glyph(still, c, draw: 0)) == 0, "class \(c) touches the border")
            #expect(border(img) < 8, "class \(c) runs along the border")
        }
    }

    @Test func determinismFromSeedAndGenerator() throws {
        let a = try GlyphTasks(config: GlyphConfig(seed: 3)), b = try GlyphTasks(config: GlyphConfig(seed: 3))
        #expect(a.alphabet == b.alphabet)
        #expect(glyph(a, 17, draw: 5) == glyph(b, 17, draw: 5))
        #expect(glyph(a, 17, draw: 5) != glyph(a, 17, draw: 6))          // examples vary
        let other = try GlyphTasks(config: GlyphConfig(seed: 4))
        #expect(glyph(a, 17, draw: 5) != glyph(other, 17, draw: 5))      // the seed changes the alphabet
        // More classes extend the alphabet without changing the first ones.
        let more = try GlyphTasks(config: GlyphConfig(classes: 2000, seed: 3))
        #expect(glyph(more, 17, draw: 5) == glyph(a, 17, draw: 5))
        // Whole tasks: same generator, same task.
        let t1 = TaskBuffer(family: a, supportShots: 1, queryShots: 2), t2 = TaskBuffer(family: a, supportShots: 1, queryShots: 2)
        var r1 = RandomGenerator(seed: 9, stream: .metaTrain, iteration: 4, task: 2), r2 = r1
        try a.sample(split: .train, supportShots: 1, queryShots: 2, rng: &r1, into: t1)
        try b.sample(split: .train, supportShots: 1, queryShots: 2, rng: &r2, into: t2)
        let n = 15 * 784
        #expect(Array(UnsafeBufferPointer(start: t1.all.x, count: n)) == Array(UnsafeBufferPointer(start: t2.all.x, count: n)))
    }

    @Test func classesDifferMoreThanExamplesOfOneClass() throws {
        let f = try GlyphTasks()
        var within = 0.0, between = 0.0, closerToOwnClass = 0
        let classes = 60
        for c in 0..<classes {
            let a = glyph(f, c, draw: 1000 + UInt64(c)), b = glyph(f, c, draw: 2000 + UInt64(c))
            let other = glyph(f, (c + 1) % classes, draw: 3000 + UInt64(c))
            let w = meanAbsDifference(a, b), d = meanAbsDifference(a, other)
            within += w; between += d
            if w < d { closerToOwnClass += 1 }
        }
        within /= Double(classes); between /= Double(classes)
        // Like handwriting, two examples of a class differ almost as much pixel by pixel as two
        // classes do (measured: 0.122 vs 0.139, 43 of 60), but a class is still closer to itself.
        #expect(within < 0.95 * between, "mean |a - b|: same class \(within), different classes \(between)")
        #expect(closerToOwnClass >= 38, "\(closerToOwnClass) of \(classes) examples closer to their own class (chance 30)")
    }

    @Test func distortionScalesTheWithinClassVariation() throws {
        // 0: every example of a class is the same image; more distortion, examples further apart.
        let still = try GlyphTasks(config: GlyphConfig(distortion: 0))
        #expect(glyph(still, 5, draw: 1) == glyph(still, 5, draw: 2))
        func within(_ d: Float) throws -> Double {
            let f = try GlyphTasks(config: GlyphConfig(distortion: d))
            return (0..<40).reduce(0.0) { $0 + meanAbsDifference(glyph(f, $1, draw: 1), glyph(f, $1, draw: 2)) } / 40
        }
        let half = try within(0.5), full = try within(1), double = try within(2)
        #expect(0 < half && half < full && full < double, "within-class |a - b|: \(half), \(full), \(double)")
    }

    @Test func tasksHaveNWayKShotLabels() throws {
        let f = try GlyphTasks(config: GlyphConfig(ways: 4, classes: 100, size: 20))
        #expect(f.inputShape == [1, 20, 20] && f.outputShape == [4])
        let task = TaskBuffer(family: f, supportShots: 2, queryShots: 3)
        for i in 0..<10 {
            var rng = RandomGenerator(seed: 1, stream: .evaluation, iteration: 0, task: i)
            try f.sample(split: .test, supportShots: 2, queryShots: 3, rng: &rng, into: task)
            #expect(task.supportCount == 8 && task.queryCount == 12)
            let labels = (0..<8).map { task.supportLabels![$0] } + (0..<12).map { task.queryLabels![$0] }
            #expect(labels.allSatisfy { (0..<4).contains($0) })
            for l in Int32(0)..<4 { #expect(labels.filter { $0 == l }.count == 5) }
            let pixels = UnsafeBufferPointer(start: task.all.x, count: 20 * 400)
            #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    @Test func configDecodingAndErrors() throws {
        let f = try makeTaskFamily(name: "glyphs", config: #"{"ways": 20, "classes": 100, "size": 32, "seed": 9}"#)
        #expect(f.name == "glyphs" && f.inputShape == [1, 32, 32] && f.outputShape == [20])
        #expect(f.configJSON == #"{"classes":100,"distortion":1,"seed":9,"size":32,"ways":20}"#)
        // The recorded config rebuilds the same family.
        let again = try makeTaskFamily(name: "glyphs", config: f.configJSON) as! GlyphTasks
        #expect(again.alphabet == (f as! GlyphTasks).alphabet)
        #expect((try makeTaskFamily(name: "glyphs") as! GlyphTasks).config == GlyphConfig())

        func message(_ config: String) -> String {
            do { _ = try makeTaskFamily(name: "glyphs", config: config); return "no error" } catch { return "\(error)" }
        }
        #expect(message(#"{"ways": 1}"#).contains(#"glyphs "ways" = 1, expected 2...1000"#))
        #expect(message(#"{"ways": 10, "classes": 29}"#).contains(#"glyphs "classes" = 29, expected at least 3 * ways = 30"#))
        #expect(message(#"{"size": 7}"#).contains(#"glyphs "size" = 7, expected 8...128"#))
        #expect(message(#"{"size": 129}"#).contains(#"expected 8...128"#))
        #expect(message(#"{"way": 5}"#).contains(#"glyphs "way" is unknown (known keys: ways, classes, size, seed, distortion)"#))
        #expect(message(#"{"distortion": 2.5}"#).contains(#"glyphs "distortion" = 2.5, expected a number in 0...2"#))
        #expect(message(#"{"distortion": -0.1}"#).contains(#"glyphs "distortion" = -0.1, expected a number in 0...2"#))
        #expect(message(#"{"distortion": "1"}"#).contains(#"glyphs "distortion" must be a number in 0...2"#))
        #expect(message(#"{"ways": "5"}"#).contains(#"glyphs "ways" must be an integer"#))
        #expect(message(#"{"seed": -1}"#).contains(#"glyphs "seed" must be an integer in 0...2^64-1"#))
        #expect(throws: MAMLError.invalidConfig("glyphs \"ways\" = 1, expected 2...1000")) {
            _ = try GlyphTasks(config: GlyphConfig(ways: 1))
        }
    }
}
