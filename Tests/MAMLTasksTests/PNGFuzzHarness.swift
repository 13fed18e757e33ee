// MARK: - What the PNG fuzzer does with one input (the Omniglot image reader)
//
// Shared by the libFuzzer target fuzz-png (Tests/fuzz/Sources/fuzz-png links to this file) and
// the normal test suite (PNGFuzzRegressionTests). The bytes become an image file of a tiny
// Omniglot layout and are read twice: by readGrayPNG (libpng's simplified API plus the side
// limit) and by OmniglotData, the loader of the omniglot task family (listing, decoding,
// size check against a second, valid 2x2 image, area-averaging resize). A thrown error is the
// expected refusal; a crash, a sanitizer report or a broken promise below is a finding.

#if canImport(MAMLTasks)
@testable import MAMLTasks
#endif
import Foundation

/// A scratch Omniglot folder: DATA/images_background/a/c/0.png is rewritten with each input,
/// DATA/images_evaluation/a/c/0.png is a valid 2x2 gray PNG.
struct PNGFuzzScratch: Sendable {
    let data: String
    let imagePath: String
    let otherPath: String

    /// A valid 2x2 8-bit gray PNG (zlib-compressed, written by a separate encoder).
    static let valid2x2: [UInt8] = [
        137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0,
        87, 221, 82, 248, 0, 0, 0, 12, 73, 68, 65, 84, 120, 218, 99, 96, 248, 15, 132, 0, 6, 0, 1, 255, 173,
        44, 55, 37, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130]

    /// Creates the layout under `root` (which must exist).
    init(root: String) throws {
        data = root + "/omniglot"
        let fm = FileManager.default
        for part in OmniglotData.parts {
            try fm.createDirectory(atPath: data + "/" + part + "/a/c", withIntermediateDirectories: true)
        }
        imagePath = data + "/images_background/a/c/0.png"
        otherPath = data + "/images_evaluation/a/c/0.png"
        guard fm.createFile(atPath: otherPath, contents: Data(Self.valid2x2)) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: otherPath])
        }
    }
}

/// Reads `bytes` as a PNG file and as the one drawing of an Omniglot folder. Returns a broken
/// promise (a decoded image out of range, a resize out of range, a refusal that does not name the
/// file), or nil. The output side (8...128, as the omniglot config allows) comes from the length.
func exercisePNG(_ bytes: [UInt8], in scratch: PNGFuzzScratch) -> String? {
    guard FileManager.default.createFile(atPath: scratch.imagePath, contents: Data(bytes)) else {
        return "cannot write \(scratch.imagePath)"
    }
    let size = 8 + bytes.count % 121
    do {
        let image = try readGrayPNG(path: scratch.imagePath)
        guard image.width >= 1, image.height >= 1, image.width <= maxPNGSide, image.height <= maxPNGSide,
              image.pixels.count == image.width * image.height else {
            return "decoded \(image.width)x\(image.height) with \(image.pixels.count) pixels"
        }
        if let bad = image.pixels.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            return "pixel \(bad) is \(image.pixels[bad]), outside [0, 1]"
        }
        let resized = resizeByAreaAveraging(image, to: size)
        guard resized.count == size * size else { return "resized to \(resized.count) values, not \(size)x\(size)" }
        // Area averages of values in [0, 1] stay in [0, 1] up to rounding.
        if let bad = resized.firstIndex(where: { !($0 >= -1e-5 && $0 <= 1 + 1e-5) }) {
            return "resized value \(bad) is \(resized[bad]) (\(image.width)x\(image.height) -> \(size))"
        }
    } catch {
        guard error.description.contains(scratch.imagePath), !error.message.isEmpty else {
            return "a refusal that does not name the file or give a reason: \(error)"
        }
    }
    do {
        let omniglot = try OmniglotData(data: scratch.data, size: size)
        // Both files decoded with one size: the input is a 2x2 image too.
        guard omniglot.characters.count == 2, omniglot.images.count == 2 * size * size,
              omniglot.firstImage == [0, 1, 2], omniglot.sourceWidth == 2, omniglot.sourceHeight == 2 else {
            return "OmniglotData loaded \(omniglot.characters.count) characters, \(omniglot.images.count) values"
        }
        if let bad = omniglot.images.firstIndex(where: { !($0 >= -1e-5 && $0 <= 1 + 1e-5) }) {
            return "OmniglotData value \(bad) is \(omniglot.images[bad])"
        }
    } catch {
        let text = "\(error)"
        guard text.contains(scratch.imagePath) || text.contains(scratch.otherPath) else {
            return "an Omniglot refusal that names neither image: \(text)"
        }
    }
    return nil
}
