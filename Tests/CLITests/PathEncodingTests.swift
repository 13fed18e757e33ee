// MARK: - File names that are not UTF-8: refused or skipped by name, never silently replaced
//
// Swift's String turns such bytes into U+FFFD, which names another file. These tests make
// the names with raw bytes (a shell's printf for arguments, open(2) for files).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PathEncodingTests {
    @Test("an argument that is not UTF-8 is refused, naming it with its bytes; nothing is written")
    func nonUTF8Arguments() throws {
        let dir = try temporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"exec "$0" train --iterations 1 --output "$(printf 'caf\351.ckpt')""#,
                             buildDirectory + "/maml-host"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.environment = testEnvironment()
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(stderr.contains(#"argument 5 (caf\xE9.ckpt) is not valid UTF-8"#), "\(stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test("a plugin file whose name is not UTF-8 is skipped with a warning naming its bytes")
    func nonUTF8PluginName() throws {
        let dir = try temporaryDirectory()
        let raw: [UInt8] = Array((dir + "/libx").utf8) + [0xFF] + Array(".so".utf8) + [0]
        let fd = raw.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self),
                                                     O_CREAT | O_WRONLY, 0o644) }
        #expect(fd >= 0)
        close(fd)
        let run = try mamlHost(["list", "--plugin-dir", dir], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains(#"libx\xFF.so: skipped: the file name is not valid UTF-8; rename it"#), "\(run.stderr)")
        #expect(run.stdout.contains("org.mamlzoo.mlp"))
    }
}
