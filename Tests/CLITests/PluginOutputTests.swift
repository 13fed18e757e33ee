// MARK: - The host's stdout is the host's: plugin output never mixes with results, plugin text is escaped
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The fixture plugin printing to stdout when loaded, in create, in every loss_grad and at exit
/// (printf without a newline, puts, write(1, ...), text that looks like JSON).
private func noisyPlugin() throws -> String {
    try buildFixturePlugin("libnoise.so", ["-DFX_STDOUT_NOISE", "-DFX_TAG=\"-noise\""])
}

/// The bytes of `text` that would act on a terminal or break a line: every C0 control but
/// "\n", DEL, and C1 controls (U+0080...U+009F).
private func terminalControls(_ text: String) -> [Unicode.Scalar] {
    text.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
}

@Suite("Plugin output and plugin text", .slow)
struct PluginOutputTests {
    @Test("a plugin printing to stdout at load, in create and in loss_grad: list, ops, check and info keep their stdout; the noise goes to stderr")
    func jsonCommandsIgnorePluginStdout() throws {
        let plugins = try noisyPlugin()
        let list = try mamlHost(["list", "--json", "--plugin-dir", plugins])
        #expect(list.status == 0, "\(list.stderr)")
        let listed = try jsonObject(list.stdout)
        let ids = try #require(listed["models"] as? [[String: Any]]).compactMap { $0["id"] as? String }
        // The scanner child's JSON line survived the noise too: the plugin was not taken for a crash.
        #expect(ids.contains("org.test.linreg-noise") && ids.contains("org.test.logreg-noise"), "\(list.stdout)")
        #expect(try #require(listed["problems"] as? [Any]).isEmpty, "\(list.stdout)")
        #expect(list.stderr.contains("fixture noise: write(1)") && list.stderr.contains("fixture noise: at exit"))

        let ops = try mamlHost(["ops", "linreg-noise", "--json", "--plugin-dir", plugins])
        #expect(ops.status == 0, "\(ops.stderr)")
        #expect(try jsonObject(ops.stdout)["model"] as? String == "org.test.linreg-noise")
        #expect(ops.stderr.contains("fixture noise: printf in create"))

        // Each check runs in a child whose result line the parent reads from the child's stdout.
        let check = try mamlHost(["check", plugins + "/libnoise.so", "--json", "--defaults-only", "--timeout", "600"])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr.suffix(2000))")
        #expect(try jsonObject(check.stdout)["passed"] as? Bool == true)

