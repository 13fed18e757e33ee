// MARK: - image-folder: layouts, the decoded cache, bad data, normalisation, augmentation

import Foundation
import Testing
import MAMLCore
import MAMLTasks
import TestSupport

@Suite struct ImageFolderTests {
    func config(_ data: String, _ extra: [String: Any] = [:]) -> String {
        var object: [String: Any] = ["data": data, "ways": 2, "size": 8]
        for (k, v) in extra { object[k] = v }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func family(_ data: String, cache: String?, _ extra: [String: Any] = [:]) throws -> ImageFolderTasks {
        var c = ImageFolderConfig(data: data)
        c.ways = 2; c.size = 8
        if let v = extra["channels"] as? Int { c.channels = v }
        if let v = extra["layout"] as? String { c.layout = ImageFolderLayout(rawValue: v)! }
        if let v = extra["flips"] as? Bool { c.augmentFlips = v }
        if let v = extra["rotations"] as? Bool { c.augmentRotations = v }
        if let v = extra["fingerprint"] as? String { c.fingerprint = v }
        return try ImageFolderTasks(config: c, cacheDirectory: cache)
    }

    // MARK: Layouts

    @Test("classes layout: a seeded split of 64% / 16% / the rest, reproducible, with sizes the user can set")
    func classesLayout() throws {
        let root = ImageTree.scratch("classes")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try ImageTree.write(root, classes: 10, perClass: 3)
        try "notes".write(toFile: root + "/README.txt", atomically: true, encoding: .utf8)
        let f = try family(root, cache: nil)
        #expect(f.splits == ClassSplits(train: 6, validation: 2, test: 2))
        #expect(f.inputShape == [3, 8, 8] && f.outputShape == [2])
        #expect(f.loadNotes.contains { $0.contains("skipped 1 file") && $0.contains("README.txt") })
        let again = try family(root + "//", cache: nil)   // a trailing slash changes nothing, paths stay clean
        #expect(f.classSource == again.classSource && again.data.fingerprint == f.data.fingerprint)
        #expect(again.loadNotes.contains { $0.contains(root + "/README.txt") } && !again.loadNotes.contains { $0.contains("//") })
        // Every class in exactly one pool.
        #expect(Set(f.classSource) == Set(0..<10) && f.classSource.count == 10)
        let sized = try makeTaskFamily(name: "image-folder", config: config(root, ["train_classes": 4, "validation_classes": 3, "test_classes": 3]))
        let s = try #require(sized as? ImageFolderTasks)
        #expect(s.splits == ClassSplits(train: 4, validation: 3, test: 3))
        #expect(throws: MAMLError.self) {
            _ = try makeTaskFamily(name: "image-folder", config: config(root, ["train_classes": 8, "validation_classes": 3]))
        }
    }

