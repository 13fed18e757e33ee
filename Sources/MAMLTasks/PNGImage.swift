// MARK: - Reading grayscale PNGs (libpng's simplified API)
//
// png_image_* reports failures in png_image.message rather than by longjmp, so
// it is safe to call from Swift. Any PNG (1-16 bit, gray, palette, RGB, with or
// without alpha) is converted by libpng to 8-bit gray + alpha; we composite onto
// white (a transparent pixel is paper, not ink) and return gray levels in [0, 1].

import MAMLCore
internal import CPNG

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
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    guard png_image_begin_read_from_file(&image, path) != 0 else {
        let message = pngMessage(&image)
        png_image_free(&image)
        throw PNGReadError(path: path, message: message)
    }
    let width = Int(image.width), height = Int(image.height)
    // The header's size is the file's claim: a corrupt or hostile one must not size the buffer.
    guard width <= maxPNGSide && height <= maxPNGSide else {
        png_image_free(&image)
        throw PNGReadError(path: path, message: "the header says \(width)x\(height) pixels, "
                           + "more than the \(maxPNGSide)x\(maxPNGSide) this reader accepts")
    }
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

/// libpng's NUL-terminated message buffer as a String.
private func pngMessage(_ image: inout png_image) -> String {
    let text = withUnsafeBytes(of: &image.message) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
    return text.isEmpty ? "libpng gave no reason" : text
}
