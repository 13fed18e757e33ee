// MARK: - JPEG files as 8-bit pixels (libjpeg-turbo, through MAMLImageCodecs)

import MAMLImageCodecs
#if canImport(Glibc)
import Glibc
#endif

/// A decoded image: `height` rows of `width` pixels of `channels` bytes (1 grey, 3 RGB).
public struct Image8: Sendable, Equatable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
    /// The channel values at (x, y).
    public func pixel(x: Int, y: Int) -> ArraySlice<UInt8> {
        let i = (y * width + x) * channels
        return pixels[i ..< i + channels]
    }
}

/// Why an image could not be read; the message names the file.
public struct ImageReadError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

/// The largest width or height decoded (MiniImageNet's originals are ~500 px; 16384 is generous).
public let maxImageSide = 16384

/// Decodes a JPEG held in memory to `channels` (1 or 3); `name` labels errors.
public func decodeJPEG(_ bytes: [UInt8], channels: Int, name: String = "image",
                       maxSide: Int = maxImageSide) throws(ImageReadError) -> Image8 {
    var image = mi_image()
    let status = bytes.withUnsafeBufferPointer { b in
        mi_decode_jpeg(b.baseAddress, b.count, Int32(channels), Int32(maxSide), &image)
    }
    defer { mi_free(&image) }
    guard status == MI_OK, let pixels = image.pixels else {
        throw ImageReadError(description: "\(name): \(cText(image.error))")
    }
    let count = Int(image.width) * Int(image.height) * Int(image.channels)
    return Image8(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                  pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
}

/// A C struct's NUL-terminated char array (imported as a tuple) as a String.
func cText<Chars>(_ chars: Chars) -> String {
    withUnsafeBytes(of: chars) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}
