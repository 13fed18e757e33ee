// MARK: - omniglot: PNG decoding, resizing, rotations, the split, tasks and every error

import Foundation
import TestSupport
import Testing
import MAMLCore
import MAMLTasks

/// The small-fixture config: 9 characters -> 4 train, 2 validation, 3 test.
func fixtureConfig(_ root: String, rotations: Bool = true) -> OmniglotConfig {
    OmniglotConfig(data: root, ways: 2, size: 28, augmentRotations: rotations, trainClasses: 4, validationClasses: 2)
}

func errorText(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

@Suite(.serialized) struct OmniglotTests {
    // MARK: Decoding and resizing

    @Test func areaAveragingAKnownBlock() throws {
        // 105 -> 28 is a factor of 3.75. Ink block x < 32, y < 16: columns 0-7 and rows 0-3 are fully
        // covered; column 8 covers x in [30, 33.75) (2 of 3.75 inked), row 4 covers y in [15, 18.75) (1 of 3.75).
        let dir = FileManager.default.temporaryDirectory.path + "/png-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var gray = [UInt8](repeating: 255, count: 105 * 105)
        for y in 0..<16 { for x in 0..<32 { gray[y * 105 + x] = 0 } }
        gray[104 * 105 + 104] = 51                                   // one gray pixel: ink 0.8, weight 1/3.75^2
        try PNGTestWriter.write(PNGTestWriter.gray8(width: 105, height: 105, gray: gray), to: dir + "/block.png")
        let image = try readGrayPNG(path: dir + "/block.png")
        #expect(image.width == 105 && image.height == 105 && image.pixels[0] == 0 && image.pixels[200] == 1)
        let ink = resizeByAreaAveraging(image, to: 28).map { 1 - $0 }
        func expected(_ i: Int, _ j: Int) -> Float {
            let col: Float = j < 8 ? 1 : (j == 8 ? 2 / 3.75 : 0), row: Float = i < 4 ? 1 : (i == 4 ? 1 / 3.75 : 0)
            return (i == 27 && j == 27) ? 0.8 / (3.75 * 3.75) : col * row
        }
        for i in 0..<28 { for j in 0..<28 { #expect(abs(ink[i * 28 + j] - expected(i, j)) < 1e-5, "pixel (\(i), \(j))") } }
        // Growing also works (each output pixel inside one input pixel).
        let up = resizeByAreaAveraging(GrayImage(width: 2, height: 1, pixels: [0, 1]), to: 4)
        #expect(up == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1])
    }

    @Test func transparentPixelsArePaper() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/png-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Opaque black, fully transparent black, half-transparent black.
        let rgba: [UInt8] = [0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 128]
        try PNGTestWriter.write(PNGTestWriter.rgba8(width: 3, height: 1, rgba: rgba), to: dir + "/a.png")
        let image = try readGrayPNG(path: dir + "/a.png")
        #expect(image.pixels[0] == 0 && image.pixels[1] == 1 && abs(image.pixels[2] - 127 / 255) < 0.01)
    }

    @Test func rotationMatchesNumpyRot90() {
        let m: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        var out = [Float](repeating: 0, count: 9)
        let expected: [[Float]] = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 6, 9, 2, 5, 8, 1, 4, 7],
                                   [9, 8, 7, 6, 5, 4, 3, 2, 1], [7, 4, 1, 8, 5, 2, 9, 6, 3]]
        for k in 0..<4 {
            out.withUnsafeMutableBufferPointer { copyRotated(m, size: 3, quarterTurns: k, into: $0.baseAddress!) }
            #expect(out == expected[k], "rot90 k = \(k)")
        }
    }

    // MARK: Loading, split, rotations, tasks

    @Test func loadsTheFolderInOrderAndResizes() throws {
        let fixture = try OmniglotFixture()
        defer { fixture.remove() }
        let family = try OmniglotTasks(config: fixtureConfig(fixture.root))
        let data = family.data
        #expect(data.characters == OmniglotFixture.characters)
        #expect(data.firstImage == (0...9).map { 4 * $0 } && data.sourceWidth == 105 && data.sourceHeight == 105)
        #expect(family.inputShape == [1, 28, 28] && family.outputShape == [2] && family.exampleCount(shots: 5) == 10)
        for g in 0..<9 {
            for e in 0..<4 {
                let got = Array(data.images[((4 * g + e) * 784)..<((4 * g + e + 1) * 784)])
                let want = OmniglotFixture.expected(character: g, image: e, size: 28)
                #expect(zip(got, want).allSatisfy { abs($0 - $1) < 1e-6 }, "character \(g) image \(e)")
                #expect(got.contains { $0 > 0.99 } && got.contains(0))
            }
        }
    }

    @Test func splitIsTheDocumentedShuffleWithRotatedTrainClasses() throws {
        let fixture = try OmniglotFixture()
        defer { fixture.remove() }
        let data = try OmniglotData(data: fixture.root, size: 28)
        let family = try OmniglotTasks(config: fixtureConfig(fixture.root), data: data)
        // The documented procedure: Fisher-Yates with RandomGenerator(seed: 1), train first, then validation.
        var order = Array(0..<9)
        var rng = RandomGenerator(seed: OmniglotTasks.splitSeed)
        for i in stride(from: 8, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        let names = order.map { OmniglotFixture.characters[$0] }
        #expect(family.characters(of: .train) == Array(names[0..<4]))
        #expect(family.characters(of: .validation) == Array(names[4..<6]))
        #expect(family.characters(of: .test) == Array(names[6...]))
        #expect(family.splits == ClassSplits(train: 16, validation: 2, test: 3))
        // Train class r * 4 + i is train character i rotated r quarter turns; the other pools are unrotated.
        var x = [Float](repeating: 0, count: 784), want = x
        var unused = RandomGenerator(seed: 0)
        for id in 0..<21 {
            let rotation = id < 16 ? id / 4 : 0
            let character = id < 16 ? order[id % 4] : order[id - 12]
            #expect(family.classCharacter[id] == character && Int(family.classRotation[id]) == rotation)
            x.withUnsafeMutableBufferPointer { family.writeExample(classID: id, example: 3, rng: &unused, into: $0.baseAddress!) }
            data.images.withUnsafeBufferPointer { all in
                want.withUnsafeMutableBufferPointer {
                    copyRotated(all.baseAddress! + (4 * character + 3) * 784, size: 28, quarterTurns: rotation, into: $0.baseAddress!)
                }
            }
            #expect(x == want, "class \(id)")
        }
        let plain = try OmniglotTasks(config: fixtureConfig(fixture.root, rotations: false), data: data)
        #expect(plain.splits == ClassSplits(train: 4, validation: 2, test: 3))
        #expect(plain.characters(of: .test) == family.characters(of: .test))
    }

    @Test func tasksUseDistinctDrawingsOfTheSplitsCharacters() throws {
        let fixture = try OmniglotFixture()
        defer { fixture.remove() }
        let family = try OmniglotTasks(config: fixtureConfig(fixture.root))
        let d = 784
        // Every (class id, drawing) rendered, to identify task examples.
        var catalogue: [[Float]: (Int, Int)] = [:]
        var x = [Float](repeating: 0, count: d), unused = RandomGenerator(seed: 0)
        for id in 0..<21 {
            for e in 0..<4 {
                x.withUnsafeMutableBufferPointer { family.writeExample(classID: id, example: e, rng: &unused, into: $0.baseAddress!) }
                catalogue[x] = (id, e)
            }
        }
        #expect(catalogue.count == 84)
        let task = TaskBuffer(family: family, supportShots: 1, queryShots: 3)
        for split in TaskSplit.allCases {
            var seen = Set<Int>()
            for i in 0..<30 {
                var rng = RandomGenerator(seed: 5, stream: .metaTrain, iteration: i, task: 0)
                try family.sample(split: split, supportShots: 1, queryShots: 3, rng: &rng, into: task)
                var drawings: [Int: Set<Int>] = [:]
                for e in 0..<8 {
                    let example = Array(UnsafeBufferPointer(start: task.all.x + e * d, count: d))
                    let label = Int(task.all.yClass![e])
                    guard let (id, drawing) = catalogue[example] else { Issue.record("unknown example"); continue }
                    #expect(family.classPool(split).contains(id))
                    drawings[label, default: []].insert(id * 10 + drawing)
                    seen.insert(id)
                }
                #expect(drawings.count == 2 && drawings.values.allSatisfy { $0.count == 4 })   // 4 distinct drawings
            }
            #expect(seen.count == family.classPool(split).count, "\(split): classes drawn \(seen.sorted())")
        }
        #expect(throws: MAMLError.invalidConfig("omniglot: a task needs 5 distinct examples per class "
            + "(1 support + 4 query shots), character \(family.characters(of: .train)[0]) in the train split has 4")) {
            var rng = RandomGenerator(seed: 0)
            try family.sample(split: .train, supportShots: 1, queryShots: 4, rng: &rng,
                              into: TaskBuffer(family: family, supportShots: 1, queryShots: 4))
        }
    }

    // MARK: Configs and errors

    @Test func configDecodingAndErrors() throws {
        let fixture = try OmniglotFixture(imagesPerCharacter: 2)
        defer { fixture.remove() }
        let json = #"{"data": "\#(fixture.root)", "ways": 2, "train_classes": 4, "validation_classes": 2, "augment_rotations": false, "size": 14}"#
        let family = try makeTaskFamily(name: "omniglot", config: json)
        #expect(family.name == "omniglot" && family.inputShape == [1, 14, 14])
        #expect((family as! OmniglotTasks).splits == ClassSplits(train: 4, validation: 2, test: 3))
        #expect(family.configJSON == #"{"augment_rotations":false,"data":"\#(fixture.root)","size":14,"#
            + #""train_classes":4,"validation_classes":2,"ways":2}"#)
        #expect((try makeTaskFamily(name: "omniglot", config: family.configJSON) as! OmniglotTasks).config
            == (family as! OmniglotTasks).config)

        func message(_ config: String) -> String { errorText { _ = try makeTaskFamily(name: "omniglot", config: config) } }
        #expect(message("{}").contains(#"omniglot "data" is required"#))
        #expect(message(#"{"data": 3}"#).contains(#"omniglot "data" must be a folder path (string)"#))
        #expect(message(#"{"data": "x", "rotations": true}"#).contains(#"omniglot "rotations" is unknown (known keys: data, ways"#))
        #expect(message(#"{"data": "x", "augment_rotations": 1}"#).contains(#"omniglot "augment_rotations" must be true or false"#))
        #expect(message(#"{"data": "x", "ways": 1}"#).contains(#"omniglot "ways" = 1, expected 2...1000"#))
        #expect(message(#"{"data": "x", "ways": 5, "validation_classes": 3}"#)
            .contains(#"omniglot "validation_classes" = 3, expected at least ways = 5"#))
        // Too few characters for the test split.
        #expect(message(#"{"data": "\#(fixture.root)", "ways": 2, "train_classes": 6, "validation_classes": 2}"#)
            .contains("has 9 characters; \"train_classes\" = 6 and \"validation_classes\" = 2 leave 1 for the test split, "
                + "2-way tasks need at least 2"))
        #expect(message(#"{"data": "\#(fixture.root)"}"#).contains("has 9 characters"))
    }

    @Test func layoutErrorsNameThePath() throws {
        let fixture = try OmniglotFixture(imagesPerCharacter: 2)
        defer { fixture.remove() }
        let root = fixture.root, fm = FileManager.default
        func load() -> String { errorText { _ = try OmniglotData(data: root, size: 28) } }

        let missing = errorText { _ = try OmniglotData(data: root + "/nope", size: 28) }
        #expect(missing.contains("data folder \(root)/nope does not exist") && missing.contains("images_background/ALPHABET/CHARACTER/*.png"))

        // A file that is not a PNG, named.
        let bogus = root + "/images_evaluation/Alpha_C/character02/zz.png"
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: bogus))
        #expect(load().contains("cannot read \(bogus) as a PNG image: "), "\(load())")
        try fm.removeItem(atPath: bogus)

        // An image of another size, named with the first image's size.
        let odd = root + "/images_background/Alpha_B/character01/zz.png"
        try PNGTestWriter.write(PNGTestWriter.gray8(width: 100, height: 105, gray: [UInt8](repeating: 255, count: 100 * 105)), to: odd)
        #expect(load().contains("\(odd) is 100x105 but \(root)/images_background/Alpha_A/character01/1000_01.png is 105x105"))
        try fm.removeItem(atPath: odd)

        // A character folder without images; a file where an alphabet folder belongs.
        let empty = root + "/images_background/Alpha_A/character04"
        try fm.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(load().contains("character folder \(empty) has no images"))
        try fm.removeItem(atPath: empty)
        try Data().write(to: URL(fileURLWithPath: root + "/images_background/README"))
        #expect(load().contains("\(root)/images_background/README is a file where an alphabet folder was expected"))
        try fm.removeItem(atPath: root + "/images_background/README")

        // Hidden files are ignored.
        try Data().write(to: URL(fileURLWithPath: root + "/images_background/Alpha_A/character01/.DS_Store"))
        #expect(load() == "no error")

        // The evaluation half missing.
        try fm.removeItem(atPath: root + "/images_evaluation")
        #expect(load().contains("folder \(root)/images_evaluation is missing; expected \(root)/images_background/"))
    }
}
