// MARK: - An image folder decoded once: the 8-bit cache, memory-mapped
//
// Every image is decoded (JPEG or PNG, by content), converted to `channels` and resized by area
// weighting to size x size, then rounded to bytes: the cache holds 8-bit pixels, never floats
// (MiniImageNet's 60,000 images at 84x84x3 are 1.27 GB as bytes, 5 GB as floats). Later runs
// memory-map it: start-up costs a listing of the folder, and resident memory is the pages the
// tasks touch, at most the cache's size.
//
// Cache file (little-endian), written atomically (AtomicFile.Writer: complete or absent):
//   0    8  magic "MAMLIMGC"
//   8    4  format version (cacheVersion)
//   12   4  header length H
//   16   8  payload offset P (4096: page-aligned pixels)
//   24   8  payload length L = images x channels x size x size
//   32   4  CRC-32 of the header bytes
//   P    L  pixels: image after image (classes in listing order), each CHW bytes
//   P+L  H  header, JSON: settings, the listing's signature, the content fingerprint, each class's
//            name, split, image count and per-channel pixel sums (for the normalisation)
// A cache is used only when its version, settings and signature (every source file's path, size
// and modification time) match; otherwise it is rebuilt, saying why. Name: the SHA-256 of the
// folder's real path and the settings, so two folders or two sizes never share one.
//
// The content fingerprint is the SHA-256 over each file's split, class, relative path and the
// SHA-256 of its bytes (not the decoded pixels: independent of the decoder's version). A
// checkpoint records it; `eval` on another machine recomputes it from the files.

import MAMLCore
import MAMLSchema
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One class of a decoded image folder.
public struct ImageFolderClass: Sendable, Equatable {
    public var name: String
    /// The split its folder or CSV file put it in; nil when the split is drawn.
    public var split: TaskSplit?
    public var imageCount: Int
    /// Per channel: the sum of the class's stored bytes and of their squares (for the normalisation).
    public var sums: [Double], squares: [Double]
}

/// The decoded, resized 8-bit images of an image folder (see the file comment).
public final class ImageFolderData: @unchecked Sendable {   // immutable after init
    /// The cache format; a file of another version is rebuilt.
    public static let cacheVersion: UInt32 = 1
    static let magic: [UInt8] = Array("MAMLIMGC".utf8)
    static let payloadOffset = 4096

    public let data: String, layout: ImageFolderLayout, size: Int, channels: Int
    /// `data` as an absolute path without symlinks (what checkpoints record: eval runs from any folder).
    public let absoluteData: String
    public let classes: [ImageFolderClass]
    /// Images of class c: firstImage[c] ..< firstImage[c + 1].
    public let firstImage: [Int]
    /// SHA-256 of the source files (see the file comment), 64 hex digits.
    public let fingerprint: String
    /// The cache file used or written, nil when the images are held in memory only.
    public let cachePath: String?
    /// What loading did and found, for the user (cache built or used, files skipped, sizes mixed).
    public let notes: [String]
    /// Wall-clock seconds of the load, and whether it decoded the images (a cold load).
    public let loadSeconds: Double, decoded: Bool

    /// The pixels: mapped from the cache, or owned (no cache could be written); `release` frees them.
    private let pixels: UnsafePointer<UInt8>
    private let release: @Sendable () -> Void

    public var imageCount: Int { firstImage.last ?? 0 }
    public var bytesPerImage: Int { channels * size * size }

    /// Image `index`'s CHW bytes.
    @inline(__always)
    public func image(_ index: Int) -> UnsafePointer<UInt8> { pixels + index * bytesPerImage }

    deinit { release() }

