import Foundation
import Testing
@testable import TestSupport

// MARK: - The tests' scratch folders (TestSupport/Scratch.swift)

@Suite struct ScratchTests {
    @Test func foldersAreFreshEmptyAndBelowThisProcessRoot() throws {
        let a = try Scratch.directory("scratch-test"), b = try Scratch.directory("scratch-test")
        #expect(a != b)
        #expect(Scratch.root == NSTemporaryDirectory() + "maml-tests-\(getpid())")
        for path in [a, b] {
            #expect(path.hasPrefix(Scratch.root + "/scratch-test-"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: path).isEmpty)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o755, "plugins built below must pass the trust policy")
        }
    }

    /// A test process killed before its exit leaves its folder: the next one removes it, and only it.
    @Test func foldersOfExitedProcessesAreRemovedAndLiveOnesKept() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()  // reaped: its pid names no process now
        let dead = NSTemporaryDirectory() + "maml-tests-\(child.processIdentifier)"
        let live = NSTemporaryDirectory() + "maml-tests-\(getppid())"
        let liveExisted = FileManager.default.fileExists(atPath: live)
        for path in [dead, live] { try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true) }
        defer { if !liveExisted { try? FileManager.default.removeItem(atPath: live) } }
        Scratch.removeStale()
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live + "/sub"))
        #expect(FileManager.default.fileExists(atPath: Scratch.root))
    }
}
