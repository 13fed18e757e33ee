// MARK: - An image file of either format, and resizing to the task's size
//
// The format comes from the file's first bytes, never its name (a .jpg that is a PNG reads).
// Resizing is area-weighted (a box filter): output pixel (i, j) is the mean of the input
// over the rectangle it covers, each input pixel weighted by its overlap. Exact averaging when
// shrinking, a blocky but well-defined enlargement, and no dependence on a library's filter.

#if canImport(Glibc)
import Glibc
#endif

/// Reads a JPEG or PNG file to 8-bit `channels` (1 or 3); errors name the file. Files larger
/// than `maxBytes` are refused before they are read.
public func readImage(path: String, channels: Int, maxBytes: Int = 256 << 20) throws(ImageReadError) -> Image8 {
    guard let file = fopen(path, "rb") else {
        throw ImageReadError(description: "\(path): cannot open: \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var info = stat()
    guard fstat(fileno(file), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        throw ImageReadError(description: "\(path): not a regular file")
    }
    let size = Int(info.st_size)
    guard size <= maxBytes else {
        throw ImageReadError(description: "\(path): \(size) bytes, more than the \(maxBytes) an image may have")
    }
    var bytes = [UInt8](repeating: 0, count: size)
    guard fread(&bytes, 1, size, file) == size else {
        throw ImageReadError(description: "\(path): cannot read: \(String(cString: strerror(errno)))")
    }
    if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(bytes, channels: channels, name: path) }
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
        do { return try readPNG8(path: path, channels: channels) } catch {
            throw ImageReadError(description: "\(path): \(error.message)")
        }
    }
    throw ImageReadError(description: "\(path): not a JPEG or PNG image (it starts with "
                         + bytes.prefix(4).map { String($0, radix: 16) }.joined(separator: " ") + ")")
}

/// `image` resized to `size` x `size` by area weighting, as Floats in [0, 1] (channel-major:
/// all of channel 0, then channel 1, ... as a CHW tensor).
public func resizeArea(_ image: Image8, to size: Int) -> [Float] {
    let c = image.channels, sx = Double(image.width) / Double(size), sy = Double(image.height) / Double(size)
    var out = [Float](repeating: 0, count: c * size * size)
    for i in 0..<size {
        let y0 = Double(i) * sy, y1 = Double(i + 1) * sy
        for j in 0..<size {
            let x0 = Double(j) * sx, x1 = Double(j + 1) * sx
            var sums = [Double](repeating: 0, count: c), area = 0.0
            for y in Int(y0)..<min(image.height, Int(y1.rounded(.up))) {
                let wy = min(y1, Double(y + 1)) - max(y0, Double(y))
                for x in Int(x0)..<min(image.width, Int(x1.rounded(.up))) {
                    let w = wy * (min(x1, Double(x + 1)) - max(x0, Double(x)))
                    guard w > 0 else { continue }
                    area += w
                    let p = (y * image.width + x) * c
                    for k in 0..<c { sums[k] += w * Double(image.pixels[p + k]) }
                }
            }
            for k in 0..<c { out[(k * size + i) * size + j] = Float(sums[k] / area / 255) }
        }
    }
    return out
}
