// MARK: - Scan reports and the scan cache as JSON (MAMLSchema's, no Foundation coding)

import Foundation
import Testing
@testable import MAMLHost
import MAMLCore   // MAMLSchema's JSONValue

/// The cache file as JSONEncoder wrote it before (Codable, default options: escaped slashes,
/// unsorted keys), to check that such files still load.
private struct OldCacheFile: Encodable {
    struct Report: Encodable { var verdict: String, sha256: String, problems: [String] }
    struct Entry: Encodable { var path: String, size: Int64, mtimeNanoseconds: Int64, sha256: String, report: Report }
    var format: String, entries: [Entry]
}

@Suite struct ScanReportTests {
    let reports = [
        ScanReport(verdict: .plugin, sha256: String(repeating: "ab", count: 32), problems: []),
        ScanReport(verdict: .refused, sha256: "", problems: ["model \"x\": bad\nschema/é 😀", "\u{1}\\"]),
        ScanReport(verdict: .crashed, sha256: "", problems: ["skipped: crashed during load (SIGSEGV)"]),
        ScanReport(verdict: .ignored, sha256: "00", problems: []),
    ]

    @Test func reportsAreOneLineOfJSONAndReadBack() throws {
        for report in reports {
            let line = report.json.serialized()
            #expect(!line.contains("\n"))
            #expect(ScanReport(json: try JSONValue.parse(line)) == report)
        }
        #expect(reports[0].json.serialized()
                == #"{"verdict":"plugin","sha256":"\#(String(repeating: "ab", count: 32))","problems":[]}"#)
        // Anything else is not a report (the parent then reports the child's exit).
        for bad in [#"{"verdict":"plugin","sha256":""}"#, #"{"verdict":"maybe","sha256":"","problems":[]}"#,
                    #"{"verdict":"plugin","sha256":"","problems":[1]}"#, "[]", "null"] {
            #expect(ScanReport(json: try JSONValue.parse(bad)) == nil, "\(bad)")
        }
    }

    @Test func theCacheRoundTripsAndReadsFilesJSONEncoderWrote() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scan-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/maml-zoo/plugin-scan.json"
        var cache = ScanCache()
        let mtime: Int64 = 1_733_338_123_456_789_012   // beyond 2^53: must stay exact
        for (i, report) in reports.enumerated() {
            cache.store(.init(path: "/plugins/lib\(i).so", size: Int64(1000 + i), mtimeNanoseconds: mtime + Int64(i),
                              sha256: report.sha256, report: report))
        }
        cache.save(path)
        let (loaded, note) = ScanCache.load(path)
        #expect(note == nil && loaded.entries == cache.entries)
        #expect(loaded.lookup(path: "/plugins/lib1.so", size: 1001, mtime: mtime + 1, sha256: "") == reports[1])
        #expect(loaded.lookup(path: "/plugins/lib1.so", size: 1001, mtime: mtime, sha256: "") == nil)

        // A cache file in the format JSONEncoder wrote ("\/" slashes) reads as the same entries.
        let old = OldCacheFile(format: ScanCache.format, entries: cache.entries.keys.sorted().map { key in
            let e = cache.entries[key]!
            return .init(path: e.path, size: e.size, mtimeNanoseconds: e.mtimeNanoseconds, sha256: e.sha256,
                         report: .init(verdict: e.report.verdict.rawValue, sha256: e.report.sha256,
                                       problems: e.report.problems))
        })
        try JSONEncoder().encode(old).write(to: URL(fileURLWithPath: path))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains(#"\/plugins\/lib0.so"#))
        let (fromOld, oldNote) = ScanCache.load(path)
        #expect(oldNote == nil && fromOld.entries == cache.entries)

        // Anything else is ignored with a note (and rebuilt).
        for bad in ["{not json", #"{"format":"maml-zoo plugin scan cache 0","entries":[]}"#,
                    #"{"format":"maml-zoo plugin scan cache 1","entries":[{"path":"/x"}]}"#] {
            try Data(bad.utf8).write(to: URL(fileURLWithPath: path))
            let (empty, badNote) = ScanCache.load(path)
            #expect(empty.entries.isEmpty && badNote?.contains("ignored (it is rebuilt)") == true, "\(bad)")
        }
    }
}
