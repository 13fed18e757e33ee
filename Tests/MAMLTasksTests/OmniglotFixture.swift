// MARK: - A small Omniglot-shaped folder written at test time
//
// images_background/Alpha_A (3 characters), Alpha_B (3), images_evaluation/Alpha_C (3):
// 9 characters with `imagesPerCharacter` 105x105 1-bit PNGs each, black ink on
// white. Image e of character g is three random ink rectangles (from a generator
// seeded with g * 100 + e), so every drawing differs and none is rotation-symmetric.

import Foundation
import TestSupport
import MAMLCore
import MAMLTasks

struct OmniglotFixture {
    let root: String
    static let layout: [(part: String, alphabet: String, characters: Int)] = [
        ("images_background", "Alpha_A", 3), ("images_background", "Alpha_B", 3), ("images_evaluation", "Alpha_C", 3),
    ]
    static let side = 105
    let imagesPerCharacter: Int

    /// The character folders in the loader's order.
    static var characters: [String] {
        layout.flatMap { entry in (1...entry.characters).map { "\(entry.part)/\(entry.alphabet)/character0\($0)" } }
    }

    /// True where image `e` of character `g` has ink.
    static func ink(character g: Int, image e: Int) -> (Int, Int) -> Bool {
        var rng = RandomGenerator(seed: UInt64(g * 100 + e))
        let rects = (0..<3).map { _ -> (Int, Int, Int, Int) in
            let x = rng.int(below: 80), y = rng.int(below: 80)
            return (x, y, x + 5 + rng.int(below: 20), y + 5 + rng.int(below: 20))
        }
        return { x, y in rects.contains { x >= $0.0 && x < $0.2 && y >= $0.1 && y < $0.3 } }
    }

    /// The expected loaded image: ink 1, resized by area averaging.
    static func expected(character g: Int, image e: Int, size: Int) -> [Float] {
        let f = ink(character: g, image: e)
        var pixels = [Float](repeating: 1, count: side * side)
        for y in 0..<side { for x in 0..<side where f(x, y) { pixels[y * side + x] = 0 } }
        return resizeByAreaAveraging(GrayImage(width: side, height: side, pixels: pixels), to: size).map { 1 - $0 }
    }

    init(imagesPerCharacter: Int = 4) throws {
        self.imagesPerCharacter = imagesPerCharacter
        root = FileManager.default.temporaryDirectory.path + "/omniglot-fixture-" + UUID().uuidString
        for (g, folder) in Self.characters.enumerated() {
            let path = root + "/" + folder
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for e in 0..<imagesPerCharacter {
                let bytes = PNGTestWriter.gray1(width: Self.side, height: Self.side, ink: Self.ink(character: g, image: e))
                try PNGTestWriter.write(bytes, to: path + "/\(1000 + g)_\(String(format: "%02d", e + 1)).png")
            }
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}
