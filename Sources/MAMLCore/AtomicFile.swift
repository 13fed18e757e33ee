// MARK: - Whole-file reads and atomic writes (POSIX)
//
// An atomic write never leaves a half-written file at the destination: the
// bytes go to a new temporary file in the same directory (same filesystem,
// so rename is atomic), which is fsync'ed, closed and renamed over the
// destination; then the directory is fsync'ed so the rename itself is durable.
// On any failure the temporary file is removed and the destination is untouched.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A simulated failure, for tests of the atomic write.
enum WriteFault: Sendable {
    /// Fail as if the disk filled up after this many bytes.
    case afterBytes(Int)
    /// Fail after the temporary file is complete, just before the rename.
    case beforeRename
}

/// Why a file operation failed (strerror text included).
struct FileProblem: Error { var reason: String }

/// The message for the current errno.
func errnoMessage() -> String { String(cString: strerror(errno)) }

/// Opens a regular file for reading; returns the descriptor and the size. A FIFO, device
/// or directory is refused without blocking (it is opened non-blocking, then checked).
func openRegularFile(_ path: String) throws(FileProblem) -> (fd: Int32, size: Int) {
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    guard fd >= 0 else { throw FileProblem(reason: "cannot open: \(errnoMessage())") }
    var st = stat()
    guard fstat(fd, &st) == 0 else { close(fd); throw FileProblem(reason: "cannot stat: \(errnoMessage())") }
    guard (st.st_mode & S_IFMT) == S_IFREG else { close(fd); throw FileProblem(reason: "not a regular file") }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    return (fd, Int(st.st_size))
}

/// Reads a whole regular file.
func readWholeFile(_ path: String) throws(FileProblem) -> [UInt8] {
    let (fd, size) = try openRegularFile(path)
    defer { close(fd) }
    return try readRest(fd, size: size)
}

/// Reads `size` bytes from the current offset (fewer if the file shrank).
func readRest(_ fd: Int32, size: Int) throws(FileProblem) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < bytes.count {
        let r = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
        if r < 0 {
            if errno == EINTR { continue }
            throw FileProblem(reason: "read failed: \(errnoMessage())")
        }
        if r == 0 { bytes.removeSubrange(done...); break }   // shrank while reading
        done += r
    }
    return bytes
}

/// The directory and file name of `path` ("." when it has no slash).
func splitPath(_ path: String) -> (directory: String, name: String) {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    return (directory, name)
}

/// A new temporary file beside `name` in `directory`, named as every atomic write names it.
func createTemporary(directory: String, name: String) throws(FileProblem) -> (Int32, String) {
    var generator = SystemRandomNumberGenerator()
    let temp = "\(directory)/.\(name).tmp-\(getpid())-\(String(generator.next() & 0xFFFF_FFFF, radix: 16))"
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else {
        throw FileProblem(reason: "cannot create a temporary file in \(directory): \(errnoMessage())")
    }
    return (fd, temp)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync directory);
/// the destination is unchanged when it fails.
func writeFileAtomically(_ path: String, _ bytes: [UInt8], fault: WriteFault? = nil) throws(FileProblem) {
    let writer = try AtomicWriter(path: path, fault: fault)
    var problem: FileProblem?
    bytes.withUnsafeBytes { raw in
        do throws(FileProblem) { try writer.append(raw) } catch { problem = error }
    }
    if let problem { throw problem }
    try writer.commit()
}

/// A file written in pieces that appears at its destination only on `commit` (the same steps as
/// writeFileAtomically); dropped uncommitted, or failing, it leaves no trace.
final class AtomicWriter {
    let path: String, directory: String, temp: String
    private var fd: Int32
    private let fault: WriteFault?
    private(set) var written = 0

    init(path: String, fault: WriteFault? = nil) throws(FileProblem) {
        let (directory, name) = splitPath(path)
        guard !name.isEmpty else { throw FileProblem(reason: "the path names a directory, not a file") }
        (fd, temp) = try createTemporary(directory: directory, name: name)
        self.path = path; self.directory = directory; self.fault = fault
    }

    deinit { abandon() }

    /// Removes the temporary file (nothing happens after a commit).
    func abandon() {
        guard fd >= 0 else { return }
        close(fd); unlink(temp); fd = -1
    }

    /// Appends `raw` to the file.
    func append(_ raw: UnsafeRawBufferPointer) throws(FileProblem) {
        var done = 0
        while done < raw.count {
            var chunk = raw.count - done
            if case .afterBytes(let limit)? = fault {
                if written >= limit { throw failed("write failed: No space left on device (simulated)") }
                chunk = min(chunk, limit - written)
            }
            let r = write(fd, raw.baseAddress! + done, chunk)
            if r < 0 {
                if errno == EINTR { continue }
                throw failed("write failed: \(errnoMessage())")
            }
            done += r; written += r
        }
    }

