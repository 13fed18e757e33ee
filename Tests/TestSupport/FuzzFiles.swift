// MARK: - The fuzzers' seed and regression files, for the suites that replay them

import Foundation

/// The files of Tests/fuzz/`folder` (e.g. "seeds/png", "regressions/scancache"), sorted by name,
/// dot files left out; none if the folder does not exist.
public func fuzzFiles(_ folder: String) throws -> [(name: String, bytes: [UInt8])] {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/" + folder).path
    guard FileManager.default.fileExists(atPath: dir) else { return [] }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
    return try names.map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) }
}
