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
    var image = try beginPNG(path: path)
    let width = Int(image.width), height = Int(image.height)
    image.format = png_uint_32(PNG_FORMAT_GA)
    var bytes = [UInt8](repeating: 0, count: width * height * 2)
    let ok = bytes.withUnsafeMutableBytes { b in
        png_image_finish_read(&image, nil, b.baseAddress, png_int_32(width * 2), nil) != 0
    }
    guard ok else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw PNGReadError(path: path, message: message)
    }
    var pixels = [Float](repeating: 0, count: width * height)
    for i in 0..<(width * height) {
        let gray = Float(bytes[2 * i]) / 255, alpha = Float(bytes[2 * i + 1]) / 255
        pixels[i] = alpha * gray + (1 - alpha)
    }
    return GrayImage(width: width, height: height, pixels: pixels)
}

/// Decodes the PNG file at `path` to 8-bit `channels` (1 grey or 3 RGB; any PNG colour type and
/// depth, alpha composited onto white like readGrayPNG).
public func readPNG8(path: String, channels: Int) throws(PNGReadError) -> Image8 {
    guard channels == 1 || channels == 3 else { throw PNGReadError(path: path, message: "channels must be 1 or 3") }
    var image = try beginPNG(path: path)
    let width = Int(image.width), height = Int(image.height)
    let stride = channels + 1   // with alpha, composited below
    image.format = png_uint_32(channels == 1 ? PNG_FORMAT_GA : PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)   // RGBA (the macro does not import)
    var bytes = [UInt8](repeating: 0, count: width * height * stride)
    let ok = bytes.withUnsafeMutableBytes { b in
        png_image_finish_read(&image, nil, b.baseAddress, png_int_32(width * stride), nil) != 0
    }
    guard ok else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw PNGReadError(path: path, message: message)
    }
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

/// The PNG at `path` opened and its header read; its chunk lengths and its size (the file's
/// claim: a corrupt or hostile one must not size a buffer) checked first.
private func beginPNG(path: String) throws(PNGReadError) -> png_image {
    if let problem = pngChunkProblem(path: path) { throw PNGReadError(path: path, message: problem) }
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    guard png_image_begin_read_from_file(&image, path) != 0 else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw PNGReadError(path: path, message: message)
    }
    let width = Int(image.width), height = Int(image.height)
    guard width <= maxPNGSide && height <= maxPNGSide else {
        png_image_free(&image)
        throw PNGReadError(path: path, message: "the header says \(width)x\(height) pixels, "
                           + "more than the \(maxPNGSide)x\(maxPNGSide) this reader accepts")
    }
    return image
}

/// Why the chunk lengths of the PNG file at `path` cannot be right, or nil (also when it cannot be
/// read or is no PNG: libpng then says so). libpng (1.6.39) allocates and zeroes a chunk's
/// declared length before reading it: a 129-byte file whose tEXt chunk claimed 1.2 GB cost
/// 1.2 GB and seconds before "Read Error" (found by the png fuzzer, docs/fuzzing.md). So every
/// chunk up to IEND must fit in the file; only the chunk headers are read.
func pngChunkProblem(path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    guard fseeko(file, 0, SEEK_END) == 0 else { return nil }
    let size = ftello(file)
    var header = [UInt8](repeating: 0, count: 8)
    guard fseeko(file, 0, SEEK_SET) == 0, fread(&header, 1, 8, file) == 8,
          header == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
    var offset: off_t = 8
    while offset + 8 <= size {
        guard fseeko(file, offset, SEEK_SET) == 0, fread(&header, 1, 8, file) == 8 else { return nil }
        let length = header[0..<4].reduce(off_t(0)) { $0 << 8 | off_t($1) }
        let typeBytes = header[4..<8]
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
func pngMessage(_ image: inout png_image) -> String {
    let text = cText(image.message)
    return text.isEmpty ? "libpng gave no reason" : text
}
