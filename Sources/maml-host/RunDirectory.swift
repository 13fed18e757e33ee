// MARK: - train --run-dir: one folder holds everything a run produces
//
//   run.json        the commands (every session: the first and each resume), the
//                   configuration (model, task, hyper-parameters), timings, machine
//   metrics.jsonl   the metrics log (train --log's JSON lines)
//   last.ckpt       the latest state (what --resume continues)
//   best.ckpt       the best-scoring parameters on validation tasks (with --validate-every)
//   eval.json       the final evaluation (eval --json's object) of best.ckpt, else last.ckpt
//   *.svg, report.html   written by `plot` and `report`
//
// Training again with the same --run-dir continues the run from last.ckpt.
#if canImport(Glibc)
import Glibc
#endif
import MAMLCore
import MAMLSchema

struct RunDirectory {
    let path: String

    var runFile: String { path + "/run.json" }
    var metrics: String { path + "/metrics.jsonl" }
    var last: String { path + "/last.ckpt" }
    var best: String { path + "/best.ckpt" }
    var evaluation: String { path + "/eval.json" }

    /// A folder made by train --run-dir (it holds run.json or last.ckpt).
    static func looksLikeOne(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return false }
        return access(path + "/run.json", F_OK) == 0 || access(path + "/last.ckpt", F_OK) == 0
    }

    /// Creates the folder when it is missing (its parent must exist); refuses a path that is not a folder.
    func create() throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw CLIError("--run-dir \(path): exists and is not a folder") }
            return
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw CLIError("--run-dir \(path): cannot create the folder: \(String(cString: strerror(errno)))")
        }
    }

    /// True when the folder holds a run to continue.
    var hasCheckpoint: Bool { access(last, F_OK) == 0 }

    // MARK: run.json

    /// The record of the run so far (empty for a new folder); an unreadable record is an error
    /// naming it, never silently replaced.
    func record() throws -> JSONObject {
        guard access(runFile, F_OK) == 0 else { return JSONObject([("format", .string(RunDirectory.format))]) }
        let object: JSONObject?
        do { object = try JSONValue.parse(String(decoding: try AtomicFile.read(runFile), as: UTF8.self)).objectValue }
        catch { throw CLIError("\(runFile): cannot read the run record: \(error)") }
        guard let object, object["format"]?.stringValue == RunDirectory.format else {
            throw CLIError("\(runFile): not a maml-zoo run record (expected \"format\": \"\(RunDirectory.format)\")")
        }
        return object
    }

    func write(record: JSONObject) throws {
        do { try AtomicFile.write(Array((JSONValue.object(record).serialized(pretty: true) + "\n").utf8), to: runFile) }
        catch { throw CLIError("\(runFile): cannot write the run record: \(error)") }
    }

    static let format = "maml-zoo run/1"

    // MARK: metrics.jsonl

    /// The metrics log's lines as objects (lines that do not parse are skipped: a crash may cut the last one).
    static func metricLines(_ path: String) -> [JSONObject] {
        guard let bytes = try? AtomicFile.read(path) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap {
            (try? JSONValue.parse(String($0)))?.objectValue
        }
    }

    /// Drops metric lines past `iteration` (written after the checkpoint a resumed run starts from,
    /// so they would appear twice) and returns the best validation score and iteration so far.
    func trimMetrics(after iteration: Int) throws -> (score: Double, iteration: Int)? {
        let lines = RunDirectory.metricLines(metrics)
        let kept = lines.filter { ($0["iteration"]?.numberValue ?? 0) <= Double(iteration) }
        if kept.count != lines.count || access(metrics, F_OK) == 0 {
            let text = kept.map { JSONValue.object($0).serialized() + "\n" }.joined()
            do { try AtomicFile.write(Array(text.utf8), to: metrics) }
            catch { throw CLIError("\(metrics): cannot rewrite the metrics log: \(error)") }
        }
        guard let last = kept.last(where: { $0["best_score"] != nil }),
              let score = last["best_score"]?.numberValue, let at = last["best_iteration"]?.integerValue else { return nil }
        return (score, at)
    }
}

// MARK: - The machine and the moment, for run records and reports

/// CPU model, cores, memory and OS of this machine, as a JSON object.
func machineDescription() -> JSONValue {
    var o = JSONObject()
    let cpuinfo = readSmallFile("/proc/cpuinfo") ?? ""
    if let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        o["cpu"] = .string(String(line[line.index(after: colon)...]).trimmingCharacters(in: " "))
    }
    o["cores_online"] = .number(Double(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    o["cores_usable"] = .number(Double(availableCores()))
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    if pages > 0, pageSize > 0 { o["memory_gib"] = .number((Double(pages) * Double(pageSize) / 1_073_741_824 * 10).rounded() / 10) }
    var names = utsname()
    if uname(&names) == 0 {
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        o["os"] = .string("\(field(names.sysname)) \(field(names.release)) \(field(names.machine))")
    }
    o["maml_host"] = .string(Version.line)
    o["toolchain"] = .string(swiftToolchain)
    return .object(o)
}

/// The current UTC time as "2026-12-05T10:04:59Z".
func utcTimestamp() -> String {
    var t = time(nil), parts = tm()
    gmtime_r(&t, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

extension String {
    func trimmingCharacters(in set: Character) -> String { String(Substring(self).trimmingCharacters(in: set)) }
}
