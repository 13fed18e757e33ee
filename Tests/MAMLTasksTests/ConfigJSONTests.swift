// MARK: - Family config strings: the same text JSONEncoder wrote
//
// A family's configJSON is recorded in checkpoints and compared on resume, so its text
// must not change. glyphs (and glyph-rows) and omniglot wrote theirs with Foundation's
// JSONEncoder (sorted keys; omniglot also without escaped slashes); these tests encode
// the same values with JSONEncoder (the independent reference) and compare.

import Foundation
import Testing
import MAMLCore
@testable import MAMLTasks

/// GlyphConfig as it was Encodable.
private struct FoundationGlyphConfig: Encodable {
    var ways: Int, classes: Int, size: Int, seed: UInt64, distortion: Float
    init(_ c: GlyphConfig) { ways = c.ways; classes = c.classes; size = c.size; seed = c.seed; distortion = c.distortion }
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// OmniglotConfig as it was Encodable.
private struct FoundationOmniglotConfig: Encodable {
    var data: String, ways: Int, size: Int, augmentRotations: Bool, trainClasses: Int, validationClasses: Int
    enum CodingKeys: String, CodingKey {
        case data, ways, size, augmentRotations = "augment_rotations"
        case trainClasses = "train_classes", validationClasses = "validation_classes"
    }
    init(_ c: OmniglotConfig) {
        data = c.data; ways = c.ways; size = c.size; augmentRotations = c.augmentRotations
        trainClasses = c.trainClasses; validationClasses = c.validationClasses
    }
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

private extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

@Suite struct ConfigJSONTests {
    @Test func glyphConfigJSONIsWhatJSONEncoderWrote() throws {
        // Today's text for the defaults (the zoo's conv4 checkpoint records it) and a few custom configs.
        #expect(try GlyphTasks().configJSON == #"{"classes":1623,"distortion":1,"seed":0,"size":28,"ways":5}"#)
        #expect(try GlyphRowTasks().configJSON == #"{"classes":1623,"distortion":1,"seed":0,"size":28,"ways":5}"#)
        #expect(try GlyphTasks(config: GlyphConfig(ways: 20, classes: 100, size: 12, seed: .max, distortion: 0.25)).configJSON
                == #"{"classes":100,"distortion":0.25,"seed":18446744073709551615,"size":12,"ways":20}"#)
        #expect(try GlyphTasks(config: GlyphConfig(ways: 3, classes: 9, size: 8, seed: 7, distortion: 0.1)).configJSON
                == #"{"classes":9,"distortion":0.1,"seed":7,"size":8,"ways":3}"#)
        let awkward: [Float] = [0, -0.0, 1, 2, 0.1, 0.3, .leastNonzeroMagnitude, .leastNormalMagnitude, 1.9999999, 1.0 / 3, 0.01, 1e-05, 1e-04]
        var rng = SplitMix64(seed: 3)
        for i in 0..<3000 {
            let ways = 2 + rng.below(100)
            let distortion = i < awkward.count ? awkward[i]
                : rng.below(2) == 0 ? awkward[rng.below(awkward.count)] : Float(rng.below(1 << 24)) / Float(1 << 23)
            let seed: UInt64 = [0, 1, .max, 1 << 53 + 1, rng.next()][rng.below(5)]
            let config = GlyphConfig(ways: ways, classes: 3 * ways + rng.below(1000), size: 8 + rng.below(121),
                                     seed: seed, distortion: distortion)
            #expect(config.configJSON == FoundationGlyphConfig(config).json, "\(config)")
            // And the text reads back as the same config.
            let again = try makeTaskFamily(name: "glyphs", config: config.configJSON) as! GlyphTasks
            #expect(again.config == config && again.config.distortion.bitPattern == distortion.bitPattern)
        }
    }

    @Test func omniglotConfigJSONIsWhatJSONEncoderWrote() throws {
        #expect(OmniglotConfig(data: "/data/omniglot").configJSON
                == #"{"augment_rotations":true,"data":"/data/omniglot","size":28,"train_classes":1200,"validation_classes":100,"ways":5}"#)
        #expect(OmniglotConfig(data: "rel/dir \"q\" é", ways: 20, size: 105, augmentRotations: false, trainClasses: 964,
                               validationClasses: 300).configJSON
                == #"{"augment_rotations":false,"data":"rel/dir \"q\" é","size":105,"train_classes":964,"validation_classes":300,"ways":20}"#)
        let pieces = ["/", "a", "\\", "\"", "\u{0}", "\u{8}", "\u{C}", "\t", "\n", "\u{1F}", "\u{7F}", "é", "😀",
                      "\u{2028}", " ", "C:\\data", "//server/share", "~", "\u{10FFFF}"]
        var rng = SplitMix64(seed: 4)
        for _ in 0..<3000 {
            var data = ""
            for _ in 0..<(1 + rng.below(8)) { data += pieces[rng.below(pieces.count)] }
            let config = OmniglotConfig(data: data, ways: 2 + rng.below(999), size: 8 + rng.below(121),
                                        augmentRotations: rng.below(2) == 0, trainClasses: 1 + rng.below(1_000_000),
                                        validationClasses: 1 + rng.below(1_000_000))
            #expect(config.configJSON == FoundationOmniglotConfig(config).json, "\(config)")
            guard case .object(let object)? = try? JSONValue.parse(config.configJSON) else {
                Issue.record("not JSON: \(config.configJSON)"); continue
            }
            #expect(try OmniglotConfig(json: object) == config)
        }
    }

    /// The zoo's task config strings (sinusoid and sine-sequences write theirs by hand, glyphs
    /// with the JSON writer) come out of their families unchanged.
    @Test func sequenceAndSinusoidConfigStringsAreUnchanged() throws {
        #expect(try makeTaskFamily(name: "sinusoid").configJSON
                == #"{"amplitude": [0.1, 5.0], "phase": [0.0, 3.1415925], "x": [-5.0, 5.0]}"#)
        #expect(try makeTaskFamily(name: "sine-sequences", config: #"{"length": 2, "predict": "last"}"#).configJSON
                == #"{"amplitude": [0.1, 5.0], "dt": 0.3, "frequency": [0.5, 2.0], "length": 2, "phase": [0.0, 3.1415925], "predict": "last", "start": [0.0, 6.283185]}"#)
    }
}
