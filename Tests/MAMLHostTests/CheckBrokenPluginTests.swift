// MARK: - maml-host check on the broken corpus: the right check fails, and only it
import Foundation
import MAMLHost
import MAMLConformance
import Testing

/// maml-host sits next to the test bundle in the build folder (`swift test` builds it).
let mamlHostExecutable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent().path + "/maml-host"

/// One `maml-host check FILE --json` run, parsed.
struct CheckRun {
    var termination: ChildTermination
    var stdout: String
    var stderr: String
    /// The whole report; `checks` as a list of objects.
    var report: [String: Any]
    var checks: [[String: Any]]

    /// (check, model) of every failed check.
    var failures: [(check: String, model: String?)] {
        checks.filter { $0["result"] as? String == "fail" }.map { ($0["check"] as! String, $0["model"] as? String) }
    }

    func detail(_ check: String) -> [String] {
        checks.filter { $0["check"] as? String == check }.compactMap { $0["detail"] as? String }
    }

    init(_ arguments: [String], timeout: Double) throws {
        let child = try runChild(mamlHostExecutable, ["check"] + arguments + ["--json", "--timeout", "\(timeout)"],
                                 timeout: 600)
        termination = child.termination
        stdout = child.stdout; stderr = child.stderr
        let value = try JSONSerialization.jsonObject(with: Data(child.stdout.utf8))
        report = try #require(value as? [String: Any], "not a JSON object: \(child.stdout)\n\(child.stderr)")
        checks = try #require(report["checks"] as? [[String: Any]], "no checks array: \(child.stdout)")
    }
}

@Suite("maml-host check on broken plugins")
struct CheckBrokenPluginTests {
    /// What the failed check's detail must say, per variant.
    static let expectedDetail: [String: String] = [
        "libgradsign.so": "the gradient has the wrong sign",
        "libgradscale.so": "off by a factor 1.05",
        "libgradscale2.so": "off by a factor 1.02",
        "libhvpwrong.so": "norm ratio 0.5",
        "libvjpwrong.so": "the error lies in tensor 'bias' (head): along ",
        "libnondet.so": "init_params(seed 1) gave different parameters on two calls",
        "libpastgrad.so": "crashed (SIGSEGV) during loss_grad writing",
        "libcrashgrad.so": "crashed (SIGSEGV) during loss_grad at the initialisation",
        "libabortgrad.so": "crashed (SIGABRT) during loss_grad at the initialisation",
        "libsumloss.so": "(ratio 2): the loss must be the MEAN over examples",
        "libforwardoff.so": "of forward's outputs is",
        "libhangcreate.so": "timed out after 2 s during create(NULL)",
        "libnomessage.so": "but last_error is empty",
    ]

    /// Seconds per check for these tiny models; the hanging one gets a short deadline.
    static func timeout(_ file: String) -> Double { file == "libhangcreate.so" ? 2 : 30 }

    @Test("each broken plugin fails exactly the check that tests its bug, for both of its models",
          arguments: brokenVariants.map(\.file))
    func failsTheRightCheck(file: String) throws {
        let variant = try #require(brokenVariants.first { $0.file == file })
        let path = try fixtures().broken + "/" + file
        let run = try CheckRun([path], timeout: Self.timeout(file))

        #expect(run.termination == .exited(1), "the checker exits 1 on failures and never crashes: \(run.stderr)")
        #expect(run.report["passed"] as? Bool == false)
        #expect(run.report["plugin"] as? String == path)
        let failed = run.failures
        #expect(Set(failed.map(\.check)) == Set(variant.failingChecks), "failed: \(failed)")
        #expect(Set(failed.compactMap(\.model)) == ["org.test.linreg\(tagOf(file))", "org.test.logreg\(tagOf(file))"],
                "both models fail it")
        let expected = try #require(Self.expectedDetail[file])
        for detail in run.detail(variant.failingChecks[0]) { #expect(detail.contains(expected), "\(detail)") }
        // Checks after a failed prerequisite are skipped with the reason, not failed again.
        for check in run.checks where check["result"] as? String == "skip" {
            let detail = check["detail"] as? String ?? ""
            #expect(!detail.isEmpty)
        }
    }

    @Test("a crash skips the checks that need the crashing call, naming the failed check")
    func prerequisitesSkip() throws {
        let run = try CheckRun([try fixtures().broken + "/libcrashgrad.so"], timeout: 30)
        let linreg = run.checks.filter { $0["model"] as? String == "org.test.linreg-crashgrad" }
        let after = linreg.drop { $0["check"] as? String != "loss-finite" }.dropFirst()
        #expect(after.count == 10)
        for check in after {
            #expect(check["result"] as? String == "skip")
            #expect(check["detail"] as? String == "skipped: loss-finite failed")
        }
    }

