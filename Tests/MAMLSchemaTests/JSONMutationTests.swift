// MARK: - Seeded mutations of JSON configs: parsed and printed back exactly, or refused with a position
//
// The deterministic cousin of the libFuzzer config target (Tests/fuzz, docs/fuzzing.md), plus
// the config inputs that target found (Tests/fuzz/regressions/config).

import Foundation
import MAMLSchema
import Testing

/// Bounded draws from the library's SplitMix64 (the same sequence as before for the same seed).
private extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// Token-level mutations of JSON text: JSON punctuation, escapes, numbers at the edges of
/// Double, deep nesting, invalid UTF-8, and plain byte flips, inserts and deletions.
private func mutateJSON(_ text: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    let tokens = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud83d", "\\udc00", "\\u0000", "-", "0", "1e308",
                  "1e309", "-0", "5e-324", "1.", ".5", "00", "true", "null", "fals", "\u{0}", "\n", " ",
                  String(repeating: "[", count: 300), "\"n\"", "\"required\"", "9007199254740993"]
    var b = text
    for _ in 0...rng.below(3) {
        let at = rng.below(b.count + 1)
        switch rng.below(5) {
        case 0: b.insert(contentsOf: Array(tokens[rng.below(tokens.count)].utf8), at: at)
        case 1 where !b.isEmpty: b.removeSubrange(at..<min(b.count, at + 1 + rng.below(8)))
        case 2 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1) << UInt8(rng.below(8))
        case 3: b.insert(UInt8(0x80 + rng.below(0x80)), at: at)        // a stray UTF-8 continuation or lead byte
        default: b.removeLast(min(b.count, rng.below(16)))
        }
    }
    return b
}

@Suite struct JSONMutationTests {
    private let seeds = [
        #"{"n": 12, "x": -1.5e3, "s": "tanh", "b": true, "a": [1, 9, 3], "required": "\u00e9\ud83d\ude00 \"q\" \\ \n"}"#,
        #"{"type": "object", "properties": {"hidden": {"type": "array", "items": {"type": "integer", "minimum": 1}, "default": [40, 40]}}}"#,
        #"[null, true, false, 0, -0.0, 1e308, 5e-324, 123456789012345678, "x", [], {}, [[[]]]]"#,
    ]

    @Test func mutatedJSONIsReadBackExactlyOrRefusedWithItsPosition() throws {
        var rng = SplitMix64(seed: 8)
        var parsed = 0, refused = 0
        for i in 0..<3000 {
            let text = String(decoding: mutateJSON(Array(seeds[i % seeds.count].utf8), &rng), as: UTF8.self)
            if let problem = exerciseJSON(text) { Issue.record("\(problem)") }
            do {
                _ = try JSONValue.parse(text)
                parsed += 1
            } catch {
                #expect(error.line >= 1 && error.column >= 1 && !error.message.isEmpty)
                #expect(error.offset >= 0 && error.offset <= text.utf8.count)
                refused += 1
            }
        }
        #expect(parsed > 0 && refused > 0, "parsed \(parsed), refused \(refused)")
    }

    @Test func configInputsTheFuzzerFoundAreHandled() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fuzz/regressions/config").path
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where !name.hasPrefix(".") {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)), as: UTF8.self)
            #expect(exerciseJSON(text) == nil, "\(name)")
        }
    }
}
