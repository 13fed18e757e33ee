import Foundation
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Scanning plugins in a child process
//
// Loading a plugin runs its constructors and its entry function; a plugin that
// crashes or hangs there would take the host down with it. So, like
// GStreamer's plugin scanner, the host first loads each plugin file in a child
// process (maml-host re-run as `maml-host _scan --origin O FILE`), one child per
// file, under a deadline. The child prints a ScanReport as JSON; the parent
// dlopens only files the child loaded successfully (as a plugin), and reports
// the rest: "crashed during load (SIGSEGV)", "hung during load (killed after 30 s)".
//
// The verdicts are cached, keyed by (path, size, mtime, SHA-256), so a warm
// `list` starts no child for unchanged files. The child hashes the bytes it
// loaded (it loads through the hashed descriptor too); the parent compares
// that with its own hash, so a file swapped between scan and load is refused.

/// What loading one file in the scanner child gave.
public struct ScanReport: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable {
        /// A plugin: the parent may load it (its models may still have problems).
        case plugin
        /// Not a plugin, silently (no entry symbol in the executable's directory).
        case ignored
        /// Refused as a whole; `problems` say why.
        case refused
        /// The child died or hung while loading; `problems` say how.
        case crashed
    }
    public var verdict: Verdict
    /// SHA-256 of the bytes the child loaded (empty when it never got that far).
    public var sha256: String
    /// Problem messages (without the path).
    public var problems: [String]
}

/// Runs scans in child processes and keeps their cache.
public struct PluginScanner: Sendable {
    /// The executable to re-run (maml-host).
    public var executable: String
    /// Seconds a child may take to load one file.
    public var timeout: Double
    /// The default deadline: generous, because a good plugin on a busy machine (a debug build
    /// of maml-host starting under load) can take several seconds to load.
    public static let defaultTimeout = 30.0
    /// The cache file; nil: no cache.
    public var cachePath: String?

    public init(executable: String, timeout: Double = PluginScanner.defaultTimeout, cachePath: String? = PluginScanner.defaultCachePath()) {
        self.executable = executable; self.timeout = timeout; self.cachePath = cachePath
    }

    /// $XDG_CACHE_HOME/maml-zoo/plugin-scan.json, else ~/.cache/maml-zoo/plugin-scan.json
    /// (in secure execution, the real user's home from the password database).
    public static func defaultCachePath(environment: [String: String] = currentEnvironment(),
                                        secure: Bool = isSecureExecution()) -> String {
        if !secure, let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return xdg + "/maml-zoo/plugin-scan.json"
        }
        return userHome(environment: environment, secure: secure) + "/.cache/maml-zoo/plugin-scan.json"
    }

    /// Scans one file in a child process (no cache). `cacheable` is false for verdicts that may
    /// not hold next time: a deadline passed (on a loaded machine a good plugin can be slow to
    /// load; it is scanned again rather than remembered as hung) or the child could not start.
    func scanInChild(_ candidate: PluginCandidate) -> (report: ScanReport, cacheable: Bool) {
        let result: ChildResult
        do {
            result = try runChild(executable, ["_scan", "--origin", candidate.origin.scanName, candidate.path],
                                  timeout: timeout)
        } catch {
            return (ScanReport(verdict: .crashed, sha256: "", problems: ["cannot scan: \(error)"]), false)
        }
        switch result.termination {
        case .signaled(let signal):
            return (ScanReport(verdict: .crashed, sha256: "",
                               problems: ["skipped: crashed during load (\(signalName(signal)))"]), true)
        case .timedOut(let seconds):
            return (ScanReport(verdict: .crashed, sha256: "", problems: [
                "skipped: hung during load (killed after \(formatSeconds(seconds)); --scan-timeout allows more)"]), false)
        case .exited(let code):
            let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
            if let report = try? JSONDecoder().decode(ScanReport.self, from: Data(line.utf8)) { return (report, true) }
            let detail = result.stderr.split(separator: "\n").last.map { ": " + $0 } ?? ""
            return (ScanReport(verdict: .crashed, sha256: "",
                               problems: ["skipped: the scanner exited with status \(code) during load\(detail)"]), true)
        }
    }
}

