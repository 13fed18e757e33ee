// MARK: - Encoding 8-bit images as PNG (libpng's simplified API)
//
// For making test data (the image-tree tool), like encodeJPEG: lossless, so a PNG tree holds
// exactly the generated pixels.

internal import CPNG

/// `image` (1 grey or 3 RGB channels) as the bytes of an 8-bit PNG file.
public func encodePNG(_ image: Image8) throws(ImageWriteError) -> [UInt8] {
    try image.checkWritable()
    var png = png_image()
    png.version = png_uint_32(PNG_IMAGE_VERSION)
    png.width = png_uint_32(image.width)
    png.height = png_uint_32(image.height)
    png.format = image.channels == 1 ? png_uint_32(PNG_FORMAT_GRAY) : png_uint_32(PNG_FORMAT_FLAG_COLOR)   // RGB (the macro does not import)
    let stride = png_int_32(image.width * image.channels)
    // The first call (no memory) sizes the file, the second writes it.
    var size = 0
    var bytes: [UInt8] = []
    for pass in 0..<2 {
        let ok = image.pixels.withUnsafeBytes { p in
            bytes.withUnsafeMutableBytes { out in
                png_image_write_to_memory(&png, pass == 0 ? nil : out.baseAddress, &size, 0, p.baseAddress, stride, nil) != 0
            }
        }
        guard ok else {
            let message = withUnsafeMutablePointer(to: &png) { pngMessage($0) }
            png_image_free(&png)
            throw ImageWriteError("cannot encode PNG: \(message)")
        }
        if pass == 0 { bytes = [UInt8](repeating: 0, count: size) }
    }
    return Array(bytes.prefix(size))
}
