import Foundation   // FileManager (the cache file and its directory)
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
// file, under a deadline. The child prints a ScanReport as one line of JSON; the parent
// dlopens only files the child loaded successfully (as a plugin), and reports
// the rest: "crashed during load (SIGSEGV)", "hung during load (killed after 30 s)".
//
// The verdicts are cached, keyed by (path, size, mtime, SHA-256), so a warm
// `list` starts no child for unchanged files. The child hashes the bytes it
// loaded (it loads through the hashed descriptor too); the parent compares
// that with its own hash, so a file swapped between scan and load is refused.

/// What loading one file in the scanner child gave.
public struct ScanReport: Sendable, Equatable {
    public enum Verdict: String, Sendable {
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

    public init(verdict: Verdict, sha256: String, problems: [String]) {
        self.verdict = verdict; self.sha256 = sha256; self.problems = problems
    }

    /// {"verdict": ..., "sha256": ..., "problems": [...]}: the `_scan` child's line and a cache entry's report.
    public var json: JSONValue {
        .object(JSONObject([("verdict", .string(verdict.rawValue)), ("sha256", .string(sha256)),
                            ("problems", .array(problems.map(JSONValue.string)))]))
    }

    /// The report in `json`, or nil if it is not one (every key required).
    public init?(json: JSONValue) {
        guard let o = json.objectValue, let verdict = o["verdict"]?.stringValue.flatMap(Verdict.init(rawValue:)),
              let sha256 = o["sha256"]?.stringValue, let list = o["problems"]?.arrayValue else { return nil }
        let problems = list.compactMap(\.stringValue)
        guard problems.count == list.count else { return nil }
        self.init(verdict: verdict, sha256: sha256, problems: problems)
    }
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
            if let json = try? JSONValue.parse(line), let report = ScanReport(json: json) { return (report, true) }
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
    struct Entry: Equatable {
        var path: String
        var size: Int64
        var mtimeNanoseconds: Int64
        var sha256: String
        var report: ScanReport

        var json: JSONValue {
            .object(JSONObject([("path", .string(path)), ("size", JSONValue(integer: size)),
                                ("mtimeNanoseconds", JSONValue(integer: mtimeNanoseconds)),
                                ("sha256", .string(sha256)), ("report", report.json)]))
        }

        init(path: String, size: Int64, mtimeNanoseconds: Int64, sha256: String, report: ScanReport) {
            self.path = path; self.size = size; self.mtimeNanoseconds = mtimeNanoseconds
            self.sha256 = sha256; self.report = report
        }

        init?(json: JSONValue) {
            guard let o = json.objectValue, let path = o["path"]?.stringValue,
                  let size = o["size"]?.integerValue, let mtime = o["mtimeNanoseconds"]?.integerValue,
                  let sha256 = o["sha256"]?.stringValue, let report = o["report"].flatMap(ScanReport.init(json:))
            else { return nil }
            self.init(path: path, size: Int64(size), mtimeNanoseconds: Int64(mtime), sha256: sha256, report: report)
        }
    }
    /// The file: {"format": ScanCache.format, "entries": [Entry...]}.
    static let format = "maml-zoo plugin scan cache 1"

    var entries: [String: Entry] = [:]
    var changed = false

    /// The cache at `path`; a missing file is empty, a corrupt one is empty with a note.
    static func load(_ path: String) -> (ScanCache, note: String?) {
        guard FileManager.default.fileExists(atPath: path) else { return (ScanCache(), nil) }
        guard let data = FileManager.default.contents(atPath: path),
              let file = (try? JSONValue.parse(String(decoding: data, as: UTF8.self)))?.objectValue,
              file["format"] == .string(format), let list = file["entries"]?.arrayValue else {
            return (ScanCache(), "plugin scan cache \(path) is unreadable or corrupt; ignored (it is rebuilt)")
        }
        let entries = list.compactMap(Entry.init(json:))
        guard entries.count == list.count else {
            return (ScanCache(), "plugin scan cache \(path) is unreadable or corrupt; ignored (it is rebuilt)")
        }
        var cache = ScanCache()
        for entry in entries { cache.entries[entry.path] = entry }
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
        let file = JSONValue.object(JSONObject([
            ("format", .string(Self.format)),
            ("entries", .array(entries.keys.sorted().map { entries[$0]!.json })),
        ]))
        try? FileManager.default.createDirectory(atPath: parentDirectory(of: path), withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? AtomicFile.write(Array(file.serialized().utf8), to: path)
    }
}

private func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\((s * 10).rounded() / 10) s"
}
