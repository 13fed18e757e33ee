// MARK: - Running the real maml-host binary from tests
import Foundation
import Testing

/// The result of one maml-host run.
struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// maml-host and the bundled plugins sit next to the test bundle in the build folder.
let buildDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path

/// Runs maml-host with `arguments` in `directory`, with MAML_PLUGIN_PATH cleared so only the
/// build folder's plugins are found, and `environment` applied on top (nil removes a variable).
func mamlHost(_ arguments: [String], in directory: String = NSTemporaryDirectory(),
              environment overrides: [String: String?] = [:]) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: buildDirectory + "/maml-host")
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "MAML_PLUGIN_PATH")
    for (key, value) in overrides { environment[key] = value }
    process.environment = environment
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting so a chatty child cannot block on a full pipe.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
               stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh empty directory for one test.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "maml-cli-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Parses one JSON object printed on stdout.
func jsonObject(_ text: String) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(value as? [String: Any], "not a JSON object: \(text)")
}

/// Small, fast training flags for tests (debug builds are slow).
let quickTraining = ["--model", "mlp", "--task", "sinusoid", "--meta-batch", "4", "--seed", "7"]
