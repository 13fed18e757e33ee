import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The plugin lock file
//
// One line per trusted plugin file, in sha256sum's format so it can be checked
// by hand (`sha256sum -c` works on it):
//
//     # maml-zoo plugin lock (maml-host trust add|remove|list)
//     9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  /opt/plugins/libfoo.so
//
// Paths are real paths (symlinks resolved). Default location:
// $XDG_CONFIG_HOME/maml-zoo/plugins.lock, else ~/.config/maml-zoo/plugins.lock;
// `--trust-file FILE` overrides. A lock file present means pinning is on.

/// The pinned SHA-256 of each trusted plugin file.
public struct TrustLock: Sendable, Equatable {
    /// Where the lock lives.
    public var path: String
    /// Real path -> SHA-256 (64 lowercase hex digits).
    public var entries: [String: String]

    public init(path: String, entries: [String: String] = [:]) { self.path = path; self.entries = entries }

    /// The default lock path; in secure execution the environment is not consulted.
    public static func defaultPath(environment: [String: String] = currentEnvironment(),
                                   secure: Bool = isSecureExecution()) -> String {
        if !secure, let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            return xdg + "/maml-zoo/plugins.lock"
        }
        return userHome(environment: environment, secure: secure) + "/.config/maml-zoo/plugins.lock"
    }

    // MARK: Reading

    /// The lock at `path`, nil if there is no file, or why it cannot be used. Like a plugin, the
    /// lock file and every directory above it must be owned by root or `trustedUID` and not
    /// writable by group or others (TrustedPath.swift): whoever can change it chooses the code that runs.
    public static func load(_ path: String, trustedUID: uid_t = geteuid()) -> Result<TrustLock?, HostError> {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return .success(nil) }
            return .failure(HostError("lock file \(path): cannot stat: \(String(cString: strerror(errno)))"))
        }
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            return .failure(HostError("lock file \(path) is not a regular file"))
        }
        if let who = writableByOthers(info.st_mode) {
            return .failure(HostError("lock file \(path) is writable by \(who) (mode \(octal(info.st_mode))), "
                                      + "so anyone there could pin their own code: chmod go-w \(path)"))
        }
        if let failure = fileTrustFailure(path, info, trustedUID: trustedUID) {
            return .failure(HostError("lock file \(path): \(failure.message)"))
        }
        if case .failure(let failure) = walkTrustedPath(absoluteFromWorkingDirectory(path), trustedUID: trustedUID) {
            return .failure(HostError("lock file \(path): \(failure.message)"))
        }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path) } catch { return .failure(HostError("lock file \(path): \(error)")) }
        return Result { () throws(HostError) in try parse(bytes, path: path) }
    }

    /// Parses lock file bytes; any malformed line refuses the whole file.
    public static func parse(_ bytes: [UInt8], path: String) throws(HostError) -> TrustLock {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw HostError("lock file \(path) is not valid UTF-8")
        }
        var lock = TrustLock(path: path)
        // ("\r\n" is one Character in Swift, so it is a separator of its own.)
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, line) in lines.enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let where_ = "lock file \(path) line \(index + 1)"
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[1].hasPrefix(" ") else {
                throw HostError("\(where_): expected \"<SHA-256 in hex>  <absolute path>\", got \"\(line.prefix(120))\"")
            }
            let hash = String(parts[0]), file = String(parts[1].dropFirst())
            guard hash.count == 64, hash.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw HostError("\(where_): \"\(hash.prefix(80))\" is not a SHA-256 (64 lowercase hex digits)")
            }
            guard file.hasPrefix("/") else { throw HostError("\(where_): path \"\(file)\" is not absolute") }
            guard lock.entries[file] == nil else { throw HostError("\(where_): \(file) is pinned twice") }
            lock.entries[file] = hash
        }
        return lock
    }

    // MARK: Writing

    /// The file's text: a header comment, then one line per entry sorted by path.
    public func serialized() -> String {
        var text = "# maml-zoo plugin lock: SHA-256 of each trusted plugin file (maml-host trust add|remove|list)\n"
        for file in entries.keys.sorted() { text += "\(entries[file]!)  \(file)\n" }
        return text
    }

    /// Writes the lock atomically (creating its directory, mode 0700, if needed).
    public func write() throws(HostError) {
        let directory = parentDirectory(of: path)
        var info = stat()
        if stat(directory, &info) != 0 {
            var partial = ""
            for component in directory.split(separator: "/") {
                partial += "/" + component
                if mkdir(partial, 0o700) != 0 && errno != EEXIST {
                    throw HostError("cannot create \(partial): \(String(cString: strerror(errno)))")
                }
            }
        }
        do { try AtomicFile.write(Array(serialized().utf8), to: path) }
        catch { throw HostError("cannot write lock file \(path): \(error)") }
    }
}