    /// Loads `data`: from the cache in `cacheDirectory` when it matches, else by decoding every
    /// image (and writing the cache there when it can; nil: no cache). Errors name the file.
    public init(data: String, layout: ImageFolderLayout, size: Int, channels: Int,
                cacheDirectory: String?) throws(MAMLError) {
        let start = monotonicSeconds()
        // Paths are built as data + "/" + name: "/" and "dir/" would give "//bin" and "dir//c".
        var data = data
        while data.count > 1 && data.hasSuffix("/") { data.removeLast() }
        if data == "/" { data = "" }
        let listing = try listImageFolder(data: data.isEmpty ? "/" : data, layout: layout, root: data)
        self.data = data.isEmpty ? "/" : data; self.layout = listing.layout; self.size = size; self.channels = channels
        absoluteData = realPath(self.data)
        var notes: [String] = []
        if !listing.skipped.isEmpty {
            notes.append("skipped \(listing.skipped.count) file\(listing.skipped.count == 1 ? "" : "s") that "
                + "\(listing.skipped.count == 1 ? "is" : "are") not .jpg, .jpeg or .png (\(data)/\(listing.skipped[0])"
                + (listing.skipped.count > 1 ? ", ..." : "") + ")")
        }
        let settings = Self.settingsJSON(layout: listing.layout, size: size, channels: channels)
        let name = Self.cacheName(data: data.isEmpty ? "/" : data, settings: settings)
        let cachePath = cacheDirectory.map { $0 + "/" + name }

        // A cache that matches: map it.
        if let cachePath, fileKind(cachePath) == .file {
            switch Self.openCache(cachePath, settings: settings, listing: listing) {
            case .success(let mapped):
                (classes, firstImage, fingerprint) = (mapped.classes, mapped.firstImage, mapped.fingerprint)
                (pixels, release) = ((mapped.base + Self.payloadOffset).assumingMemoryBound(to: UInt8.self), mapped.release)
                self.cachePath = cachePath; decoded = false
                self.notes = notes + ["using the decoded cache \(cachePath)"]
                loadSeconds = monotonicSeconds() - start
                return
            case .failure(let why):
                notes.append("rebuilding the decoded cache \(cachePath): \(why)")
            }
        }

        // Decode: into the cache file when one can be written, else (or if writing fails) into memory.
        var built: Decoded? = nil
        var written: String? = nil
        if let cachePath, let directory = cacheDirectory {
            do {
                try makeDirectories(directory)
                AtomicFile.removeStaleTemporaries(of: cachePath)   // left by a run killed while decoding
                let writer = try CacheSink(path: cachePath)
                built = try Self.decode(listing, data: data, size: size, channels: channels, into: writer)
                try writer.finish(header: Self.header(settings: settings, listing: listing, decoded: built!))
                written = cachePath
            } catch let failure as CacheWriteFailure {
                notes.append("cannot write the decoded cache \(cachePath): \(failure.reason); decoding into memory")
                built = nil
            } catch {
                throw Self.decodingError(error, data: data)
            }
        }
        if let written {
            switch Self.openCache(written, settings: settings, listing: listing) {
            case .success(let mapped):
                (classes, firstImage, fingerprint) = (mapped.classes, mapped.firstImage, mapped.fingerprint)
                (pixels, release) = ((mapped.base + Self.payloadOffset).assumingMemoryBound(to: UInt8.self), mapped.release)
            case .failure(let why):
                throw imageFolderError("the decoded cache \(written) just written does not read back: \(why)")
            }
            notes.append("decoded \(listing.imageCount) images of \(listing.classes.count) classes into \(written)")
        } else {
            let memory = MemorySink(bytes: listing.imageCount * channels * size * size)
            let d: Decoded
            do { d = try Self.decode(listing, data: data, size: size, channels: channels, into: memory) }
            catch { throw Self.decodingError(error, data: data) }
            built = d
            (classes, firstImage, fingerprint) = (d.classes, d.firstImage, d.fingerprint)
            let buffer = memory.buffer
            let owned = UnsafeMutableSendable(buffer)
            (pixels, release) = (UnsafePointer(buffer), { owned.pointer.deallocate() })
            notes.append("decoded \(listing.imageCount) images of \(listing.classes.count) classes (held in memory)")
        }
        if let sizes = built?.sourceSizes, sizes.count > 1 {
            let shown = sizes.prefix(3).map { "\($0.example) is \($0.width)x\($0.height)" }.joined(separator: ", ")
            notes.append("the images have \(sizes.count) different sizes (\(shown)\(sizes.count > 3 ? ", ..." : "")); "
                + "all are resized to \(size)x\(size)")
        }
        self.cachePath = written; decoded = true; self.notes = notes
        loadSeconds = monotonicSeconds() - start
    }

    /// A failure of `decode` as the error to throw: a bad file's (already named) as it is.
    static func decodingError(_ error: any Error, data: String) -> MAMLError {
        (error as? MAMLError) ?? imageFolderError("decoding \(data): \(error)")
    }

    // MARK: Names and settings

