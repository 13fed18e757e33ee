// MARK: - Encoding 8-bit images as JPEG (libjpeg-turbo, through MAMLImageCodecs)
//
// For making test data (the image-tree tool, round-trip tests), not for training: the task
// families only read images.

import MAMLImageCodecs

/// Why an image could not be encoded.
public struct ImageWriteError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// `image` (1 grey or 3 RGB channels) as the bytes of a baseline JPEG file at `quality` (1...100).
/// Colour keeps chroma at half resolution both ways (4:2:0, libjpeg's default and most photos')
/// unless `subsampleChroma` is false (4:4:4: sharper colour edges, larger files).
public func encodeJPEG(_ image: Image8, quality: Int, subsampleChroma: Bool = true) throws(ImageWriteError) -> [UInt8] {
    try image.checkWritable()
    var buffer = mi_buffer()
    let status = image.pixels.withUnsafeBufferPointer { p in
        mi_encode_jpeg(p.baseAddress, Int32(clamping: image.width), Int32(clamping: image.height),
                       Int32(clamping: image.channels), Int32(clamping: quality),
                       subsampleChroma ? 1 : 0, &buffer)
    }
    defer { mi_free_buffer(&buffer) }
    guard status == MI_OK, let bytes = buffer.bytes else {
        throw ImageWriteError(cText(buffer.error))
    }
    return Array(UnsafeBufferPointer(start: bytes, count: Int(buffer.size)))
}

extension Image8 {
    /// Throws unless this is a 1- or 3-channel image whose pixels fill it exactly.
    func checkWritable() throws(ImageWriteError) {
        guard channels == 1 || channels == 3 else { throw ImageWriteError("channels must be 1 or 3, got \(channels)") }
        guard width > 0, height > 0, pixels.count == width * height * channels else {
            throw ImageWriteError("a \(width)x\(height)x\(channels) image needs "
                                  + "\(max(0, width * height * channels)) bytes, it has \(pixels.count)")
        }
    }
}
