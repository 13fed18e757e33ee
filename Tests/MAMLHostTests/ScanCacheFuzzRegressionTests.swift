// MARK: - The scan cache fuzzer's seeds and regressions (Tests/fuzz/regressions/scancache) in the normal suite

import Foundation
import Testing
import TestSupport
@testable import MAMLHost

@Suite struct ScanCacheFuzzRegressionTests {
    private func scratch() throws -> (String, cleanup: () -> Void) {
        let dir = FileManager.default.temporaryDirectory.path + "/scan-cache-fuzz-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (dir, { try? FileManager.default.removeItem(atPath: dir) })
    }

    /// The seed caches (written by ScanCache.save) load with all their entries and keep the promises.
    @Test func seedsLoadAndKeepThePromises() throws {
        let (dir, cleanup) = try scratch()
        defer { cleanup() }
        let seeds = try seedScanCaches(in: dir)
        for seed in seeds {
            #expect(exerciseScanCache(seed.bytes, in: dir) == nil, "\(seed.name)")
        }
        let all = try #require(seeds.first { $0.name == "scan-cache-all" })
        try Data(all.bytes).write(to: URL(fileURLWithPath: dir + "/all.json"))
        let (cache, note) = ScanCache.load(dir + "/all.json")
        #expect(note == nil)
        #expect(cache.entries.count == 4)
    }

    /// Corrupt caches are ignored with a note naming the file; the fuzzer's finds stay fixed.
    @Test func corruptCachesAndRegressionsKeepThePromises() throws {
        let (dir, cleanup) = try scratch()
        defer { cleanup() }
        var inputs: [(name: String, bytes: [UInt8])] = [
            ("empty", []), ("object", Array("{}".utf8)), ("not JSON", [0xFF, 0xFE, 0x00]),
            ("other format", Array(#"{"format": "something else", "entries": []}"#.utf8)),
            ("deep", Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)),
            ("huge size", Array(#"{"format": "maml-zoo plugin scan cache 1", "entries": [{"path": "/a", "size": 1e300, "mtimeNanoseconds": 0, "sha256": "", "report": {"verdict": "plugin", "sha256": "", "problems": []}}]}"#.utf8)),
            ("unknown verdict", Array(#"{"format": "maml-zoo plugin scan cache 1", "entries": [{"path": "/a", "size": 1, "mtimeNanoseconds": 0, "sha256": "", "report": {"verdict": "trusted", "sha256": "", "problems": []}}]}"#.utf8)),
        ]
        inputs += try fuzzFiles("regressions/scancache")
        for input in inputs {
            #expect(exerciseScanCache(input.bytes, in: dir) == nil, "\(input.name)")
        }
        // None of the hand-made ones above is a valid cache.
        for input in inputs.prefix(7) {
            try Data(input.bytes).write(to: URL(fileURLWithPath: dir + "/bad.json"))
            let (cache, note) = ScanCache.load(dir + "/bad.json")
            #expect(cache.entries.isEmpty && note != nil, "\(input.name)")
        }
    }
}
