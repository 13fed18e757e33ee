// MARK: - Seeded mutations of valid checkpoints and task configs: each loads or is refused cleanly
//
// A short, deterministic cousin of the libFuzzer runs (Tests/fuzz, docs/fuzzing.md): a few
// thousand mutations per reader, each of which must either be read or throw an error that says
// what is wrong. A crash or trap fails the whole test run, which is the point.

import Foundation
import Testing
@testable import MAMLCore

/// Bounded draws from the library's SplitMix64 (the same sequence as before for the same seed).
private extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// Byte-level mutations: bit flips, random bytes, truncation, insertion, deletion, and
/// overwriting the checkpoint's length fields (header length at 12, total at 16).
func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    var b = input
    for _ in 0...rng.below(3) {
        let at = rng.below(b.count + 1)
        switch rng.below(7) {
        case 0 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1) << UInt8(rng.below(8))
        case 1 where !b.isEmpty: b[min(at, b.count - 1)] = UInt8(truncatingIfNeeded: rng.next())
        case 2: b.removeLast(min(b.count, 1 + rng.below(64)))
        case 3: b.insert(contentsOf: (0...rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 4 where !b.isEmpty: b.removeSubrange(at..<min(b.count, at + 1 + rng.below(16)))
        case 5 where b.count >= 24:
            let field = rng.below(2) == 0 ? 12 : 16, width = field == 12 ? 4 : 8
            let interesting: [UInt64] = [0, 1, 0x7F, 0xFF, 0xFFFF, 0xFFFF_FFFF, UInt64(b.count), UInt64(b.count) &- 1,
                                         UInt64(Int64.max), UInt64.max, rng.next()]
            let v = interesting[rng.below(interesting.count)]
            for i in 0..<width { b[field + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        default:
            // A digit or character of the JSON header turned into another (counts, enums, keys).
            let header = b.indices.filter { (0x30...0x7A).contains(b[$0]) }
            if !header.isEmpty {
                let symbols = Array("0123456789-.e\"{}[],:".utf8)
                b[header[rng.below(header.count)]] = symbols[rng.below(symbols.count)]
            }
        }
    }
    return b
}

@Suite struct InputMutationTests {
    @Test func mutatedCheckpointsLoadOrAreRefusedNamingTheFile() throws {
        let seeds = try seedCheckpoints()
        for seed in seeds { #expect(exerciseCheckpoint(seed.bytes) == .accepted, "seed \(seed.name)") }
        var rng = SplitMix64(seed: 6)
        var outcomes = [String: Int]()
        for i in 0..<3000 {
            let seed = seeds[i % seeds.count]
            // Half are repaired (length and CRC fixed up) so they reach the header and the arrays.
            var bytes = mutate(seed.bytes, &rng)
            if i % 2 == 1 { bytes = repairedCheckpoint(bytes) }
            do {
                _ = try Checkpoint.decode(bytes, path: fuzzCheckpointPath)
            } catch {
                #expect("\(error)".hasPrefix(fuzzCheckpointPath + ": "), "\(error)")
            }
            switch exerciseCheckpoint(bytes) {
            case .accepted: outcomes["accepted", default: 0] += 1
            case .refused(let message):
                #expect(!message.isEmpty)
                outcomes[String(message.prefix(while: { $0 != ":" })), default: 0] += 1
            }
        }
        // The mutations reach past the checksum: some are refused for their header, some load.
        #expect(outcomes["accepted", default: 0] > 0, "\(outcomes)")
        #expect(outcomes.keys.count >= 3, "\(outcomes)")
    }

    @Test func mutatedTaskAndTrainingConfigsLoadOrAreRefused() throws {
        let seeds = [#"{"amplitude": [0.1, 5.0], "phase": [0, 3.1415927], "x": [-5, 5]}"#,
                     #"{"ways": 5, "classes": 20, "size": 8, "seed": 18446744073709551615}"#,
                     #"{"amplitude": [0.1, 5], "dt": 0.3, "frequency": [0.5, 2], "length": 20, "predict": "every"}"#,
                     #"{"algorithm": "maml", "innerSteps": 5, "innerLR": 0.01, "metaLR": 0.001, "metaBatch": 25, "supportShots": 10, "queryShots": 10, "iterations": 70000, "seed": 0, "optimizer": "adam"}"#]
        var rng = SplitMix64(seed: 7)
        var refused = 0
        for i in 0..<2000 {
            let text = String(decoding: mutate(Array(seeds[i % seeds.count].utf8), &rng), as: UTF8.self)
            if case .refused(let message) = exerciseTaskConfig(text) {
                #expect(!message.isEmpty)
                refused += 1
            }
        }
        #expect(refused > 0)
    }
}
