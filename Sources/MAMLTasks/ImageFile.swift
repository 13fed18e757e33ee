// MARK: - An image file of either format, and resizing to the task's size
//
// The format comes from the file's first bytes, never its name (a .jpg that is a PNG reads).
// Resizing is area-weighted (a box filter): output pixel (i, j) is the mean of the input
// over the rectangle it covers, each input pixel weighted by its overlap (areaWeights in
// ImageResampling.swift, separable: rows, then columns). Exact averaging when shrinking, a
// blocky but well-defined enlargement, and no dependence on a library's filter.

#if canImport(Glibc)
import Glibc
#endif

/// The largest image file read (a hostile 10 GB "photo" must not be read into memory).
public let maxImageFileBytes = 256 << 20

/// Reads a whole image file; a missing, unreadable, irregular or oversized file is refused
/// with the reason (the caller names the file).
func readImageBytes(path: String, maxBytes: Int = maxImageFileBytes) throws(ImageReadError.Reason) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    guard fd >= 0 else { throw .init(reason: "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw .init(reason: "not a regular file") }
    let size = Int(info.st_size)
    guard size <= maxBytes else { throw .init(reason: "\(size) bytes, more than the \(maxBytes) an image may have") }
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let r = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if r < 0 && errno == EINTR { continue }
        guard r > 0 else {
            throw .init(reason: r < 0 ? "cannot read: \(String(cString: strerror(errno)))" : "the file shrank while read")
        }
        done += r
    }
    return bytes
}

/// Decodes a JPEG or PNG held in `bytes` to 8-bit `channels` (1 or 3); `name` labels errors.
public func decodeImage(_ bytes: [UInt8], channels: Int, name: String) throws(ImageReadError) -> Image8 {
    if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try decodeJPEG(bytes, channels: channels, name: name) }
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
        do { return try decodePNG(bytes, channels: channels, name: name) } catch {
            throw ImageReadError(description: "\(name): \(error.message)")
        }
    }
    let start = bytes.isEmpty ? "it is empty" : "it starts with "
        + bytes.prefix(4).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
    throw ImageReadError(description: "\(name): not a JPEG or PNG image (\(start))")
}

/// Reads a JPEG or PNG file to 8-bit `channels` (1 or 3); errors name the file.
public func readImage(path: String, channels: Int, maxBytes: Int = maxImageFileBytes) throws(ImageReadError) -> Image8 {
    let bytes: [UInt8]
    do { bytes = try readImageBytes(path: path, maxBytes: maxBytes) } catch {
        throw ImageReadError(description: "\(path): \(error.reason)")
    }
    return try decodeImage(bytes, channels: channels, name: path)
}

/// Area weights of `n` cells resized to `out`, flattened: output k takes `count[k]` input cells
/// from `first[k]` with weights `weights[start[k] ..< start[k] + count[k]]` (areaWeights, in one array).
private struct AreaKernel {
    var first: [Int] = [], start: [Int] = [], count: [Int] = [], weights: [Double] = []
    init(from n: Int, to out: Int) {
        for (f, w) in areaWeights(from: n, to: out) {
            first.append(f); start.append(weights.count); count.append(w.count); weights += w
        }
    }
}

/// `image` resized to `size` x `size` by area weighting into `out` (CHW: all of channel 0, then
/// channel 1, ...), as values 0...255 passed through `store`. Separable: columns, then rows.
@inline(__always)
private func resizeArea<T>(_ image: Image8, to size: Int, into out: UnsafeMutablePointer<T>, _ store: (Double) -> T) {
    let c = image.channels, w = image.width, h = image.height
    let cols = AreaKernel(from: w, to: size), rows = AreaKernel(from: h, to: size)
    let tmp = UnsafeMutablePointer<Double>.allocate(capacity: h * size)   // one channel, columns resized
    defer { tmp.deallocate() }
    image.pixels.withUnsafeBufferPointer { px in
        cols.weights.withUnsafeBufferPointer { cw in
            rows.weights.withUnsafeBufferPointer { rw in
                for k in 0..<c {
                    for y in 0..<h {
                        let row = px.baseAddress! + y * w * c + k
                        for j in 0..<size {
                            var s = 0.0
                            let first = cols.first[j], weights = cw.baseAddress! + cols.start[j]
                            for t in 0..<cols.count[j] { s += weights[t] * Double(row[(first + t) * c]) }
                            tmp[y * size + j] = s
                        }
                    }
                    let plane = out + k * size * size
                    for i in 0..<size {
                        let first = rows.first[i], weights = rw.baseAddress! + rows.start[i]
                        for j in 0..<size {
                            var s = 0.0
                            for t in 0..<rows.count[i] { s += weights[t] * tmp[(first + t) * size + j] }
                            plane[i * size + j] = store(s)
                        }
                    }
                }
            }
        }
    }
}

/// `image` resized to `size` x `size` by area weighting, as Floats in [0, 1], CHW.
public func resizeArea(_ image: Image8, to size: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: image.channels * size * size) { buffer, count in
        resizeArea(image, to: size, into: buffer.baseAddress!) { Float($0 / 255) }
        count = buffer.count
    }
}

/// `image` resized to `size` x `size` by area weighting, rounded to bytes, CHW (what the cache holds).
public func resizeArea8(_ image: Image8, to size: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: image.channels * size * size) { buffer, count in
        resizeArea8(image, to: size, into: buffer.baseAddress!)
        count = buffer.count
    }
}

/// resizeArea8 into `out` (channels x size x size bytes).
func resizeArea8(_ image: Image8, to size: Int, into out: UnsafeMutablePointer<UInt8>) {
    resizeArea(image, to: size, into: out) { UInt8(min(255, max(0, $0.rounded()))) }
}

extension ImageReadError {
    /// Why a file could not be read, before the caller names it.
    struct Reason: Error { var reason: String }
}
