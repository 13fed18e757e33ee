#if canImport(Glibc)
import Glibc
#endif

// MARK: - Who can change the code at a path (OpenSSH StrictModes, for plugins)
//
// Checking the plugin file alone proves little: whoever can write any directory
// on the way to it can rename that directory away and put one of their own in
// its place. So, like OpenSSH's StrictModes (which refuses an authorized_keys
// file when the file or any directory above it is owned by someone other than
// root or the user, or is writable by group or others), the host walks the path
// from "/" and requires of every component it passes:
//
//   * owner: root or the trusted user (the effective uid: the identity whose
//     rights the plugin's code gets; `TrustPolicy.trustedUID`);
//   * directories: not writable by group or others, with one exception: a
//     directory with the sticky bit (like /tmp: root-owned, mode 1777) is
//     accepted ABOVE the directory the file is listed in. There, others may
//     create entries but not remove or rename one they do not own (unlink and
//     rename need ownership of the entry or of the directory), and the entry on
//     our path is checked to be owned by root or the trusted user, so nobody else
//     can swap it. The directory that holds the plugin file (and, through a
//     symlink, the one that holds the link) gets no exception: anyone could drop
//     new plugins next to it, and the host loads every *.so it lists. OpenSSH
//     refuses sticky directories too; here that would refuse every plugin under
//     /tmp/me/plugins, which is safe by the argument above, so the host follows
//     ld.so's reasoning instead (what matters is who can change what is loaded);
//   * symbolic links are followed component by component, as the kernel does,
//     so every directory the lookup really passes through is checked (the
//     directory holding a link, the link's target, every directory named in it),
//     and a link's own owner must be root or the trusted user (in a sticky
//     directory the link's owner can replace it);
//   * the file: a regular file, owned by root or the trusted user, not writable
//     by group or others (checked by the caller on the descriptor it loads from;
//     the walk ends on the same inode or the file is refused as replaced).
//
// Nothing is cached: every call walks the path again.

/// A component of a plugin's path that fails the ownership or mode rules.
struct PathTrustFailure: Error, Sendable, Equatable {
    /// The exact path that fails (a directory, a symbolic link or the file).
    var path: String
    /// The whole sentence: what fails, why, and the fix.
    var message: String
}

/// The identity and metadata the walk found at the end of the path.
struct WalkedFile {
    var identity: FileIdentity
    var info: stat
}

/// Walks `path` (absolute) from "/" as the kernel would resolve it and checks every directory
/// and symbolic link it passes against the rules above, for `trustedUID`. Returns the final
/// file's identity (the caller compares it with what it opened), or the first component that fails.
func walkTrustedPath(_ path: String, trustedUID: uid_t) -> Result<WalkedFile, PathTrustFailure> {
    func fail(_ at: String, _ message: String) -> Result<WalkedFile, PathTrustFailure> {
        .failure(PathTrustFailure(path: at, message: message))
    }
    guard path.hasPrefix("/") else { return fail(path, "\(path) is not an absolute path") }
    // Components still to look up, the next one last.
    var pending: [Substring] = components(of: path).reversed()
    var directory = "/"          // real path of the directory the next lookup happens in (no symlinks)
    var followed = 0
    while let name = pending.popLast() {
        let isLast = pending.isEmpty
        if let failure = checkDirectory(directory, holdsFile: isLast, trustedUID: trustedUID) {
            return .failure(failure)
        }
        if name == ".." { directory = parentDirectory(of: directory); continue }
        let next = directory == "/" ? "/" + name : directory + "/" + name
        var info = stat()
        guard lstat(next, &info) == 0 else {
            return fail(next, "cannot stat \(next): \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            if let failure = ownerFailure(next, "symbolic link", info, trustedUID: trustedUID,
                                          fix: "replace it with a link you own (ln -sfn TARGET \(next)) or with the file itself") {
                return .failure(failure)
            }
            followed += 1
            guard followed <= 40 else { return fail(next, "too many levels of symbolic links at \(next)") }
            guard let target = readLink(next) else {
                return fail(next, "cannot read the symbolic link \(next): \(String(cString: strerror(errno)))")
            }
            if target.hasPrefix("/") { directory = "/" }
            pending += components(of: target).reversed()
        case S_IFDIR:
            if isLast { return fail(next, "\(next) is a directory, not a plugin file") }
            directory = next
        default:
            if !isLast { return fail(next, "\(next) is not a directory") }
            return .success(WalkedFile(identity: FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)),
                                       info: info))
        }
    }
    // Only reachable for paths ending in ".." or "/" (a directory).
    return fail(path, "\(path) is a directory, not a plugin file")
}

