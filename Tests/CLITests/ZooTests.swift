// MARK: - The zoo: shipped checkpoints match their manifest and reproduce its numbers
import Foundation
import Testing

/// The repository root (this file is Tests/CLITests/ZooTests.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

struct ZooEntry {
    var name: String
    var checkpoint: String
    var sha256: String
    var results: [(shots: Int, steps: Int, mse: Double, ci95: Double)]

    static func all() throws -> [ZooEntry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/models/zoo/manifest.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try #require(root["models"] as? [[String: Any]])
        return try models.map { m in
            let evaluation = try #require(m["evaluation"] as? [String: Any])
            let results = try #require(evaluation["results"] as? [[String: Any]]).map { r in
                (shots: r["shots"] as! Int, steps: r["steps"] as! Int, mse: r["mse"] as! Double, ci95: r["ci95"] as! Double)
            }
            return ZooEntry(name: try #require(m["name"] as? String), checkpoint: try #require(m["checkpoint"] as? String),
                            sha256: try #require(m["sha256"] as? String), results: results)
        }
    }

    func mse(shots: Int, steps: Int) -> (mse: Double, ci95: Double)? {
        results.first { $0.shots == shots && $0.steps == steps }.map { ($0.mse, $0.ci95) }
    }
}

func sha256(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sha256sum", path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return String(text.prefix { $0 != " " })
}

@Suite struct ZooTests {
    @Test func manifestChecksumsMatchTheShippedFiles() throws {
        let entries = try ZooEntry.all()
        #expect(entries.map(\.name) == ["mlp-sinusoid-maml", "mlp-sinusoid-pretrain"])
        for e in entries {
            #expect(try sha256(repositoryRoot + "/models/zoo/" + e.checkpoint) == e.sha256, "\(e.checkpoint)")
        }
    }

    @Test("eval on each shipped checkpoint reproduces the manifest's K = 5 numbers")
    func numbersReproduce() throws {
        for e in try ZooEntry.all() {
            let run = try mamlHost(["eval", "--checkpoint", repositoryRoot + "/models/zoo/" + e.checkpoint,
                                    "--shots", "5", "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let results = try #require(try jsonObject(run.stdout)["results"] as? [[String: Any]])
            #expect(results.count == 4)
            for r in results {
                let steps = r["steps"] as! Int, mse = r["mse"] as! Double
                let expected = try #require(e.mse(shots: 5, steps: steps))
                // Debug and release builds may sum in different orders: equal to 1e-4 relative.
                #expect(abs(mse - expected.mse) <= 1e-4 * expected.mse, "\(e.name) K=5 steps=\(steps): \(mse) vs \(expected.mse)")
            }
        }
    }

    @Test("the MAML model meets the paper (K = 5 after 1/5/10 steps) and beats the pretrain baseline")
    func mamlMeetsThePaper() throws {
        let entries = try ZooEntry.all()
        let maml = try #require(entries.first { $0.name == "mlp-sinusoid-maml" })
        let pretrain = try #require(entries.first { $0.name == "mlp-sinusoid-pretrain" })
        for (steps, paper) in [(1, 0.67), (5, 0.38), (10, 0.35)] {
            let m = try #require(maml.mse(shots: 5, steps: steps)), p = try #require(pretrain.mse(shots: 5, steps: steps))
            #expect(m.mse - m.ci95 <= paper, "K=5 after \(steps) steps: \(m.mse) ± \(m.ci95) vs paper \(paper)")
            #expect(m.mse + m.ci95 < p.mse - p.ci95, "MAML must be clearly below pretrain after \(steps) steps")
        }
    }
}
