// MARK: - bench --suite: workloads run as children, 1 and N threads, JSON and errors
import Testing
import TestSupport

@Suite(.slow) struct BenchSuiteTests {
    @Test func suiteRunsEachWorkloadOnOneAndNThreads() throws {
        let run = try mamlHost(["bench", "--suite", "--quick", "--only", "sinusoid-fomaml,conv4-maml-k1",
                                "--threads", "2", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let root = try jsonObject(run.stdout)
        let runs = try #require(root["runs"] as? [[String: Any]])
        // sinusoid on 1 and 2 threads; the memory row on one thread only.
        #expect(runs.map { $0["workload"] as? String } == ["sinusoid-fomaml", "sinusoid-fomaml", "conv4-maml-k1"])
        #expect(runs.map { $0["threads"] as? Int } == [1, 2, 1])
        for r in runs {
            #expect((r["meta_iterations_per_s"] as? Double ?? 0) > 0)
            #expect((r["peak_rss_mib"] as? Double ?? 0) > 1)
            #expect(r["gflops"] as? Double != nil, "every bundled model declares the flops op")
        }
        #expect(runs[0]["algorithm"] as? String == "fomaml" && runs[2]["model"] as? String == "org.mamlzoo.cnn")
        #expect(runs[2]["inner_steps"] as? Int == 1 && runs[2]["meta_batch"] as? Int == 8)
        #expect((root["sgemm_gflops"] as? Double ?? 0) > 0 && root["quick"] as? Bool == true)
    }

    @Test("the family's rows run: every algorithm on the MLP, and iMAML's memory row")
    func familyRowsRun() throws {
        let names = ["reptile", "meta-sgd", "anil", "imaml", "maml-plusplus"].map { "sinusoid-\($0)" } + ["conv4-imaml-k1"]
        let run = try mamlHost(["bench", "--suite", "--quick", "--only", names.joined(separator: ","), "--threads", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let runs = try #require(try jsonObject(run.stdout)["runs"] as? [[String: Any]])
        #expect(runs.map { $0["workload"] as? String } == names)
        #expect(runs.map { $0["algorithm"] as? String } == ["reptile", "meta-sgd", "anil", "imaml", "maml", "imaml"])
        for r in runs { #expect((r["meta_iterations_per_s"] as? Double ?? 0) > 0 && r["gflops"] as? Double != nil) }
    }

    @Test func unknownWorkloadIsNamed() throws {
        let run = try mamlHost(["bench", "--suite", "--only", "sinusoid-maml,conv5"])
        #expect(run.status != 0)
        #expect(run.stderr.contains(#"unknown workload "conv5""#) && run.stderr.contains("rnn-lstm-maml"))
    }

    @Test func suiteOptionsNeedSuite() throws {
        let run = try mamlHost(["bench", "--quick"])
        #expect(run.status != 0 && run.stderr.contains("--only and --quick go with --suite"))
    }
}
