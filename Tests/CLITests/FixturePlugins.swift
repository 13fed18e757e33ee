// MARK: - The host tests' C fixture plugin, compiled for CLI tests
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Compiles the host tests' C fixture plugin with `flags` into a fresh directory (mode 0755).
func buildFixturePlugin(_ file: String, _ flags: [String]) throws -> String {
    try buildFixturePlugins([(file, flags)])
}

/// Compiles several fixture variants (file name, -D flags) into one fresh directory.
func buildFixturePlugins(_ variants: [(file: String, flags: [String])]) throws -> String {
    let directory = try temporaryDirectory()
    chmod(directory, 0o755)
    for (file, flags) in variants { try compileFixture(file, flags, into: directory) }
    return directory
}

private func compileFixture(_ file: String, _ flags: [String], into directory: String) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let cc = Process()
    cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    cc.arguments = ["cc", "-shared", "-fPIC", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
                    "-I", root + "/Sources/MAMLPluginABI/include"] + flags
        + ["-o", directory + "/" + file, root + "/Tests/MAMLHostTests/Fixtures/fixture_plugin.c", "-lm"]
    try cc.run()
    cc.waitUntilExit()
    try #require(cc.terminationStatus == 0, "cc failed for \(flags) (CLITests need a C compiler)")
}