extension SearchDirectory.Origin {
    /// The --origin argument of `_scan`.
    public var scanName: String {
        switch self {
        case .executable: return "executable"
        case .workingDirectory: return "models"
        case .environment: return "environment"
        case .explicit: return "plugin-dir"
        case .explicitFile: return "file"
        }
    }

    public init?(scanName: String) {
        guard let o = [Self.executable, .workingDirectory, .environment, .explicit, .explicitFile]
            .first(where: { $0.scanName == scanName }) else { return nil }
        self = o
    }
}

// MARK: - The child's side

/// Loads `path` in this process (the `_scan` child) from a descriptor it hashed, and reports.
public func scanPluginFile(_ path: String, origin: SearchDirectory.Origin) -> ScanReport {
    guard case .regular(let id) = fileIdentity(path) else {
        return ScanReport(verdict: .refused, sha256: "", problems: ["cannot read"])
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return ScanReport(verdict: .refused, sha256: "", problems: ["cannot open: \(String(cString: strerror(errno)))"]) }
    let sha: String
    do { sha = try sha256Hex(fileDescriptor: fd) } catch {
        return ScanReport(verdict: .refused, sha256: "", problems: ["cannot hash: \(error.message)"])
    }
    let candidate = PluginCandidate(path: path, origin: origin, device: id.device, inode: id.inode)
    switch loadPlugin(candidate, loadPath: "/proc/self/fd/\(fd)") {
    case .ignored: return ScanReport(verdict: .ignored, sha256: sha, problems: [])
    case .refused(let problem): return ScanReport(verdict: .refused, sha256: sha, problems: [problem.message])
    case .loaded(_, _, let problems): return ScanReport(verdict: .plugin, sha256: sha, problems: problems.map(\.message))
    }
}

// MARK: - The cache

/// Scan verdicts by file, keyed by (path, size, mtime, SHA-256).
struct ScanCache {
    struct Entry: Codable, Equatable {
        var path: String
        var size: Int64
        var mtimeNanoseconds: Int64
        var sha256: String
        var report: ScanReport
    }
    struct File: Codable { var format: String; var entries: [Entry] }
    static let format = "maml-zoo plugin scan cache 1"

    var entries: [String: Entry] = [:]
    var changed = false

    /// The cache at `path`; a missing file is empty, a corrupt one is empty with a note.
    static func load(_ path: String) -> (ScanCache, note: String?) {
        guard FileManager.default.fileExists(atPath: path) else { return (ScanCache(), nil) }
        guard let data = FileManager.default.contents(atPath: path),
              let file = try? JSONDecoder().decode(File.self, from: data), file.format == format else {
            return (ScanCache(), "plugin scan cache \(path) is unreadable or corrupt; ignored (it is rebuilt)")
        }
        var cache = ScanCache()
        for entry in file.entries { cache.entries[entry.path] = entry }
        return (cache, nil)
    }

    func lookup(path: String, size: Int64, mtime: Int64, sha256: String) -> ScanReport? {
        guard let e = entries[path], e.size == size, e.mtimeNanoseconds == mtime, e.sha256 == sha256 else { return nil }
        return e.report
    }

    mutating func store(_ entry: Entry) { entries[entry.path] = entry; changed = true }

    /// Writes the cache atomically (creating its directory); failure only costs a re-scan next time.
    func save(_ path: String) {
        guard changed else { return }
        let file = File(format: Self.format, entries: entries.keys.sorted().map { entries[$0]! })
        guard let data = try? JSONEncoder().encode(file) else { return }
        try? FileManager.default.createDirectory(atPath: parentDirectory(of: path), withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? AtomicFile.write([UInt8](data), to: path)
    }
}

private func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\((s * 10).rounded() / 10) s"
}
