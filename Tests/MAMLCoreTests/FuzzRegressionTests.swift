// MARK: - Inputs the fuzzers found (Tests/fuzz/regressions): each is now refused cleanly

import Foundation
import Testing
@testable import MAMLCore

/// The files of Tests/fuzz/regressions/KIND, sorted (the directory sits outside any target).
func fuzzRegressions(_ kind: String) throws -> [(name: String, bytes: [UInt8])] {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/regressions/\(kind)").path
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
    return try names.map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) }
}

@Suite struct FuzzRegressionTests {
    @Test func checkpointCrashersAreRefused() throws {
        let inputs = try fuzzRegressions("checkpoint")
        #expect(!inputs.isEmpty)
        for input in inputs {
            for bytes in [input.bytes, repairedCheckpoint(input.bytes)] {
                guard case .refused(let message) = exerciseCheckpoint(bytes) else {
                    Issue.record("\(input.name) was accepted"); continue
                }
                #expect(!message.isEmpty, "\(input.name)")
            }
        }
    }

    @Test func configCrashersAreRefused() throws {
        for input in try fuzzRegressions("config") {
            let outcome = exerciseTaskConfig(String(decoding: input.bytes, as: UTF8.self))
            guard case .refused(let message) = outcome else { Issue.record("\(input.name) was accepted"); continue }
            #expect(!message.isEmpty, "\(input.name)")
        }
    }
}
