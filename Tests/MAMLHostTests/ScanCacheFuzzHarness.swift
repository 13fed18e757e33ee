// MARK: - What the scan cache fuzzer does with one input
//
// Shared by the libFuzzer target fuzz-scancache (Tests/fuzz/Sources/fuzz-scancache links to this
// file) and the normal test suite (ScanCacheFuzzRegressionTests). The plugin scan cache
// ($XDG_CACHE_HOME/maml-zoo/plugin-scan.json) is read at every `list`, `train` and `check`; the
// bytes are that file, read as PluginCatalog reads it (ScanCache.load), looked up, saved and read
// back; the last line is also decoded as the report a `_scan` child prints, as
// PluginScanner.scanInChild does. A corrupt file must be ignored with a note naming it; a crash,
// trap, sanitizer report or broken promise below is a finding.

#if canImport(MAMLHost)
@testable import MAMLHost
import MAMLSchema
#endif
import Foundation

/// Reads `bytes` as the scan cache file in the existing directory `dir`. Returns a broken
/// promise (a refused file that still yields entries, a note that does not name the file, an
/// entry not found by its own key or found by another, a saved cache that reads back
/// differently, a report line that does not survive encoding), or nil.
func exerciseScanCache(_ bytes: [UInt8], in dir: String) -> String? {
    let path = dir + "/plugin-scan.json", copy = dir + "/saved/plugin-scan.json"
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return "cannot write \(path)" }
    let (cache, note) = ScanCache.load(path)
    if let note {
        guard cache.entries.isEmpty else { return "a refused cache kept \(cache.entries.count) entries" }
        guard note.contains(path) else { return "the note does not name the file: \(note)" }
        return exerciseScanReportLine(bytes)
    }
    for (key, entry) in cache.entries {
        guard key == entry.path else { return "entry for \(entry.path) filed under \(key)" }
        guard cache.lookup(path: entry.path, size: entry.size, mtime: entry.mtimeNanoseconds,
                           sha256: entry.sha256) == entry.report else {
            return "the entry for \(entry.path) is not found by its own key"
        }
        // Any other size, mtime or hash is a miss (the file changed: scan it again).
        if cache.lookup(path: entry.path, size: entry.size &+ 1, mtime: entry.mtimeNanoseconds, sha256: entry.sha256) != nil
            || cache.lookup(path: entry.path, size: entry.size, mtime: entry.mtimeNanoseconds &- 1, sha256: entry.sha256) != nil
            || cache.lookup(path: entry.path, size: entry.size, mtime: entry.mtimeNanoseconds, sha256: entry.sha256 + "0") != nil {
            return "the entry for \(entry.path) matches a changed file"
        }
    }
    var resaved = cache
    resaved.changed = true
    try? FileManager.default.removeItem(atPath: copy)
    resaved.save(copy)
    let (back, backNote) = ScanCache.load(copy)
    guard backNote == nil, back.entries == cache.entries else {
        return "the saved cache reads back differently (\(backNote ?? "\(back.entries.count) of \(cache.entries.count) entries"))"
    }
    return exerciseScanReportLine(bytes)
}

/// The last line of `bytes` decoded as a `_scan` child's report; an accepted report must encode to
/// JSON that decodes to the same report.
func exerciseScanReportLine(_ bytes: [UInt8]) -> String? {
    let text = String(decoding: bytes, as: UTF8.self)
    let line = text.split(separator: "\n").last.map(String.init) ?? ""
    guard let parsed = try? JSONValue.parse(line), let report = ScanReport(json: parsed) else { return nil }
    let encoded = report.json.serialized()
    guard let again = (try? JSONValue.parse(encoded)).flatMap(ScanReport.init(json:)), again == report else {
        return "a report does not read back: \(encoded)"
    }
    return nil
}

/// Valid cache files, written by ScanCache.save itself (so they follow the format as it changes):
/// one of each verdict, problems with quotes, newlines and non-ASCII text, a huge size and mtime.
func seedScanCaches(in dir: String) throws -> [(name: String, bytes: [UInt8])] {
    let sha = String(repeating: "ab", count: 32)
    let entries: [ScanCache.Entry] = [
        .init(path: "/usr/lib/maml-zoo/libmaml_mlp.so", size: 123_456, mtimeNanoseconds: 1_764_000_000_123_456_789,
              sha256: sha, report: ScanReport(verdict: .plugin, sha256: sha, problems: [])),
        .init(path: "/opt/models/libbroken.so", size: 9, mtimeNanoseconds: -1, sha256: sha,
              report: ScanReport(verdict: .refused, sha256: sha,
                                 problems: ["model 'x' has no \"loss\"\n(second line)", "schema: é ✓"])),
        .init(path: "/opt/models/libcrash.so", size: Int64.max, mtimeNanoseconds: Int64.min, sha256: "",
              report: ScanReport(verdict: .crashed, sha256: "", problems: ["skipped: crashed during load (SIGSEGV)"])),
        .init(path: "./relative/libignored.so", size: 0, mtimeNanoseconds: 0, sha256: sha,
              report: ScanReport(verdict: .ignored, sha256: sha, problems: [])),
    ]
    var seeds: [(String, [UInt8])] = []
    for (name, count) in [("empty", 0), ("one", 1), ("all", entries.count)] {
        var cache = ScanCache()
        for entry in entries.prefix(count) { cache.store(entry) }
        cache.changed = true
        let path = dir + "/seed-\(name).json"
        try? FileManager.default.removeItem(atPath: path)
        cache.save(path)
        seeds.append(("scan-cache-" + name, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
    }
    let report = entries[1].report.json.serialized()
    seeds.append(("scan-report-line", Array("loading...\n".utf8) + Array(report.utf8)))
    return seeds
}
