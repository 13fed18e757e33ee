import Foundation
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Where plugins are looked for
//
// Search order: the running executable's directory (bundled plugins next to
// maml-host, and next to the .xctest in tests), ./models, each directory of
// MAML_PLUGIN_PATH, then explicit directories (--plugin-dir).
//
// Candidates are regular files whose name ends exactly in ".so". Versioned
// names ("libfoo.so.1") are NOT plugins: such names belong to libraries other
// programs link against, which is what the build folder and system folders are
// full of; a plugin is dlopen()ed by path and needs no soname. A symlink named
// "*.so" counts (it is followed), and the same file reached twice (same device
// and inode) is one plugin. Every path is made absolute before use, so dlopen
// never searches LD_LIBRARY_PATH.

/// A directory searched for plugins, and why it is searched.
public struct SearchDirectory: Sendable, Equatable, CustomStringConvertible {
    public enum Origin: String, Sendable {
        /// The running executable's directory: libraries without the entry symbol are ignored silently.
        case executable = "executable directory"
        /// ./models under the working directory: silently skipped when absent.
        case workingDirectory = "./models"
        /// An entry of MAML_PLUGIN_PATH: a missing directory is a warning.
        case environment = "MAML_PLUGIN_PATH"
        /// Given explicitly (--plugin-dir): a missing directory is an error.
        case explicit = "--plugin-dir"
        /// A single plugin file given explicitly (maml-host check FILE).
        case explicitFile = "plugin file"
    }
    /// Absolute path.
    public var path: String
    public var origin: Origin
    public init(path: String, origin: Origin) { self.path = path; self.origin = origin }
    public var description: String { "\(path) (\(origin.rawValue))" }
}

/// One plugin file to load.
public struct PluginCandidate: Sendable, Equatable {
    /// Absolute path as found (a symlink is not resolved, so messages show what the user put there).
    public var path: String
    public var origin: SearchDirectory.Origin
    public var device: UInt64
    public var inode: UInt64

    package init(path: String, origin: SearchDirectory.Origin, device: UInt64, inode: UInt64) {
        self.path = path; self.origin = origin; self.device = device; self.inode = inode
    }
}

/// Finds plugin directories and plugin files.
public enum PluginDiscovery {
    /// The environment variable holding extra plugin directories, colon-separated.
    public static let environmentVariable = "MAML_PLUGIN_PATH"

