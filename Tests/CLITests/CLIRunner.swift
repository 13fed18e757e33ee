// MARK: - Running the real maml-host binary from tests
import Foundation
import Testing
import TestSupport

/// The result of one maml-host run.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// maml-host and the bundled plugins sit next to the test bundle in the build folder.
let buildDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path

/// Runs maml-host (or another `program` of the build folder, e.g. image-tree) with `arguments` in
/// `directory`, with MAML_PLUGIN_PATH cleared so only the build folder's plugins are found, and
/// `environment` applied on top (see testEnvironment; nil removes a variable).
func mamlHost(_ arguments: [String], in directory: String = NSTemporaryDirectory(),
              environment extra: [String: String?] = [:], program: String = "maml-host") throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: buildDirectory + "/" + program)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.environment = testEnvironment(extra)
    return try runToEnd(process)
}

/// Starts `process` and waits for it, collecting its stdout and stderr.
func runToEnd(_ process: Process) throws -> Run {
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes at once, before waiting: a child that fills one pipe (64 KiB of stderr)
    // while the other is being read to its end would block forever.
    let errData = PipeReader(err)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
               stderr: String(decoding: errData.data(), as: UTF8.self))
}

/// Reads a pipe to its end on another thread.
final class PipeReader: @unchecked Sendable {
    private var result = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            result = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    /// Everything read, once the writer closed the pipe (blocks until then).
    func data() -> Data {
        done.wait()
        return result
    }
}

/// The test process's environment without MAML_PLUGIN_PATH, with the plugin lock and scan cache
/// in a per-process temporary directory (a developer's own lock file must not change the
/// results), plus `extra`.
func testEnvironment(_ extra: [String: String?] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "MAML_PLUGIN_PATH")
    environment["XDG_CONFIG_HOME"] = testHome + "/config"
    environment["XDG_CACHE_HOME"] = testHome + "/cache"
    for (key, value) in extra { environment[key] = value }
    return environment
}

let testHome = Scratch.root + "/cli-home"

/// A fresh empty directory for one test (mode 0755 whatever the umask: plugins built there must
/// pass the trust policy), removed with the test process's scratch folder.
func temporaryDirectory() throws -> String { try Scratch.directory("cli") }

/// Parses one JSON object printed on stdout.
func jsonObject(_ text: String) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(value as? [String: Any], "not a JSON object: \(text)")
}

/// Small, fast training flags for tests (debug builds are slow).
let quickTraining = ["--model", "mlp", "--task", "sinusoid", "--meta-batch", "4", "--seed", "7"]
