#if canImport(Glibc)
import Glibc
#endif

// MARK: - What the host agrees to load
//
// Loading a plugin runs its code with the user's rights, so before dlopen the
// host checks (docs/security.md):
//   * ownership and permissions (TrustedPath.swift): the file and every
//     directory on the way to it from "/" (through symlinks, as the kernel
//     resolves them) must be owned by root or the trusted user (the effective
//     uid) and not writable by group or others (a root- or user-owned sticky
//     directory such as /tmp is accepted above the plugin's own directory):
//     anyone else who can change one of them can swap the code the user runs;
//   * pinning: with a lock file present (or --require-trusted), the file's
//     SHA-256 must equal the one pinned for its real path. The lock file itself
//     must pass the same ownership rules.
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
    /// Besides root, the one user who may own plugin files, the directories above them and the
    /// lock file: the effective uid, whose rights the plugins' code runs with. (A parameter so
    /// tests running as root can check the rule for an ordinary user.)
    public var trustedUID: uid_t

    public init(lockPath: String? = TrustLock.defaultPath(), requireTrusted: Bool = false,
                trustedUID: uid_t = geteuid()) {
        self.lockPath = lockPath; self.requireTrusted = requireTrusted; self.trustedUID = trustedUID
    }

    /// Permission checks only (library callers and tests that do not pin).
    public static let permissionsOnly = TrustPolicy(lockPath: nil)

    /// The lock in force: nil when there is none and none is required; a problem when it cannot be used.
    func activeLock() -> Result<TrustLock?, PluginProblem> {
        guard let lockPath else {
            return requireTrusted ? .failure(PluginProblem(.error, path: "-", "--require-trusted without a lock file")) : .success(nil)
        }
        switch TrustLock.load(lockPath, trustedUID: trustedUID) {
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
        // The file's owner and mode, then every directory and link on the way to it from "/",
        // ending on the file that was opened.
        if let failure = pluginPathFailure(path, info, trustedUID: trustedUID) { return refuse(failure) }
        let realPath = canonicalPath(path) ?? path
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

// MARK: - One file named by the user (maml-host check)

/// A plugin file the policy accepted for a caller that loads it itself, possibly in child
/// processes (`maml-host check` runs every check in a child of its own).
public struct AdmittedFile: Sendable {
    /// The file as named (absolute).
    public var path: String
    /// What to dlopen: `path`, or for a pinned file `/proc/self/fd/N`, the descriptor that was
    /// hashed. That descriptor stays open and is inherited by child processes (not close-on-exec)
    /// under the same number, so a child dlopens the verified bytes too, whatever happens to `path`.
    public var loadPath: String
    /// SHA-256 of the file when it was pinned (and verified), else nil.
    public var pinnedSHA256: String?
}

extension TrustPolicy {
    /// The whole policy (lock file, ownership, modes, pin) applied to one plugin file, as
    /// `PluginCatalog` applies it to every file it finds; the problem says why it is refused.
    public func admitFile(_ path: String) -> Result<AdmittedFile, PluginProblem> {
        let lock: TrustLock?
        switch activeLock() {
        case .success(let l): lock = l
        case .failure(let problem): return .failure(problem)
        }
        let identity: FileIdentity
        switch fileIdentity(path) {
        case .regular(let id): identity = id
        case .notRegular: return .failure(PluginProblem(.error, path: path, "refused: not a regular file"))
        case .danglingSymlink: return .failure(PluginProblem(.error, path: path, "refused: broken symbolic link"))
        case .missing(let reason): return .failure(PluginProblem(.error, path: path, "refused: cannot read: \(reason)"))
        }
        let candidate = PluginCandidate(path: path, origin: .explicitFile, device: identity.device, inode: identity.inode)
        switch admit(candidate, lock: lock) {
        case .failure(let problem): return .failure(problem)
        case .success(let admitted):
            guard admitted.loadPath != path else {
                admitted.release()
                return .success(AdmittedFile(path: path, loadPath: path, pinnedSHA256: nil))
            }
            // Kept open for the life of the process and handed down to child processes.
            _ = fcntl(admitted.fd, F_SETFD, 0)
            return .success(AdmittedFile(path: path, loadPath: admitted.loadPath, pinnedSHA256: admitted.sha256))
        }
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
