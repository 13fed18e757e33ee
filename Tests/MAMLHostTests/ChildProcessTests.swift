// MARK: - runChild: exit codes, signals, deadlines, output capture
import Glibc
import MAMLHost
import Testing

@Suite struct ChildProcessTests {
    func sh(_ script: String, timeout: Double = 10, env: [String: String] = [:]) throws -> ChildResult {
        try runChild("/bin/sh", ["-c", script], environment: env, timeout: timeout)
    }

    @Test func exitCodeAndBothStreamsAreCaptured() throws {
        let r = try sh("echo out; echo err >&2; exit 3")
        #expect(r.termination == .exited(3))
        #expect(r.stdout == "out\n" && r.stderr == "err\n")
        #expect(!r.succeeded)
        #expect(try sh("true").succeeded)
    }

    @Test func aCrashIsReportedWithItsSignal() throws {
        let r = try sh("kill -SEGV $$")
        #expect(r.termination == .signaled(SIGSEGV))
        #expect(r.termination.description == "crashed (SIGSEGV)")
        #expect(try sh("kill -ABRT $$").termination.description == "crashed (SIGABRT)")
    }

    @Test func aHangIsKilledAtTheDeadline() throws {
        let r = try sh("echo started; sleep 30", timeout: 0.5)
        #expect(r.termination == .timedOut(seconds: 0.5))
        #expect(r.stdout == "started\n", "output before the deadline is kept")
        #expect(r.seconds < 10)
        // A child that closes its output and keeps running is still held to the deadline.
        let quiet = try sh("exec >&- 2>&-; sleep 30", timeout: 0.5)
        #expect(quiet.termination == .timedOut(seconds: 0.5))
        #expect(quiet.termination.description == "timed out after 0.5 s")
    }

    @Test func largeOutputNeitherDeadlocksNorGrowsPastTheLimit() throws {
        let r = try runChild("/bin/sh", ["-c", "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2; exit 0"],
                             timeout: 20, outputLimit: 1000)
        #expect(r.termination == .exited(0))
        #expect(r.stdout.utf8.count == 1000 && r.stderr.utf8.count == 1000)
    }

    @Test func environmentOverridesReachTheChild() throws {
        #expect(try sh("printf %s \"$MAML_CHILD_TEST\"", env: ["MAML_CHILD_TEST": "seen"]).stdout == "seen")
        #expect(try sh("printf %s \"$PATH\"").stdout.isEmpty == false, "the parent's environment is inherited")
    }

    @Test func aMissingExecutableIsASpawnErrorNamingIt() {
        #expect { try runChild("/nonexistent/tool", [], timeout: 1) } throws: { error in
            "\(error)".contains("/nonexistent/tool")
        }
    }
}
