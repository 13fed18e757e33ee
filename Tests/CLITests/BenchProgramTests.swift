// MARK: - Tests/bench: the documented benchmark programs build and run as documented
import Foundation
import Testing

@Suite struct BenchProgramTests {
    /// gemm-bench.c with its documented clang line and a few repetitions: every product of a
    /// task is timed in every build and the scan gives the right answer (it exits 1 if not).
    @Test func gemmBenchBuildsAndRuns() throws {
        let dir = try temporaryDirectory()
        let root = repositoryRoot
        let cc = try runTool("clang", ["-O3", "-o", dir + "/gemm-bench", root + "/Tests/bench/gemm-bench.c",
                                    root + "/Sources/MAMLKernels/small_gemm.c", root + "/Sources/MAMLKernels/finite.c",
                                    "-I" + root + "/Sources/MAMLKernels/include"], in: dir)
        try #require(cc.status == 0, "cc failed:\n\(cc.output)")
        let run = try runTool(dir + "/gemm-bench", ["20"], in: dir)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("GEMM time of one task:  baseline "), "\(run.output)")
        #expect(run.output.contains("finiteness scan, 1,761 floats:  baseline "), "\(run.output)")
        let products = run.output.split(separator: "\n").filter { line in
            ["fwd ", "chain ", "dW", "Rfwd ", "Rbwd "].contains { line.hasPrefix($0) }
        }
        #expect(products.count == 16, "one line per product of a task:\n\(run.output)")
    }
}