    /// Overwrites bytes already appended, at `offset` (a header completed last).
    func overwrite(_ raw: UnsafeRawBufferPointer, at offset: Int) throws(FileProblem) {
        guard offset + raw.count <= written else { throw failed("overwrite past the end (internal error)") }
        var done = 0
        while done < raw.count {
            let r = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
            if r < 0 {
                if errno == EINTR { continue }
                throw failed("write failed: \(errnoMessage())")
            }
            done += r
        }
    }

    /// fsync, close, rename into place, fsync the directory.
    func commit() throws(FileProblem) {
        if fsync(fd) != 0 { throw failed("fsync failed: \(errnoMessage())") }
        let closed = close(fd) == 0
        fd = -1
        guard closed else { unlink(temp); throw FileProblem(reason: "close failed: \(errnoMessage())") }
        if case .beforeRename? = fault { unlink(temp); throw FileProblem(reason: "rename failed (simulated)") }
        guard rename(temp, path) == 0 else {
            let reason = "cannot rename into place: \(errnoMessage())"
            unlink(temp)
            throw FileProblem(reason: reason)
        }
        // Make the rename durable; a directory that cannot be fsync'ed (some filesystems) is not an error.
        let dfd = open(directory, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// The failure, after removing the temporary file.
    private func failed(_ reason: String) -> FileProblem {
        abandon()
        return FileProblem(reason: reason)
    }
}

// MARK: - Public entry points (other modules: the host's plugin lock file, its scan cache)

/// Atomic writes and whole-file reads for other modules; errors carry the strerror text.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Writes `bytes` to `path` atomically (see writeFileAtomically).
    public static func write(_ bytes: [UInt8], to path: String) throws(Failure) {
        do { try writeFileAtomically(path, bytes) } catch { throw Failure(description: error.reason) }
    }

    /// Checks, before any work, that an atomic write to `path` can happen: the path names a
    /// file (not a directory), and its directory takes a temporary file of the name the write
    /// will use (created and removed: this catches a missing or read-only folder, a name too
    /// long for its temporary file, a full inode table).
    public static func probeWritable(_ path: String) throws(Failure) {
        let (directory, name) = splitPath(path)
        guard !name.isEmpty else { throw Failure(description: "the path names a directory, not a file") }
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw Failure(description: "is a directory")
        }
        if stat(directory, &st) != 0 { throw Failure(description: "the folder \(directory) does not exist") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw Failure(description: "\(directory) is not a folder") }
        do {
            let (fd, temp) = try createTemporary(directory: directory, name: name)
            close(fd)
            unlink(temp)
        } catch {
            throw Failure(description: error.reason)
        }
    }

    /// Removes temporary files of atomic writes to `path` left by processes that no longer
    /// run (a kill -9 mid-write); returns how many. Another live writer's are left alone.
    @discardableResult
    public static func removeStaleTemporaries(of path: String) -> Int {
        let (directory, name) = splitPath(path)
        guard !name.isEmpty, let dir = opendir(directory) else { return 0 }
        defer { closedir(dir) }
        let prefix = ".\(name).tmp-"
        var removed = 0
        while let entry = readdir(dir) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard file.hasPrefix(prefix) else { continue }
            let rest = file.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH && unlink(directory + "/" + file) == 0 { removed += 1 }
        }
        return removed
    }

    /// A file written in pieces, atomically: `append`, optionally `overwrite` what was appended,
    /// then `commit`; dropped without a commit (or after any failure) it leaves nothing behind.
    public final class Writer {
        let inner: AtomicWriter
        public init(path: String) throws(Failure) {
            do { inner = try AtomicWriter(path: path) } catch { throw Failure(description: error.reason) }
        }
        /// Bytes appended so far.
        public var written: Int { inner.written }
        public func append(_ raw: UnsafeRawBufferPointer) throws(Failure) {
            do { try inner.append(raw) } catch { throw Failure(description: error.reason) }
        }
        public func append(_ bytes: [UInt8]) throws(Failure) {
            var failure: Failure?
            bytes.withUnsafeBytes { raw in
                do throws(Failure) { try append(raw) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        public func overwrite(_ bytes: [UInt8], at offset: Int) throws(Failure) {
            var failure: Failure?
            bytes.withUnsafeBytes { raw in
                do throws(FileProblem) { try inner.overwrite(raw, at: offset) } catch { failure = Failure(description: error.reason) }
            }
            if let failure { throw failure }
        }
        public func commit() throws(Failure) {
            do { try inner.commit() } catch { throw Failure(description: error.reason) }
        }
    }

    /// Reads a whole regular file.
    public static func read(_ path: String) throws(Failure) -> [UInt8] {
        do { return try readWholeFile(path) } catch { throw Failure(description: error.reason) }
    }
}