    @Test("the good fixture plugin passes, with every check of both models in the JSON report")
    func goodPluginPasses() throws {
        let path = try fixtures().corpusFile("libgood.so")
        let run = try CheckRun([path], timeout: 30)
        #expect(run.termination == .exited(0), "\(run.stdout)\n\(run.stderr)")
        #expect(run.report["passed"] as? Bool == true)
        #expect(run.report["strict"] as? Bool == false)
        #expect(run.failures.isEmpty, "\(run.failures)")
        let names = ConformanceCheck.allCases.map(\.rawValue)
        for model in ["org.test.linreg", "org.test.logreg"] {
            #expect(run.checks.filter { $0["model"] as? String == model }.compactMap { $0["check"] as? String }
                == Array(names.dropFirst(2)))
        }
        #expect(run.checks.prefix(2).map { $0["check"] as? String } == ["entry", "registry"])
        for check in run.checks {
            #expect(Set(check.keys) == ["check", "model", "result", "detail", "seconds"])
            #expect(["pass", "skip"].contains(check["result"] as? String ?? ""))
            #expect((check["seconds"] as? Double ?? -1) >= 0)
        }
        // The only skip: the fixture schema has no examples.
        #expect(run.checks.filter { $0["result"] as? String == "skip" }.compactMap { $0["check"] as? String }
            == ["create-examples", "create-examples"])
    }

    @Test("--strict: the good fixture's skipped create-examples fails it (exit 1), with every result unchanged")
    func strictFailsOnSkips() throws {
        let path = try fixtures().corpusFile("libgood.so")
        let run = try CheckRun([path, "--strict"], timeout: 30)
        #expect(run.termination == .exited(1), "\(run.stdout)\n\(run.stderr)")
        #expect(run.report["passed"] as? Bool == false)
        #expect(run.report["strict"] as? Bool == true)
        #expect(run.failures.isEmpty, "no check fails; the skips do")
        #expect(run.checks.filter { $0["result"] as? String == "skip" }.count == 2)
        let table = try runChild(mamlHostExecutable, ["check", path, "--strict", "--timeout", "30"], timeout: 600)
        #expect(table.termination == .exited(1))
        #expect(table.stdout.contains("FAILED (--strict: a check was skipped): "), "\(table.stdout)")
    }

    // The kinked ReLU model: random HVP directions are inconclusive (they straddle kinks at every
    // step), so the hvp check goes through head directions and symmetry, and must still catch an
    // HVP wrong only in the hidden rows, by a factor everywhere, or only for non-head directions.
    @Test("a ReLU model's HVP is checked along head directions and by symmetry; each wrong HVP fails hvp alone",
          arguments: kinkedVariants.map(\.file))
    func kinkedHVP(file: String) throws {
        let variant = try #require(kinkedVariants.first { $0.file == file })
        let run = try CheckRun([try fixtures().kinked + "/" + file], timeout: 60)
        let hvp = try #require(run.detail("hvp").first)
        guard let failure = variant.failure else {
            #expect(run.termination == .exited(0), "\(run.stdout)\n\(run.stderr)")
            #expect(run.failures.isEmpty, "\(run.failures)")
            #expect(run.checks.first { $0["check"] as? String == "hvp" }?["result"] as? String == "pass")
            #expect(hvp.hasPrefix("random directions cross ReLU/max-pool kinks (6 inconclusive); 3 head directions agree"), "\(hvp)")
            #expect(hvp.contains("symmetry u·Hv = v·Hu holds for 9 head x random and 3 random x random pairs"), "\(hvp)")
            return
        }
        #expect(run.termination == .exited(1), "\(run.stderr)")
        #expect(run.failures.map(\.check) == ["hvp"], "only hvp fails: \(run.failures)")
        #expect(hvp.contains(failure), "\(hvp)")
        if file != "libkinkedasym.so" { #expect(hvp.hasPrefix("head direction 1 (it moves only"), "\(hvp)") }
        else { #expect(hvp.hasPrefix("symmetry: for head direction 1 u and random direction 1 v"), "\(hvp)") }
    }

    @Test("a file that is not a plugin fails entry and skips the rest; the checker exits 1")
    func notAPlugin() throws {
        let run = try CheckRun([try fixtures().corpusFile("garbage.so")], timeout: 30)
        #expect(run.termination == .exited(1))
        #expect(run.failures.map(\.check) == ["entry"])
        #expect(run.detail("entry").first?.contains("cannot load") == true)
        #expect(run.checks.dropFirst().allSatisfy { $0["detail"] as? String == "skipped: entry failed" })
    }
}

/// The FX_TAG suffix of a broken variant (from its flags).
private func tagOf(_ file: String) -> String {
    let flags = brokenVariants.first { $0.file == file }?.flags ?? []
    guard let tag = flags.first(where: { $0.hasPrefix("-DFX_TAG=") }) else { return "" }
    return String(tag.dropFirst("-DFX_TAG=".count)).replacingOccurrences(of: "\"", with: "")
}