    /// The directory of the running executable (from /proc/self/exe), or nil if unknown.
    public static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return parentDirectory(of: path)
    }

    /// The standard search list. Pass `executableDirectory: nil` to leave the
    /// executable's directory out (tests do, to see only their fixtures).
    public static func searchDirectories(
        extraDirectories: [String] = [],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String = FileManager.default.currentDirectoryPath,
        executableDirectory: String? = PluginDiscovery.executableDirectory(),
        secureExecution: Bool = isSecureExecution()
    ) -> [SearchDirectory] {
        var result: [SearchDirectory] = []
        if let executableDirectory {
            result.append(SearchDirectory(path: absolutePath(executableDirectory, relativeTo: workingDirectory),
                                          origin: .executable))
        }
        result.append(SearchDirectory(path: absolutePath("models", relativeTo: workingDirectory),
                                      origin: .workingDirectory))
        // Empty entries ("a::b") are skipped: POSIX would read them as ".", which
        // would load code from wherever the user happens to stand.
        // In secure execution (setuid/setgid) the caller's environment must not choose code.
        let pluginPath = secureExecution ? "" : (environment[environmentVariable] ?? "")
        for entry in pluginPath.split(separator: ":") where !entry.isEmpty {
            result.append(SearchDirectory(path: absolutePath(String(entry), relativeTo: workingDirectory),
                                          origin: .environment))
        }
        for entry in extraDirectories {
            result.append(SearchDirectory(path: absolutePath(entry, relativeTo: workingDirectory),
                                          origin: .explicit))
        }
        return result
    }

    /// The plugin files in `directories` (in order, each directory sorted by
    /// name), then the explicit `files`, each distinct file once.
    public static func candidates(
        in directories: [SearchDirectory], files: [String] = [],
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) -> (candidates: [PluginCandidate], problems: [PluginProblem]) {
        var found: [PluginCandidate] = []
        var problems: [PluginProblem] = []
        var seen = Set<FileIdentity>()

        func add(_ path: String, _ origin: SearchDirectory.Origin, _ id: FileIdentity) {
            guard seen.insert(id).inserted else { return }
            found.append(PluginCandidate(path: path, origin: origin, device: id.device, inode: id.inode))
        }

        for directory in directories {
            guard let names = listDirectory(directory, problems: &problems) else { continue }
            for name in names.sorted() where name.hasSuffix(".so") && name != ".so" {
                let path = directory.path + "/" + name
                switch fileIdentity(path) {
                case .regular(let id): add(path, directory.origin, id)
                case .notRegular: continue // e.g. a directory called x.so
                case .danglingSymlink:
                    problems.append(PluginProblem(.warning, path: path, "broken symbolic link, skipped"))
                case .missing(let reason):
                    problems.append(PluginProblem(.warning, path: path, "cannot read: \(reason)"))
                }
            }
        }
        for file in files {
            let path = absolutePath(file, relativeTo: workingDirectory)
            switch fileIdentity(path) {
            case .regular(let id): add(path, .explicitFile, id)
            case .notRegular: problems.append(PluginProblem(.error, path: path, "not a regular file"))
            case .danglingSymlink: problems.append(PluginProblem(.error, path: path, "broken symbolic link"))
            case .missing(let reason): problems.append(PluginProblem(.error, path: path, "cannot read: \(reason)"))
            }
        }
        return (found, problems)
    }

    // MARK: Directory listing

    /// The entries of a directory, or nil (with a problem if the origin calls for one).
    private static func listDirectory(_ directory: SearchDirectory,
                                      problems: inout [PluginProblem]) -> [String]? {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory)
        guard exists, isDirectory.boolValue else {
            let what = exists ? "is not a directory" : "does not exist"
            switch directory.origin {
            case .executable, .workingDirectory, .explicitFile: break
            case .environment:
                problems.append(PluginProblem(.warning, path: directory.path,
                                              "\(PluginDiscovery.environmentVariable) directory \(what)"))
            case .explicit:
                problems.append(PluginProblem(.error, path: directory.path, "plugin directory \(what)"))
            }
            return nil
        }
        do {
            let listing = try DirectoryListing(path: directory.path)
            for shown in listing.notUTF8 where shown.hasSuffix(".so") {
                problems.append(PluginProblem(.warning, path: directory.path + "/" + shown,
                                              "skipped: the file name is not valid UTF-8; rename it"))
            }
            return listing.names
        } catch {
            let severity: PluginProblem.Severity = directory.origin == .explicit ? .error : .warning
            problems.append(PluginProblem(severity, path: directory.path, "cannot list plugin directory: \(error.reason)"))
            return nil
        }
    }
}

// MARK: - File identity (device + inode)

struct FileIdentity: Hashable { var device: UInt64; var inode: UInt64 }

enum FileStatus { case regular(FileIdentity), notRegular, danglingSymlink, missing(String) }

/// stat() following symlinks; a link whose target is gone is told apart from a missing file.
func fileIdentity(_ path: String) -> FileStatus {
    var info = stat()
    if stat(path, &info) != 0 {
        let reason = String(cString: strerror(errno))
        var linkInfo = stat()
        if lstat(path, &linkInfo) == 0 && (linkInfo.st_mode & S_IFMT) == S_IFLNK { return .danglingSymlink }
        return .missing(reason)
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else { return .notRegular }
    return .regular(FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
}

// MARK: - Paths

/// `path` made absolute against `base`, with "." and empty components removed
/// (".." is kept: resolving it lexically would be wrong through symlinks).
func absolutePath(_ path: String, relativeTo base: String) -> String {
    let joined = path.hasPrefix("/") ? path : base + "/" + path
    let parts = joined.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
    return "/" + parts.joined(separator: "/")
}

func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
