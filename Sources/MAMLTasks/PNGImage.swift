// MARK: - Reading grayscale PNGs (libpng's simplified API)
//
// png_image_* reports failures in png_image.message rather than by longjmp, so
// it is safe to call from Swift. Any PNG (1-16 bit, gray, palette, RGB, with or
// without alpha) is converted by libpng to 8-bit gray + alpha; we composite onto
// white (a transparent pixel is paper, not ink) and return gray levels in [0, 1].

import MAMLCore
internal import CPNG
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A grayscale image: `width * height` values in [0, 1], row-major, 0 black and 1 white.
public struct GrayImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        self.width = width; self.height = height; self.pixels = pixels
    }
}

/// Why a PNG could not be read: the file and libpng's message.
public struct PNGReadError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "cannot read \(path) as a PNG image: \(message)" }
}

/// The largest width or height readGrayPNG accepts (Omniglot's images are 105x105).
let maxPNGSide = 16384

/// Decodes the PNG file at `path` to gray levels in [0, 1] (alpha composited onto white).
public func readGrayPNG(path: String) throws(PNGReadError) -> GrayImage {
    let file: [UInt8]
    do { file = try readImageBytes(path: path) } catch { throw PNGReadError(path: path, message: error.reason) }
    let (width, height, bytes) = try decodePNGPixels(file, name: path, format: png_uint_32(PNG_FORMAT_GA), stride: 2)
    var pixels = [Float](repeating: 0, count: width * height)
    for i in 0..<(width * height) {
        let gray = Float(bytes[2 * i]) / 255, alpha = Float(bytes[2 * i + 1]) / 255
        pixels[i] = alpha * gray + (1 - alpha)
    }
    return GrayImage(width: width, height: height, pixels: pixels)
}

/// Decodes a PNG file held in `file` to 8-bit `channels` (1 grey or 3 RGB; any PNG colour type and
/// depth, alpha composited onto white like readGrayPNG); `name` labels errors.
public func decodePNG(_ file: [UInt8], channels: Int, name: String) throws(PNGReadError) -> Image8 {
    guard channels == 1 || channels == 3 else { throw PNGReadError(path: name, message: "channels must be 1 or 3") }
    let stride = channels + 1   // with alpha, composited below
    let format = png_uint_32(channels == 1 ? PNG_FORMAT_GA : PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)   // RGBA (the macro does not import)
    let (width, height, bytes) = try decodePNGPixels(file, name: name, format: format, stride: stride)
    var pixels = [UInt8](repeating: 0, count: width * height * channels)
    for i in 0..<(width * height) {
        let alpha = Int(bytes[i * stride + channels])
        for c in 0..<channels {
            // value * alpha + 255 * (1 - alpha), rounded: transparent is white paper.
            pixels[i * channels + c] = UInt8((Int(bytes[i * stride + c]) * alpha + 255 * (255 - alpha) + 127) / 255)
        }
    }
    return Image8(width: width, height: height, channels: channels, pixels: pixels)
}

/// The PNG held in `file` decoded to `format` (`stride` bytes per pixel) by libpng's simplified
/// API: its chunk lengths and its size (the file's claim: a corrupt or hostile one must not size
/// a buffer) are checked first. libpng keeps pointers to the png_image (its reader's io_ptr) and
/// to `file`'s bytes between begin and finish, so the png_image lives on the heap, never moved.
private func decodePNGPixels(_ file: [UInt8], name: String, format: png_uint_32,
                             stride: Int) throws(PNGReadError) -> (Int, Int, [UInt8]) {
    if let problem = pngChunkProblem(file) { throw PNGReadError(path: name, message: problem) }
    let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
    image.initialize(to: png_image())
    defer { png_image_free(image); image.deallocate() }
    image.pointee.version = png_uint_32(PNG_IMAGE_VERSION)
    let result = file.withUnsafeBytes { raw -> Result<(Int, Int, [UInt8]), PNGReadError> in
        guard png_image_begin_read_from_memory(image, raw.baseAddress, raw.count) != 0 else {
            return .failure(PNGReadError(path: name, message: pngMessage(image)))
        }
        let width = Int(image.pointee.width), height = Int(image.pointee.height)
        guard width <= maxPNGSide && height <= maxPNGSide else {
            return .failure(PNGReadError(path: name, message: "the header says \(width)x\(height) pixels, "
                                         + "more than the \(maxPNGSide)x\(maxPNGSide) this reader accepts"))
        }
        image.pointee.format = format
        var bytes = [UInt8](repeating: 0, count: width * height * stride)
        let ok = bytes.withUnsafeMutableBytes { b in
            png_image_finish_read(image, nil, b.baseAddress, png_int_32(width * stride), nil) != 0
        }
        guard ok else { return .failure(PNGReadError(path: name, message: pngMessage(image))) }
        return .success((width, height, bytes))
    }
    return try result.get()
}

/// Why the chunk lengths of the PNG in `file` cannot be right, or nil (also when it is no PNG:
/// libpng then says so). libpng (1.6.39) allocates and zeroes a chunk's declared length before
/// reading it: a 129-byte file whose tEXt chunk claimed 1.2 GB cost 1.2 GB and seconds before
/// "Read Error" (found by the png fuzzer, docs/fuzzing.md). So every chunk up to IEND must fit.
func pngChunkProblem(_ file: [UInt8]) -> String? {
    let size = file.count
    guard file.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return nil }
    var offset = 8
    while offset + 8 <= size {
        let length = file[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        let typeBytes = file[offset + 4..<offset + 8]
        let type = typeBytes.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) })
            ? "'" + String(decoding: typeBytes, as: UTF8.self) + "'"
            : "of type 0x" + typeBytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        if length > size - offset - 8 {
            return "chunk \(type) at byte \(offset) claims \(length) bytes of data, "
                + "but the file has \(size - offset - 8) bytes left"
        }
        if typeBytes.elementsEqual("IEND".utf8) { break }
        offset += 12 + length
    }
    return nil
}

/// libpng's NUL-terminated message buffer as a String.
func pngMessage(_ image: UnsafeMutablePointer<png_image>) -> String {
    let text = cText(image.pointee.message)
    return text.isEmpty ? "libpng gave no reason" : text
}