// MARK: - Pinning a file

/// The real path of `path` and the SHA-256 of its bytes, read through one descriptor.
public func pinIdentity(of path: String) throws(HostError) -> (realPath: String, sha256: String) {
    guard let real = canonicalPath(path) else {
        throw HostError("\(path): cannot resolve: \(String(cString: strerror(errno)))")
    }
    let fd = open(real, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HostError("\(path): cannot open: \(String(cString: strerror(errno)))") }
    defer { _ = close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw HostError("\(path): not a regular file") }
    if let who = writableByOthers(info.st_mode) {
        throw HostError("\(path): writable by \(who) (mode \(octal(info.st_mode))); the host would refuse it: chmod go-w first")
    }
    return (real, try sha256Hex(fileDescriptor: fd))
}

/// What `maml-host trust add` pins, after refusing a file the host would never load: one that
/// fails the ownership and mode rules (the file, or a directory or link on the way to it: see
/// TrustedPath.swift), is not a regular file, or by its ELF headers is not a plugin (read without
/// running it). `warning` is set when the headers could not tell (the file is pinned anyway).
public func pinnablePlugin(_ path: String, trustedUID: uid_t = geteuid())
    throws(HostError) -> (realPath: String, sha256: String, warning: String?) {
    let path = absoluteFromWorkingDirectory(path)
    func refuse(_ why: String) -> HostError { HostError("\(path): not pinned: \(why)") }
    guard let real = canonicalPath(path) else { throw refuse("cannot resolve: \(String(cString: strerror(errno)))") }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw refuse("cannot open: \(String(cString: strerror(errno)))") }
    defer { _ = close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
        throw refuse("not a regular file; a plugin is a shared library file")
    }
    let never = "; the host would refuse to load it"
    if let failure = pluginPathFailure(path, info, trustedUID: trustedUID) { throw refuse(failure + never) }
    var warning: String?
    switch elfPluginVerdict(fileDescriptor: fd, size: Int64(info.st_size)) {
    case .plugin: break
    case .notPlugin(let why): throw refuse(why)
    case .unknown(let why): warning = "\(path): pinned, but could not tell whether it is a plugin: \(why)"
    }
    return (real, try sha256Hex(fileDescriptor: fd), warning)
}

/// Why the plugin file at `path` (absolute) would be refused by the ownership and mode rules, or nil.
public func pluginPathProblem(_ path: String, trustedUID: uid_t = geteuid()) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else { return "cannot stat: \(String(cString: strerror(errno)))" }
    return pluginPathFailure(path, info, trustedUID: trustedUID)
}

/// The file rules on `info` (the file as opened), then the walk from "/", which must end on that file.
func pluginPathFailure(_ path: String, _ info: stat, trustedUID: uid_t) -> String? {
    if let failure = fileTrustFailure(path, info, trustedUID: trustedUID) { return failure.message }
    switch walkTrustedPath(path, trustedUID: trustedUID) {
    case .failure(let failure): return failure.message
    case .success(let walked):
        guard walked.identity == FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) else {
            return "the file was replaced while it was being checked"
        }
        return nil
    }
}

/// The process environment as a dictionary.
public func currentEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        if let eq = text.firstIndex(of: "=") { env[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
        entry += 1
    }
    return env
}

/// $HOME, or (in secure execution, or without HOME) the real user's home from the password database.
func userHome(environment: [String: String], secure: Bool) -> String {
    (!secure ? environment["HOME"] : nil) ?? passwordHome() ?? "/"
}

/// The real user's home directory from the password database.
private func passwordHome() -> String? {
    guard let pw = getpwuid(getuid()), let dir = pw.pointee.pw_dir else { return nil }
    return String(cString: dir)
}