    @Test("splits and csv layouts: the folders or CSV files decide the pools; both give the same classes")
    func givenSplits() throws {
        let a = ImageTree.scratch("splits"), b = ImageTree.scratch("csv")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        try ImageTree.write(a, classes: 8, perClass: 3, layout: "splits")
        try ImageTree.write(b, classes: 8, perClass: 3, layout: "csv")
        let splits = try family(a, cache: nil), csv = try family(b, cache: nil)
        #expect(splits.data.layout == .splits && csv.data.layout == .csv)
        for f in [splits, csv] { #expect(f.splits == ClassSplits(train: 4, validation: 2, test: 2)) }
        let names = { (f: ImageFolderTasks, s: TaskSplit) in f.classPool(s).map { f.className($0) } }
        #expect(names(splits, .train) == ["class \"c0\"", "class \"c1\"", "class \"c2\"", "class \"c3\""])
        #expect(names(csv, .test) == ["class \"n6\"", "class \"n7\""])
        // The same pixels either way.
        let x = UnsafeMutablePointer<Float>.allocate(capacity: 3 * 64), y = UnsafeMutablePointer<Float>.allocate(capacity: 3 * 64)
        defer { x.deallocate(); y.deallocate() }
        var rng = RandomGenerator(seed: 1)
        splits.writeExample(classID: 5, example: 2, rng: &rng, into: x)
        csv.writeExample(classID: 5, example: 2, rng: &rng, into: y)
        #expect(Array(UnsafeBufferPointer(start: x, count: 192)) == Array(UnsafeBufferPointer(start: y, count: 192)))
        #expect(throws: MAMLError.self) { _ = try makeTaskFamily(name: "image-folder", config: config(a, ["train_classes": 3])) }
    }

    // MARK: The cache

    @Test("decoded once: the second load maps the cache, with the same bytes, the area-resized source pixels")
    func cacheRoundTrip() throws {
        let root = ImageTree.scratch("cache"), cache = root + "-cache/nested"
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: root + "-cache") }
        try ImageTree.write(root, classes: 6, perClass: 4, layout: "classes", sizes: [(10, 10), (13, 7), (4, 20)])
        let first = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: cache)
        #expect(first.decoded && first.cachePath != nil)
        #expect(first.notes.filter { $0.contains("different sizes") }.count == 1)   // said once
        let second = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: cache)
        #expect(!second.decoded && second.cachePath == first.cachePath && second.fingerprint == first.fingerprint)
        #expect(second.notes.contains { $0.hasPrefix("using the decoded cache") })
        let memory = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: nil)
        #expect(memory.fingerprint == first.fingerprint && memory.classes == second.classes)
        for i in 0..<second.imageCount {
            let a = Array(UnsafeBufferPointer(start: second.image(i), count: second.bytesPerImage))
            #expect(a == Array(UnsafeBufferPointer(start: memory.image(i), count: memory.bytesPerImage)))
        }
        // Image 5 is class 1's image 1, 13 x 7: what the resizer makes of the source.
        let source = try readImage(path: root + "/c01/i01.png", channels: 3)
        #expect(source.width == 4 && source.height == 20)
        #expect(Array(UnsafeBufferPointer(start: second.image(5), count: 192)) == resizeArea8(source, to: 8))
        // Other settings, another cache file.
        let grey = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 1, cacheDirectory: cache)
        #expect(grey.decoded && grey.cachePath != first.cachePath)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).allSatisfy { !$0.hasPrefix(".") })   // no temporaries
    }

    @Test("a stale, corrupt, truncated or other-version cache is rebuilt saying why; an unwritable one falls back to memory")
    func cacheProblems() throws {
        let root = ImageTree.scratch("stale"), cache = root + "-cache"
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: cache) }
        try ImageTree.write(root, classes: 4, perClass: 3)
        let first = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: cache)
        let path = try #require(first.cachePath)
        func reload() throws -> ImageFolderData {
            try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: cache)
        }
        func damage(_ edit: (inout [UInt8]) -> Void) throws {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            edit(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        // A source file changed: its modification time moves.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: root + "/c02/i01.png")
        var d = try reload()
        #expect(d.decoded && d.notes.contains { $0.contains("the source files changed") }, "\(d.notes)")
        try damage { $0[$0.count - 3] ^= 0x20 }                          // the header (at the end)
        d = try reload(); #expect(d.decoded && d.notes.contains { $0.contains("corrupt") }, "\(d.notes)")
        try damage { $0[8] = 99 }                                          // format version
        d = try reload(); #expect(d.decoded && d.notes.contains { $0.contains("cache format 99") }, "\(d.notes)")
        try damage { $0.removeLast(10) }
        d = try reload(); #expect(d.decoded && d.notes.contains { $0.contains("do not match the file") }, "\(d.notes)")
        try damage { $0[0] = 0 }
        d = try reload(); #expect(d.decoded && d.notes.contains { $0.contains("not a maml-zoo image cache") }, "\(d.notes)")
        #expect(!d.decoded || d.fingerprint == first.fingerprint)
        // Cannot be written: a file where the folder should be.
        let blocked = root + "-blocked"
        try "x".write(toFile: blocked, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: blocked) }
        d = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: blocked + "/sub")
        #expect(d.cachePath == nil && d.notes.contains { $0.contains("cannot write the decoded cache") && $0.contains("decoding into memory") })
        #expect(d.fingerprint == first.fingerprint)
    }

    // MARK: Bad data

    @Test("bad data is refused with a message naming the file: corrupt, non-image, empty, loops, CSV mistakes")
    func badData() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
        let fm = FileManager.default
        func refused(_ words: [String], setup: (String) throws -> Void) throws {
            let root = ImageTree.scratch("bad")
            defer { try? fm.removeItem(atPath: root) }
            try ImageTree.write(root, classes: 6, perClass: 3)
            try setup(root)
            #expect {
                _ = try ImageFolderData(data: root, layout: .auto, size: 8, channels: 3, cacheDirectory: root + "/.cache")
            } throws: { error in
                let text = "\(error)"
                let ok = words.allSatisfy { text.contains($0.replacingOccurrences(of: "ROOT", with: root)) }
                if !ok { Issue.record("\(words) not in: \(text)") }
                // Nothing half-written: no cache, no temporary.
                return ok && ((try? fm.contentsOfDirectory(atPath: root + "/.cache")) ?? []).isEmpty
            }
        }
        try refused(["ROOT/c01/i01.png", "corrupt or truncated JPEG"]) { root in
            try fm.removeItem(atPath: root + "/c01/i01.png")
            try fm.copyItem(atPath: fixtures + "/jpeg/truncated.jpg", toPath: root + "/c01/i01.png")
        }
        try refused(["ROOT/c02/i00.png", "not a JPEG or PNG image"]) { root in
            try "text".write(toFile: root + "/c02/i00.png", atomically: true, encoding: .utf8)
        }
        try refused(["ROOT/c03/bad.png", "chunk"]) { root in   // a PNG cut short
            let png = PNGTestWriter.rgba8(width: 8, height: 8, rgba: ImageTree.pixels(c: 0, i: 0, width: 8, height: 8))
            try Data(png.prefix(60)).write(to: URL(fileURLWithPath: root + "/c03/bad.png"))
        }
        try refused(["class folder ROOT/c09 has no images"]) { root in try fm.createDirectory(atPath: root + "/c09", withIntermediateDirectories: true) }
        try refused(["ROOT/c00/loop.png", "symbolic link loop"]) { root in
            try fm.createSymbolicLink(atPath: root + "/c00/loop.png", withDestinationPath: root + "/c00/loop.png")
        }
        try refused(["ROOT/c00/gone.jpg", "dangling"]) { root in
            try fm.createSymbolicLink(atPath: root + "/c00/gone.jpg", withDestinationPath: root + "/nowhere.jpg")
        }
        try refused(["ROOT/c00/sub is a folder inside class folder"]) { root in
            try fm.createDirectory(atPath: root + "/c00/sub", withIntermediateDirectories: true)
        }
        try refused(["ROOT/c00/fifo.png", "not a regular file"]) { root in
            #expect(mkfifo(root + "/c00/fifo.png", 0o644) == 0)
        }
        // CSV layout mistakes.
        func csv(_ words: [String], _ edit: @escaping (String) throws -> Void) throws {
            try refused(words) { root in
                try fm.createDirectory(atPath: root + "/images", withIntermediateDirectories: true)
                try fm.copyItem(atPath: root + "/c00/i00.png", toPath: root + "/images/a.png")
                try fm.copyItem(atPath: root + "/c01/i00.png", toPath: root + "/images/b.png")
                try fm.copyItem(atPath: root + "/c02/i00.png", toPath: root + "/images/c.png")
                try "filename,label\na.png,n1\n".write(toFile: root + "/train.csv", atomically: true, encoding: .utf8)
                try "filename,label\nb.png,n2\n".write(toFile: root + "/val.csv", atomically: true, encoding: .utf8)
                try "filename,label\nc.png,n3\n".write(toFile: root + "/test.csv", atomically: true, encoding: .utf8)
                try edit(root)
            }
        }
        try csv(["ROOT/test.csv line 3 names missing.png", "does not exist"]) { root in
            try "filename,label\nc.png,n3\nmissing.png,n3\n".write(toFile: root + "/test.csv", atomically: true, encoding: .utf8)
        }
        try csv(["ROOT/val.csv line 1: expected the header `filename,label`"]) { root in
            try "file,class\nb.png,n2\n".write(toFile: root + "/val.csv", atomically: true, encoding: .utf8)
        }
        try csv(["ROOT/val.csv line 2: label n1 is also in ROOT/train.csv"]) { root in
            try "filename,label\nb.png,n1\n".write(toFile: root + "/val.csv", atomically: true, encoding: .utf8)
        }
        try csv(["has train.csv but no test.csv"]) { root in try fm.removeItem(atPath: root + "/test.csv") }
        try csv(["has both val.csv and validation.csv"]) { root in
            try fm.copyItem(atPath: root + "/val.csv", toPath: root + "/validation.csv")
        }
        try csv(["ROOT/test.csv line 3: c.png is already listed (ROOT/test.csv line 2)"]) { root in
            try "filename,label\nc.png,n3\nc.png,n3\n".write(toFile: root + "/test.csv", atomically: true, encoding: .utf8)
        }
        try csv(["ROOT/train.csv line 2: ../c00/i01.png must be a path inside the images folder"]) { root in
            try "filename,label\n../c00/i01.png,n1\n".write(toFile: root + "/train.csv", atomically: true, encoding: .utf8)
        }
        #expect { _ = try ImageFolderData(data: "/nonexistent/maml-data", layout: .auto, size: 8, channels: 3, cacheDirectory: nil) }
            throws: { "\($0)".contains("data folder /nonexistent/maml-data does not exist") }
    }

    @Test("a class with fewer images than K + Q is named; a wrong fingerprint is refused; the config round-trips")
    func shotsAndFingerprint() throws {
        let root = ImageTree.scratch("shots")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try ImageTree.write(root, classes: 6, perClass: 4)
        try FileManager.default.removeItem(atPath: root + "/c03/i03.png")   // c03 has 3
        let f = try family(root, cache: nil)
        let buffer = TaskBuffer(family: f, supportShots: 1, queryShots: 3)
        var rng = RandomGenerator(seed: 0)
        let split = TaskSplit.allCases.first { s in f.classPool(s).contains { f.className($0) == "class \"c03\"" } }!
        #expect(throws: MAMLError.invalidConfig("image-folder: a task needs 4 distinct examples per class (1 support + 3 query shots), "
                                                + "class \"c03\" in the \(split.rawValue) split has 3")) {
            try f.sample(split: split, supportShots: 1, queryShots: 3, rng: &rng, into: buffer)
        }
        try f.sample(split: split, supportShots: 1, queryShots: 2, rng: &rng, into: buffer)   // 3 suffice
        // The recorded config rebuilds the same family; another fingerprint is refused.
        let rebuilt = try makeTaskFamily(name: "image-folder", config: f.configJSON)
        #expect(rebuilt.configJSON == f.configJSON)
        #expect(f.configJSON.contains("\"fingerprint\":\"\(f.data.fingerprint)\""))
        #expect { _ = try family(root, cache: nil, ["fingerprint": String(repeating: "ab", count: 32)]) }
            throws: { "\($0)".contains("holds other images than the ones recorded") && "\($0)".contains("--allow-other-data") }
        #expect(throws: MAMLError.self) { _ = try makeTaskFamily(name: "image-folder", config: "{\"data\": \"\(root)\", \"channels\": 2}") }
        #expect(throws: MAMLError.self) { _ = try makeTaskFamily(name: "image-folder", config: "{\"data\": \"\(root)\", \"mean\": [0.5]}") }
    }

    // MARK: Examples

    @Test("normalisation: the train pool's examples have mean 0 and deviation 1 per channel; grey has one channel")
    func normalisation() throws {
        let root = ImageTree.scratch("norm")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try ImageTree.write(root, classes: 10, perClass: 3)
        for channels in [3, 1] {
            let f = try family(root, cache: nil, ["channels": channels])
            let d = f.exampleElements, plane = 64
            #expect(d == channels * plane)
            let x = UnsafeMutablePointer<Float>.allocate(capacity: d)
            defer { x.deallocate() }
            var sums = [Double](repeating: 0, count: channels), squares = sums, count = 0.0
            var rng = RandomGenerator(seed: 0)
            for c in f.classPool(.train) {
                for e in 0..<f.storedExampleCount(classID: c)! {
                    f.writeExample(classID: c, example: e, rng: &rng, into: x)
                    for k in 0..<channels { for p in 0..<plane { let v = Double(x[k * plane + p]); sums[k] += v; squares[k] += v * v } }
                    count += Double(plane)
                }
            }
            for k in 0..<channels {
                #expect(abs(sums[k] / count) < 1e-4, "channel \(k) mean \(sums[k] / count)")
                #expect(abs(squares[k] / count - 1) < 1e-3, "channel \(k) variance \(squares[k] / count)")
            }
        }
        let none = try makeTaskFamily(name: "image-folder", config: config(root, ["normalize": "none"]))
        #expect(none.configJSON.contains("\"mean\":[0,0,0]") && none.configJSON.contains("\"std\":[1,1,1]"), "\(none.configJSON)")
    }

    @Test("augmentation: rotations add three turned copies of each train class; flips mirror about half the train examples")
    func augmentation() throws {
        let root = ImageTree.scratch("augment")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try ImageTree.write(root, classes: 10, perClass: 3)
        let plain = try family(root, cache: nil), turned = try family(root, cache: nil, ["rotations": true])
        #expect(turned.splits == ClassSplits(train: 24, validation: 2, test: 2))
        let n = 8, plane = 64
        let a = UnsafeMutablePointer<Float>.allocate(capacity: 3 * plane), b = UnsafeMutablePointer<Float>.allocate(capacity: 3 * plane)
        defer { a.deallocate(); b.deallocate() }
        var rng = RandomGenerator(seed: 0)
        plain.writeExample(classID: 2, example: 1, rng: &rng, into: a)
        turned.writeExample(classID: 6 + 2, example: 1, rng: &rng, into: b)   // class 2, one quarter turn
        for k in 0..<3 {
            var rotated = [Float](repeating: 0, count: plane)
            rotated.withUnsafeMutableBufferPointer { copyRotated(a + k * plane, size: n, quarterTurns: 1, into: $0.baseAddress!) }
            #expect(Array(UnsafeBufferPointer(start: b + k * plane, count: plane)) == rotated)
        }
        #expect(turned.className(6 + 2) == plain.className(2) + " rotated 90 degrees")
        let flips = try family(root, cache: nil, ["flips": true])
        var mirrored = 0, same = 0
        for trial in 0..<40 {
            var g = RandomGenerator(seed: UInt64(trial))
            flips.writeExample(classID: 0, example: 0, rng: &g, into: b)
            plain.writeExample(classID: 0, example: 0, rng: &g, into: a)
            let original = Array(UnsafeBufferPointer(start: a, count: 3 * plane))
            let got = Array(UnsafeBufferPointer(start: b, count: 3 * plane))
            var mirror = original
            for k in 0..<3 { for i in 0..<n { for j in 0..<n { mirror[k * plane + i * n + j] = original[k * plane + i * n + n - 1 - j] } } }
            if got == original { same += 1 } else if got == mirror { mirrored += 1 } else { Issue.record("neither the image nor its mirror") }
        }
        #expect(mirrored >= 10 && same >= 10, "mirrored \(mirrored), same \(same)")
        // Validation and test examples are never flipped.
        var g = RandomGenerator(seed: 3)
        let test = flips.classPool(.test).lowerBound
        flips.writeExample(classID: test, example: 0, rng: &g, into: b)
        plain.writeExample(classID: test, example: 0, rng: &g, into: a)
        #expect(Array(UnsafeBufferPointer(start: a, count: 3 * plane)) == Array(UnsafeBufferPointer(start: b, count: 3 * plane)))
    }
}