        let info = try mamlHost(["info", "linreg-noise", "--plugin-dir", plugins])
        #expect(info.status == 0 && info.stdout.hasPrefix("linreg-noise  org.test.linreg-noise"), "\(info.stdout)")
        #expect(!info.stdout.contains("noise:") && info.stderr.contains("fixture noise: printf in create"))
    }

    @Test("train, then eval --json and bench --json with a plugin printing in every loss_grad: one JSON document each, train's stdout only its own lines")
    func evalAndBenchJSONIgnorePluginStdout() throws {
        let plugins = try noisyPlugin()
        let dir = try temporaryDirectory()
        let model = ["--plugin-dir", plugins, "--model", "linreg-noise", "--config", "{\"inputs\":1,\"outputs\":1}",
                     "--meta-batch", "2"]
        let train = try mamlHost(["train"] + model + ["--iterations", "4", "--output", "n.ckpt"], in: dir)
        #expect(train.status == 0, "\(train.stderr.suffix(2000))")
        let own = ["training ", "iter ", "wrote "]
        let stray = train.stdout.split(separator: "\n").filter { line in !own.contains { line.hasPrefix($0) } }
        #expect(stray.isEmpty, "\(train.stdout)")
        #expect(train.stderr.contains("fixture noise: printf in loss_grad"))

        let eval = try mamlHost(["eval", "--checkpoint", "n.ckpt", "--json", "--plugin-dir", plugins, "--tasks", "3"], in: dir)
        #expect(eval.status == 0, "\(eval.stderr.suffix(2000))")
        let report = try jsonObject(eval.stdout)
        #expect(report["model"] as? String == "org.test.linreg-noise" && report["results"] is [Any], "\(eval.stdout)")

        let bench = try mamlHost(["bench", "--json", "--iterations", "2", "--warmup", "0"] + model, in: dir)
        #expect(bench.status == 0, "\(bench.stderr.suffix(2000))")
        #expect(try jsonObject(bench.stdout)["model"] as? String == "org.test.linreg-noise", "\(bench.stdout)")
    }

    @Test("names, versions and summaries with newlines and escape sequences are escaped in the list table and info; JSON keeps them exact")
    func controlTextIsEscaped() throws {
        let plugins = try buildFixturePlugin("libctl.so", ["-DFX_CONTROL_TEXT", "-DFX_TAG=\"-ctl\""])
        let rawName = "linreg-ctl\nFAKE-ROW  org.fake  9.9\u{1B}[31m\r\u{07}\u{7F}\u{9B}"
        let json = try mamlHost(["list", "--json", "--plugin-dir", plugins])
        #expect(json.status == 0, "\(json.stderr)")
        let models = try #require(try jsonObject(json.stdout)["models"] as? [[String: Any]])
        let evil = try #require(models.first { $0["id"] as? String == "org.test.linreg-ctl" })
        #expect(evil["name"] as? String == rawName)
        #expect(evil["version"] as? String == "1.0.0\u{1B}]0;pwned\u{07}")
        // C0 controls (ESC, BEL, CR, ...) are escaped in JSON; DEL and C1 stay raw, as JSONEncoder
        // wrote them (checkpoint headers keep their bytes): JSON is for programs, tables for people.
        #expect(terminalControls(json.stdout).allSatisfy { $0.value >= 0x7F }, "the JSON text carries no raw C0 control")

        let table = try mamlHost(["list", "--plugin-dir", plugins])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(terminalControls(table.stdout).isEmpty, "\(table.stdout.debugDescription)")
        let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 2 + models.count, "one line per model: \(table.stdout)")
        let row = try #require(lines.first { $0.hasPrefix("org.test.linreg-ctl ") })
        #expect(row.contains(#"linreg-ctl\nFAKE-ROW  org.fake  9.9\x1b[31m\r\x07\x7f\u{009b}"#), "\(row)")
        #expect(row.contains(#"linear\x1b[0m"#) && row.contains(#"1.0.0\x1b]0;pwned\x07"#), "\(row)")
        #expect(!lines.contains { $0.hasPrefix("FAKE-ROW") })

        let info = try mamlHost(["info", "org.test.linreg-ctl", "--plugin-dir", plugins])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(terminalControls(info.stdout).isEmpty, "\(info.stdout.debugDescription)")
        #expect(info.stdout.hasPrefix(#"linreg-ctl\nFAKE-ROW"#), "\(info.stdout)")
        #expect(info.stdout.contains(#"line one\nline two\r\t\u{202e}"#), "\(info.stdout)")

        // An error message naming the model (an unknown name lists the known ones) is escaped too.
        let unknown = try mamlHost(["info", "nosuchmodel", "--plugin-dir", plugins])
        #expect(unknown.status != 0 && terminalControls(unknown.stderr).isEmpty, "\(unknown.stderr.debugDescription)")
        #expect(unknown.stderr.contains(#"linreg-ctl\nFAKE-ROW"#), "\(unknown.stderr)")
    }

    @Test("a 1 MiB log message is cut to 4 KiB, saying how much was cut, on one line; unknown levels are shown as warn")
    func pluginLogIsCapped() throws {
        let plugins = try buildFixturePlugin("libflood.so", ["-DFX_LOG_FLOOD", "-DFX_TAG=\"-flood\""])
        let list = try mamlHost(["list", "--plugin-dir", plugins])
        #expect(list.status == 0 && list.stdout.contains("linreg-flood"), "\(list.stderr.suffix(2000))")
        let lines = list.stderr.split(separator: "\n")
        let flood = try #require(lines.first { $0.hasPrefix("maml-host: libflood.so: info: ") }, "\(list.stderr.prefix(2000))")
        // 4096 bytes kept ("flood\n\x1b[2J" then x's, escaped when shown), 1 MiB - 4096 cut.
        let kept = "flood\\n\\x1b[2J" + String(repeating: "x", count: 4096 - 10)
        #expect(flood == "maml-host: libflood.so: info: \(kept)… (1044480 bytes cut)")
        #expect(list.stderr.utf8.count < 16 * 1024, "stderr is \(list.stderr.utf8.count) bytes")
        #expect(lines.contains("maml-host: libflood.so: warn: (unknown log level 99) a message at level 99"))
        #expect(lines.contains("maml-host: libflood.so: warn: (unknown log level -1) a message at level -1"))
    }

    @Test("with stdout a pipe, train's lines arrive as they are printed, not at exit")
    func linesArriveThroughAPipe() throws {
        let dir = try temporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: buildDirectory + "/maml-host")
        process.arguments = ["train"] + quickTraining + ["--iterations", "1000000", "--output", "p.ckpt"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.environment = testEnvironment()
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        // Read the first line as it comes. The deadline is a safety net, not a timing assertion:
        // without line buffering the line would come only at exit, which is never here.
        let fd = out.fileHandleForReading.fileDescriptor
        let deadline = Date() + 120
        var received: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(UInt8(ascii: "\n")) && Date() < deadline {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 1000) <= 0 { continue }
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        let stillRunning = process.isRunning
        if stillRunning { process.terminate() }
        process.waitUntilExit()
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.hasPrefix("training org.mamlzoo.mlp"), "\(text)")
        #expect(stillRunning, "the first line arrived only when train exited")
    }
}