    static func settingsJSON(layout: ImageFolderLayout, size: Int, channels: Int) -> JSONValue {
        .object(JSONObject([("layout", .string(layout.rawValue)), ("size", JSONValue(integer: size)),
                            ("channels", JSONValue(integer: channels)), ("resize", .string("area")),
                            ("version", JSONValue(integer: Int(cacheVersion)))]))
    }

    /// The cache's file name for `data` (its real path) and `settings`.
    static func cacheName(data: String, settings: JSONValue) -> String {
        let real = realPath(data)
        let key = sha256Hex(Array((real + "\n" + settings.serialized(.compact, sortedKeys: true)).utf8))
        return "image-folder-" + key.prefix(16) + ".cache"
    }

    /// The user's cache folder: $MAML_CACHE_DIR, else $XDG_CACHE_HOME/maml-zoo, else
    /// $HOME/.cache/maml-zoo; nil when MAML_CACHE_DIR is "off" (decode into memory every run).
    public static func defaultCacheDirectory() -> String? {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        if let dir = env("MAML_CACHE_DIR") { return dir == "off" ? nil : dir }
        if let xdg = env("XDG_CACHE_HOME") { return xdg + "/maml-zoo" }
        if let home = env("HOME") { return home + "/.cache/maml-zoo" }
        return nil
    }

    // MARK: Decoding

    /// What decoding produced besides the pixels.
    struct Decoded {
        var classes: [ImageFolderClass]
        var firstImage: [Int]
        var fingerprint: String
        /// The distinct source sizes, with an example file each.
        var sourceSizes: [(width: Int, height: Int, example: String)]
    }

    /// Images decoded in parallel per chunk, written in order.
    static let chunkImages = 256