/// The owner and mode rules for the plugin file itself (from fstat of the descriptor it is loaded from).
func fileTrustFailure(_ path: String, _ info: stat, trustedUID: uid_t) -> PathTrustFailure? {
    if let failure = ownerFailure(path, "the file", info, trustedUID: trustedUID,
                                  fix: "chown \(ownerFix(trustedUID)) \(path)") {
        return failure
    }
    if let who = writableByOthers(info.st_mode) {
        return PathTrustFailure(path: path, message: "the file is writable by \(who) (mode \(octal(info.st_mode))); "
                                + "anyone in it could change the code you run: chmod go-w \(path)")
    }
    return nil
}

/// A directory the lookup passes through: owned by root or the trusted user, and not writable by
/// group or others, unless it is sticky and does not hold the final entry.
private func checkDirectory(_ directory: String, holdsFile: Bool, trustedUID: uid_t) -> PathTrustFailure? {
    var info = stat()
    guard lstat(directory, &info) == 0 else {
        return PathTrustFailure(path: directory, message: "cannot stat directory \(directory): \(String(cString: strerror(errno)))")
    }
    if let failure = ownerFailure(directory, "directory", info, trustedUID: trustedUID,
                                  fix: "chown \(ownerFix(trustedUID)) \(directory), or keep plugins in directories you own") {
        return failure
    }
    guard let who = writableByOthers(info.st_mode) else { return nil }
    let sticky = info.st_mode & S_ISVTX != 0
    if sticky && !holdsFile { return nil }
    let mode = "mode \(octal(info.st_mode))"
    if sticky {
        return PathTrustFailure(path: directory, message:
            "its directory \(directory) is writable by \(who) (\(mode)); the sticky bit stops others from replacing "
            + "files in it but not from adding plugins next to them: keep plugins in a directory of their own "
            + "that only you can write (mkdir -m 755 \(directory == "/" ? "" : directory)/plugins)")
    }
    let role = holdsFile ? "its directory \(directory)" : "directory \(directory) (above the plugin)"
    let replace = holdsFile ? "replace the file" : "replace everything below it"
    return PathTrustFailure(path: directory, message:
        "\(role) is writable by \(who) (\(mode)); anyone in it could \(replace): chmod go-w \(directory)")
}

/// Nil when `info` is owned by root or `trustedUID`; else the failure naming the owner and the fix.
private func ownerFailure(_ path: String, _ what: String, _ info: stat, trustedUID: uid_t,
                          fix: String) -> PathTrustFailure? {
    let owner = info.st_uid
    if owner == 0 || owner == trustedUID { return nil }
    let trusted = trustedUID == 0 ? "root" : "root or \(userLabel(trustedUID))"
    let subject = what == "the file" ? "the file" : "\(what) \(path)"
    return PathTrustFailure(path: path, message:
        "\(subject) is owned by \(userLabel(owner)), not by \(trusted); its owner could change the code you run: \(fix)")
}

/// "root:root" when the trusted user is root, else that user's name (or uid).
private func ownerFix(_ uid: uid_t) -> String {
    uid == 0 ? "root:root" : (userName(uid) ?? "\(uid)")
}

/// "uid 12345 (no such user)" or "alice (uid 1000)".
func userLabel(_ uid: uid_t) -> String {
    userName(uid).map { "\($0) (uid \(uid))" } ?? "uid \(uid) (no such user)"
}

/// The user name of `uid` from the password database (getpwuid_r: the catalog may be built on several threads).
func userName(_ uid: uid_t) -> String? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 4096)
    let rc = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
    guard rc == 0, result != nil, let name = entry.pw_name else { return nil }
    return String(cString: name)
}

/// The components of a path, without empty ones and ".".
private func components(of path: String) -> [Substring] {
    path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
}

/// `path` made absolute against the working directory (unchanged if it cannot be read).
func absoluteFromWorkingDirectory(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return absolutePath(path, relativeTo: cwd)
}

/// readlink(2) of `path`, or nil.
private func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink(path, &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
