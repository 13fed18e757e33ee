#if canImport(Glibc)
import Glibc
#endif

// MARK: - What the host agrees to load
//
// Loading a plugin runs its code with the user's rights, so before dlopen the
// host checks (docs/security.md):
//   * permissions: the file, the directory it is listed in and (through a
//     symlink) the directory it really lives in must not be writable by group
//     or others: anyone who can write there can swap the code the user runs;
//   * pinning: with a lock file present (or --require-trusted), the file's
//     SHA-256 must equal the one pinned for its real path.
// The file is opened once and every check is made on that open descriptor
// (fstat, the hash), and a pinned plugin is then loaded from the same
// descriptor through /proc/self/fd/N, so the bytes verified are the bytes
// loaded even if someone replaces the path in between.

/// The host's rules for loading plugin files.
public struct TrustPolicy: Sendable {
    /// The lock file consulted (it may not exist); nil: no pinning at all.
    public var lockPath: String?
    /// Refuse every plugin that is not pinned, even without a lock file.
    public var requireTrusted: Bool

    public init(lockPath: String? = TrustLock.defaultPath(), requireTrusted: Bool = false) {
        self.lockPath = lockPath; self.requireTrusted = requireTrusted
    }

    /// Permission checks only (library callers and tests that do not pin).
    public static let permissionsOnly = TrustPolicy(lockPath: nil)

    /// The lock in force: nil when there is none and none is required; a problem when it cannot be used.
    func activeLock() -> Result<TrustLock?, PluginProblem> {
        guard let lockPath else {
            return requireTrusted ? .failure(PluginProblem(.error, path: "-", "--require-trusted without a lock file")) : .success(nil)
        }
        switch TrustLock.load(lockPath) {
        case .success(let lock?): return .success(lock)
        case .success(nil):
            guard requireTrusted else { return .success(nil) }
            return .failure(PluginProblem(.error, path: lockPath,
                "--require-trusted: no lock file, so no plugin is trusted (pin with `maml-host trust add FILE`)"))
        case .failure(let error):
            return .failure(PluginProblem(.error, path: lockPath, "\(error.message); no plugin is loaded until it is fixed"))
        }
    }
}

/// A plugin file the policy accepted, still open: load it through `loadPath`, then `release()`.
struct AdmittedPlugin {
    var fd: Int32
    /// The path to hand dlopen: the candidate's path, or /proc/self/fd/N for a hash-verified file.
    var loadPath: String
    /// SHA-256 of the file read through `fd`, when a rule needed it.
    var sha256: String?
    /// Size and modification time (ns) from fstat of `fd`: the scan cache key with the hash.
    var size: Int64
    var mtimeNanoseconds: Int64
    /// Closes the descriptor unless the library was loaded through it. That one stays open for
    /// the life of the process (plugins are never unloaded anyway): glibc recognises an already
    /// loaded library by its name, so a later plugin given the same fd number, and so the same
    /// /proc/self/fd/N name, would otherwise be mistaken for this one.
    /// The file's SHA-256 (hashing it now, from the start of the descriptor, if no rule did).
    func hash() throws(HostError) -> String {
        if let sha256 { return sha256 }
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw HostError("cannot seek: \(String(cString: strerror(errno)))") }
        return try sha256Hex(fileDescriptor: fd)
    }

    func release() { if loadPath == "/proc/self/fd/\(fd)" { return }; _ = Glibc.close(fd) }
}

extension TrustPolicy {
    /// Opens `candidate` and applies the rules; `lock` is the result of `activeLock()`.
    func admit(_ candidate: PluginCandidate, lock: TrustLock?) -> Result<AdmittedPlugin, PluginProblem> {
        let path = candidate.path
        func refuse(_ message: String) -> Result<AdmittedPlugin, PluginProblem> {
            .failure(PluginProblem(.error, path: path, "refused: " + message))
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return refuse("cannot open: \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { _ = Glibc.close(fd) } }

        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return refuse("not a regular file") }
        guard UInt64(info.st_dev) == candidate.device, UInt64(info.st_ino) == candidate.inode else {
            return refuse("the file was replaced while plugins were being scanned")
        }
        if let why = writableByOthers(info.st_mode) {
            return refuse("the file is writable by \(why) (mode \(octal(info.st_mode))); "
                          + "anyone in it could change the code you run: chmod go-w \(path)")
        }
        let realPath = canonicalPath(path) ?? path
        for directory in Set([parentDirectory(of: path), parentDirectory(of: realPath)]).sorted() {
            var dirInfo = stat()
            guard stat(directory, &dirInfo) == 0 else { return refuse("cannot stat its directory \(directory)") }
            if let why = writableByOthers(dirInfo.st_mode) {
                return refuse("its directory \(directory) is writable by \(why) (mode \(octal(dirInfo.st_mode))); "
                              + "anyone in it could replace the plugin: chmod go-w \(directory)")
            }
        }
        var loadPath = path
        var hash: String?
        if let lock {
            guard let pinned = lock.entries[realPath] else {
                return refuse("not pinned in \(lock.path) (trust it with `maml-host trust add \(path)`)")
            }
            let actual: String
            do { actual = try sha256Hex(fileDescriptor: fd) } catch { return refuse("cannot hash: \(error.message)") }
            hash = actual
            guard actual == pinned else {
                return refuse("changed since it was pinned: SHA-256 is \(actual), \(lock.path) pins \(pinned) "
                              + "(if you trust the new file: `maml-host trust add \(path)`)")
            }
            loadPath = "/proc/self/fd/\(fd)"
        }
        ok = true
        return .success(AdmittedPlugin(fd: fd, loadPath: loadPath, sha256: hash, size: Int64(info.st_size),
                                       mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)))
    }
}

// MARK: - Secure execution (setuid / setgid / capabilities)

/// True when the kernel marked this process for secure execution (AT_SECURE: setuid,
/// setgid or file capabilities), or real and effective ids differ. Then MAML_PLUGIN_PATH
/// is ignored: an unprivileged caller must not choose the code a privileged program runs.
public func isSecureExecution() -> Bool {
    if getuid() != geteuid() || getgid() != getegid() { return true }
    // /proc/self/auxv: (type, value) pairs of native words; AT_SECURE is 23.
    guard let bytes = try? readAll("/proc/self/auxv") else { return false }
    let words = bytes.count / 8
    return bytes.withUnsafeBytes { raw in
        for i in stride(from: 0, to: words - 1, by: 2) {
            let type = raw.load(fromByteOffset: i * 8, as: UInt64.self)
            if type == 0 { break }
            if type == 23 { return raw.load(fromByteOffset: (i + 1) * 8, as: UInt64.self) != 0 }
        }
        return false
    }
}

// MARK: - Helpers

/// "group", "others" or "group and others" when the mode has those write bits.
func writableByOthers(_ mode: mode_t) -> String? {
    let group = mode & S_IWGRP != 0, others = mode & S_IWOTH != 0
    switch (group, others) {
    case (true, true): return "group and others"
    case (true, false): return "group"
    case (false, true): return "others"
    default: return nil
    }
}

func octal(_ mode: mode_t) -> String { "0" + String(mode & 0o7777, radix: 8) }

/// realpath(3), or nil.
public func canonicalPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// A whole small file (procfs files report size 0, so read to EOF).
func readAll(_ path: String) throws(HostError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HostError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { _ = close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; throw HostError("cannot read \(path): \(String(cString: strerror(errno)))") }
        if n == 0 { return out }
        out += buffer[0..<n]
    }
}
