// MARK: - Fuzzing that cannot rot: every libFuzzer target builds and fuzzes for a few seconds
//
// Tests/fuzz/fuzz.sh builds the targets (the package Tests/fuzz, on the package's own modules,
// with libFuzzer and AddressSanitizer) and runs one; docs/fuzzing.md. This suite runs each target
// found in Tests/fuzz/Sources for a few seconds on a fresh corpus (its seeds and regressions, then
// mutations), so a harness or target that no longer builds, a toolchain without libFuzzer, a
// reader that crashes on a committed input, or a build that lost its coverage instrumentation
// fails CI instead of being found broken the next time someone fuzzes. The first target pays the
// build: 1.5-4 min cold on 2 shared cores (.build/fuzz/pkg is kept); warm, the suite took 99 s
// at load average ~6 (about 4 s of up-to-date check, 1-2 s of start and 8 s of fuzzing per target).

import Foundation
import Testing
import TestSupport

/// The fuzz targets: the folders Tests/fuzz/Sources/fuzz-NAME, as `fuzz.sh --list` prints them.
let fuzzTargets: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Tests/fuzz/Sources"))
    ?? []).filter { $0.hasPrefix("fuzz-") }.map { String($0.dropFirst("fuzz-".count)) }.sorted()

/// Seconds of mutations per target (MAML_FUZZ_SMOKE_SECONDS overrides; default 8).
let fuzzSmokeSeconds = ProcessInfo.processInfo.environment["MAML_FUZZ_SMOKE_SECONDS"].flatMap { Int($0) } ?? 8

@Suite(.slow, .serialized) struct FuzzSmokeTests {
    @Test func theFourTargetsAreThere() {
        #expect(Set(fuzzTargets).isSuperset(of: ["checkpoint", "config", "png", "scancache"]), "\(fuzzTargets)")
    }

    @Test("a fuzz target builds with libFuzzer and ASan and fuzzes cleanly for a few seconds", .serialized,
          arguments: fuzzTargets)
    func fuzzTargetSmoke(_ target: String) throws {
        let corpus = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: corpus) }
        let run = try runTool(repositoryRoot + "/Tests/fuzz/fuzz.sh", [target, "\(fuzzSmokeSeconds)"],
                              in: repositoryRoot, environment: ["MAML_FUZZ_CORPUS": corpus])
        let tail = run.output.split(separator: "\n", omittingEmptySubsequences: false).suffix(60)
            .filter { !$0.hasPrefix("\"") && !$0.contains("# Uses:") }.joined(separator: "\n")
        // A build failure (no libFuzzer runtime, a harness that no longer compiles) or a finding.
        try #require(run.status == 0, "Tests/fuzz/fuzz.sh \(target) \(fuzzSmokeSeconds) exited \(run.status):\n\(tail)")
        // It fuzzed instrumented code: coverage grew past the harness, and many inputs ran.
        #expect(!run.output.contains("Is the code instrumented for coverage"), "\(tail)")
        let coverage = number(after: "INITED cov: ", in: run.output)
        #expect(coverage >= 100, "INITED coverage \(coverage) edges:\n\(tail)")
        let executed = number(after: "stat::number_of_executed_units: ", in: run.output)
        #expect(executed >= 100, "\(executed) executions:\n\(tail)")
    }

    /// The integer after the last occurrence of `prefix` in `text`, or -1.
    private func number(after prefix: String, in text: String) -> Int {
        guard let range = text.range(of: prefix, options: .backwards) else { return -1 }
        return Int(text[range.upperBound...].prefix { $0.isNumber }) ?? -1
    }
}