    /// Decodes every listed image in order into `sink`; the first bad file (in listing order) is
    /// the error.
    static func decode(_ listing: ImageFolderListing, data: String, size: Int, channels: Int,
                       into sink: some PixelSink) throws -> Decoded {
        let files = listing.classes.flatMap { c in c.files.map { (c, $0) } }
        let perImage = channels * size * size
        var classes = listing.classes.map {
            ImageFolderClass(name: $0.name, split: $0.split, imageCount: $0.files.count,
                             sums: Array(repeating: 0, count: channels), squares: Array(repeating: 0, count: channels))
        }
        var firstImage = [0]
        for c in listing.classes { firstImage.append(firstImage.last! + c.files.count) }
        var fingerprintRecord: [UInt8] = []
        var sizes: [(width: Int, height: Int, example: String)] = []

        let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: chunkImages * perImage)
        defer { chunk.deallocate() }
        var classIndex = 0
        for chunkStart in stride(from: 0, to: files.count, by: chunkImages) {
            let count = min(chunkImages, files.count - chunkStart)
            var results = [DecodeResult?](repeating: nil, count: count)
            let out = UnsafeMutableSendable(chunk)
            results.withUnsafeMutableBufferPointer { slots in
                let slotsOut = UnsafeMutableSendable(slots.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: count) { i in
                    let relative = files[chunkStart + i].1
                    slotsOut.pointer[i] = decodeOne(path: data + "/" + relative, channels: channels, size: size,
                                                    into: out.pointer + i * perImage)
                }
            }
            for i in 0..<count {
                let index = chunkStart + i
                while index >= firstImage[classIndex + 1] { classIndex += 1 }
                let result = results[i]!
                if let error = result.error { throw imageFolderError(error) }
                let (entry, relative) = files[index]
                fingerprintRecord += Array("\(entry.split?.rawValue ?? "")\0\(entry.name)\0\(relative)\0".utf8)
                fingerprintRecord += result.digest
                if !sizes.contains(where: { $0.width == result.width && $0.height == result.height }) {
                    sizes.append((result.width, result.height, data + "/" + relative))
                }
                for k in 0..<channels {
                    let (sum, square) = byteSums(chunk + i * perImage + k * size * size, count: size * size)
                    classes[classIndex].sums[k] += Double(sum); classes[classIndex].squares[k] += Double(square)
                }
            }
            try sink.append(UnsafeRawBufferPointer(start: chunk, count: count * perImage))
        }
        return Decoded(classes: classes, firstImage: firstImage, fingerprint: sha256Hex(fingerprintRecord),
                       sourceSizes: sizes)
    }

    struct DecodeResult {
        var error: String?
        var digest: [UInt8] = []
        var width = 0, height = 0
    }

    /// Reads, hashes, decodes and resizes one file into `out` (thread-safe).
    static func decodeOne(path: String, channels: Int, size: Int, into out: UnsafeMutablePointer<UInt8>) -> DecodeResult {
        do {
            let bytes: [UInt8]
            do { bytes = try readImageBytes(path: path) } catch { return DecodeResult(error: "\(path): \(error.reason)") }
            let image = try decodeImage(bytes, channels: channels, name: path)
            resizeArea8(image, to: size, into: out)
            return DecodeResult(error: nil, digest: sha256Digest(bytes), width: image.width, height: image.height)
        } catch {
            return DecodeResult(error: error.description)
        }
    }

    // MARK: The cache file

    static func header(settings: JSONValue, listing: ImageFolderListing, decoded: Decoded) -> [UInt8] {
        let classes: [JSONValue] = decoded.classes.map { c in
            .object(JSONObject([("name", .string(c.name)), ("split", c.split.map { .string($0.rawValue) } ?? .null),
                                ("images", JSONValue(integer: c.imageCount)),
                                ("sums", .array(c.sums.map { .number($0) })),
                                ("squares", .array(c.squares.map { .number($0) }))]))
        }
        return Array(JSONValue.object(JSONObject([
            ("settings", settings), ("signature", .string(listing.signature)),
            ("fingerprint", .string(decoded.fingerprint)), ("classes", .array(classes)),
        ])).serialized(.compact, sortedKeys: true).utf8)
    }

    struct Mapped {
        var classes: [ImageFolderClass], firstImage: [Int], fingerprint: String
        var base: UnsafeRawPointer
        var release: @Sendable () -> Void
    }

    struct CacheProblem: Error { var reason: String }

    /// The cache at `path` mapped and checked against `settings` and `listing`, or why it cannot be used.
    static func openCache(_ path: String, settings: JSONValue, listing: ImageFolderListing) -> Result<Mapped, CacheProblem> {
        func fail(_ why: String) -> Result<Mapped, CacheProblem> { .failure(CacheProblem(reason: why)) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return fail("cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return fail("not a regular file") }
        let fileSize = Int(st.st_size)
        guard fileSize >= payloadOffset else { return fail("\(fileSize) bytes, too short to be a cache") }
        guard let mapping = mmap(nil, fileSize, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            return fail("cannot map: \(String(cString: strerror(errno)))")
        }
        let raw = UnsafeRawPointer(mapping)
        let length = fileSize
        let unmap: @Sendable () -> Void = { [address = UInt(bitPattern: raw)] in
            munmap(UnsafeMutableRawPointer(bitPattern: address), length)
        }
        func field<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T { T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        let problem: String? = {
            guard Array(UnsafeRawBufferPointer(start: raw, count: 8)) == magic else { return "not a maml-zoo image cache" }
            let version = field(8, UInt32.self)
            guard version == cacheVersion else { return "cache format \(version), this build reads \(cacheVersion)" }
            let headerLength = Int(field(12, UInt32.self)), offset = Int(field(16, UInt64.self)),
                payload = Int(field(24, UInt64.self))
            guard offset == payloadOffset, payload >= 0, headerLength > 0,
                  offset + payload + headerLength == fileSize else { return "the sizes in its preamble do not match the file" }
            return nil
        }()
        if let problem { unmap(); return fail(problem) }
        let headerLength = Int(field(12, UInt32.self)), payload = Int(field(24, UInt64.self))
        let headerBytes = UnsafeRawBufferPointer(start: raw + payloadOffset + payload, count: headerLength)
        guard CRC32.checksum(headerBytes) == field(32, UInt32.self) else { unmap(); return fail("its header is corrupt (CRC mismatch)") }
        guard let text = String(validating: headerBytes, as: UTF8.self),
              let header = try? JSONValue.parse(text).objectValue else { unmap(); return fail("its header is not JSON") }
        guard header["settings"]?.serialized(.compact, sortedKeys: true) == settings.serialized(.compact, sortedKeys: true) else { unmap(); return fail("made with other settings") }
        guard header["signature"]?.stringValue == listing.signature else {
            unmap(); return fail("the source files changed (added, removed, resized or modified) since it was built")
        }
        var classes: [ImageFolderClass] = []
        for c in header["classes"]?.arrayValue ?? [] {
            guard let o = c.objectValue, let name = o["name"]?.stringValue, let images = o["images"]?.integerValue,
                  let sums = o["sums"]?.arrayValue?.compactMap(\.numberValue),
                  let squares = o["squares"]?.arrayValue?.compactMap(\.numberValue) else {
                unmap(); return fail("its class list is malformed")
            }
            let split = o["split"]?.stringValue.flatMap(TaskSplit.init(rawValue:))
            classes.append(ImageFolderClass(name: name, split: split, imageCount: images, sums: sums, squares: squares))
        }
        guard classes.map(\.name) == listing.classes.map(\.name), classes.map(\.imageCount) == listing.classes.map(\.files.count),
              let fingerprint = header["fingerprint"]?.stringValue else {
            unmap(); return fail("its classes differ from the folder's")
        }
        var firstImage = [0]
        for c in classes { firstImage.append(firstImage.last! + c.imageCount) }
        let settingsObject = settings.objectValue!
        let perImage = (settingsObject["channels"]?.integerValue ?? 0) * (settingsObject["size"]?.integerValue ?? 0)
            * (settingsObject["size"]?.integerValue ?? 0)
        guard firstImage.last! * perImage == payload else { unmap(); return fail("its pixel count does not match its classes") }
        return .success(Mapped(classes: classes, firstImage: firstImage, fingerprint: fingerprint, base: raw, release: unmap))
    }
}

// MARK: - Where decoded pixels go

protocol PixelSink {
    func append(_ bytes: UnsafeRawBufferPointer) throws
}

/// A cache that cannot be written (a read-only folder, a full disk): the load goes on in memory.
struct CacheWriteFailure: Error { var reason: String }

/// The cache file being written: preamble space, pixels, then the header and the preamble.
final class CacheSink: PixelSink {
    let writer: AtomicFile.Writer
    init(path: String) throws(CacheWriteFailure) {
        do throws(AtomicFile.Failure) {
            writer = try AtomicFile.Writer(path: path)
            let zeros = [UInt8](repeating: 0, count: ImageFolderData.payloadOffset)
            try writer.append(zeros)
        } catch { throw CacheWriteFailure(reason: error.description) }
    }
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        do { try writer.append(bytes) } catch { throw CacheWriteFailure(reason: error.description) }
    }
    /// Appends the header, fills in the preamble and renames the file into place.
    func finish(header: [UInt8]) throws(CacheWriteFailure) {
        let payload = writer.written - ImageFolderData.payloadOffset
        var preamble = ImageFolderData.magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { preamble += $0 } }
        put(ImageFolderData.cacheVersion); put(UInt32(header.count))
        put(UInt64(ImageFolderData.payloadOffset)); put(UInt64(payload)); put(CRC32.checksum(header))
        do throws(AtomicFile.Failure) {
            try writer.append(header)
            try writer.overwrite(preamble, at: 0)
            try writer.commit()
        } catch { throw CacheWriteFailure(reason: error.description) }
    }
}

