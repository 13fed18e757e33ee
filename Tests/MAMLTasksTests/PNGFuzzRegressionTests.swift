// MARK: - The PNG fuzzer's seeds and regressions (Tests/fuzz/{seeds,regressions}/png) in the normal suite

import Foundation
import Testing
import TestSupport
@testable import MAMLTasks

@Suite struct PNGFuzzRegressionTests {
    private func scratch() throws -> (PNGFuzzScratch, cleanup: () -> Void) {
        let dir = FileManager.default.temporaryDirectory.path + "/png-fuzz-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try PNGFuzzScratch(root: dir), { try? FileManager.default.removeItem(atPath: dir) })
    }

    /// The seeds are valid PNGs of every colour type and bit depth, interlaced, with gAMA/cHRM/sRGB
    /// chunks and an Omniglot-like 105x105 1-bit drawing: each decodes, and keeps the harness's promises.
    @Test func seedsDecodeAndKeepThePromises() throws {
        let (scratch, cleanup) = try scratch()
        defer { cleanup() }
        let seeds = try fuzzFiles("seeds/png")
        #expect(seeds.count >= 10)
        for seed in seeds {
            #expect(exercisePNG(seed.bytes, in: scratch) == nil, "\(seed.name)")
            let image = try readGrayPNG(path: scratch.imagePath)
            #expect(image.width * image.height == image.pixels.count, "\(seed.name)")
        }
        // The one that looks like Omniglot's files: 105x105, black strokes on white.
        try Data(try #require(seeds.first { $0.name.hasPrefix("omniglot") }).bytes)
            .write(to: URL(fileURLWithPath: scratch.imagePath))
        let drawing = try readGrayPNG(path: scratch.imagePath)
        #expect(drawing.width == 105 && drawing.height == 105)
        #expect(Set(drawing.pixels) == [0, 1])
    }

    /// Inputs the fuzzer (or its authors) found: each is refused naming the file, or read within range.
    @Test func regressionsKeepThePromises() throws {
        let (scratch, cleanup) = try scratch()
        defer { cleanup() }
        // Always-present cases besides the committed files: empty, a bare signature, a truncated seed.
        let seed = try #require(try fuzzFiles("seeds/png").first).bytes
        var inputs: [(name: String, bytes: [UInt8])] = [("empty", []), ("signature only", Array(seed.prefix(8))),
                                                        ("truncated", Array(seed.prefix(seed.count / 2)))]
        inputs += try fuzzFiles("regressions/png")
        for input in inputs {
            #expect(exercisePNG(input.bytes, in: scratch) == nil, "\(input.name)")
        }
    }
}