/// Pixels held in memory (no cache folder, or it could not be written).
final class MemorySink: PixelSink {
    let buffer: UnsafeMutablePointer<UInt8>
    private var filled = 0
    init(bytes: Int) { buffer = .allocate(capacity: max(bytes, 1)) }
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        UnsafeMutableRawPointer(buffer + filled).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        filled += bytes.count
    }
}

/// A pointer handed to concurrent iterations that write disjoint parts of it.
struct UnsafeMutableSendable<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// Creates `path` and its missing parents (mode 0755).
func makeDirectories(_ path: String) throws(CacheWriteFailure) {
    var st = stat()
    if stat(path, &st) == 0 {
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CacheWriteFailure(reason: "\(path) is not a folder") }
        return
    }
    let parent = splitDirectory(path)
    if parent != path && !parent.isEmpty { try makeDirectories(parent) }
    guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
        throw CacheWriteFailure(reason: "cannot create \(path): \(String(cString: strerror(errno)))")
    }
}

private func splitDirectory(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The sum of `count` bytes and of their squares.
func byteSums(_ p: UnsafePointer<UInt8>, count: Int) -> (Int, Int) {
    var sum = 0, square = 0
    for i in 0..<count { let v = Int(p[i]); sum &+= v; square &+= v &* v }
    return (sum, square)
}

/// `path` resolved to an absolute path without symlinks (itself if it cannot be).
func realPath(_ path: String) -> String {
    realpath(path, nil).map { p in defer { free(p) }; return String(cString: p) } ?? path
}

func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
