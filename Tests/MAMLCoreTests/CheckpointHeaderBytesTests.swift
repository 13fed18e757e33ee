// MARK: - Checkpoint headers: the same bytes as Foundation's JSONEncoder wrote them
//
// Headers were written with JSONEncoder [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
// until MAMLSchema's JSON took over; every header must keep its bytes. Checked two ways:
// the zoo's checkpoints re-encode to their own bytes, and generated headers (awkward numbers,
// control characters, slashes, non-ASCII) encode exactly as JSONEncoder encodes the same values
// (Foundation is the independent reference here, and only here) and read back unchanged.

import Foundation
import Testing
@testable import MAMLCore
import MAMLTasks

/// The header as it was Codable before (same keys and Swift types), for JSONEncoder/JSONDecoder.
private struct FoundationHeader: Codable, Equatable {
    struct Model: Codable, Equatable { var id, version, config: String }
    struct Task: Codable, Equatable { var family, config: String }
    struct Training: Codable, Equatable {
        var algorithm: String, innerSteps: Int, innerLR: Float, metaLR: Double, metaBatch: Int
        var supportShots: Int, queryShots: Int, iterations: Int, seed: UInt64, optimizer: String
        // Algorithm settings (issue 17): present only when not at their defaults.
        var lslr: Bool?, multiStepLoss: Bool?, imamlLambda: Double?, cgSteps: Int?, innerOptimizer: String?
        var annealIterations: Int?
    }
    struct Optimizer: Codable, Equatable {
        var kind: String, step: Int, learningRate: Double, beta1: Double, beta2: Double, epsilon: Double
    }
    struct RNG: Codable, Equatable { var scheme: String, seed: UInt64 }
    var format: String, model: Model, task: Task, training: Training, iteration: Int, parameterCount: Int
    var learnedRates: Int?     // format version 2 only
    var optimizer: Optimizer, rng: RNG

    init(_ h: CheckpointHeader) {
        let t = h.training, o = h.optimizer
        format = h.format
        model = Model(id: h.model.id, version: h.model.version, config: h.model.config)
        task = Task(family: h.task.family, config: h.task.config)
        training = Training(algorithm: t.algorithm.rawValue, innerSteps: t.innerSteps, innerLR: t.innerLR,
                            metaLR: t.metaLR, metaBatch: t.metaBatch, supportShots: t.supportShots,
                            queryShots: t.queryShots, iterations: t.iterations, seed: t.seed,
                            optimizer: t.optimizer.rawValue)
        let d = LearnerOptions(), x = t.options
        training.lslr = x.lslr != d.lslr ? x.lslr : nil
        training.multiStepLoss = x.multiStepLoss != d.multiStepLoss ? x.multiStepLoss : nil
        training.imamlLambda = x.imamlLambda != d.imamlLambda ? x.imamlLambda : nil
        training.cgSteps = x.cgSteps != d.cgSteps ? x.cgSteps : nil
        training.innerOptimizer = x.innerOptimizer != d.innerOptimizer ? x.innerOptimizer.rawValue : nil
        training.annealIterations = x.annealIterations != d.annealIterations ? x.annealIterations : nil
        iteration = h.iteration; parameterCount = h.parameterCount
        learnedRates = h.learnedRates > 0 ? h.learnedRates : nil
        optimizer = Optimizer(kind: o.kind.rawValue, step: o.step, learningRate: o.learningRate, beta1: o.beta1,
                              beta2: o.beta2, epsilon: o.epsilon)
        rng = RNG(scheme: h.rng.scheme, seed: h.rng.seed)
    }

    /// Floats compared by bits, so -0 and 0 differ.
    var bits: [UInt64] {
        [UInt64(training.innerLR.bitPattern), training.metaLR.bitPattern, optimizer.learningRate.bitPattern,
         optimizer.beta1.bitPattern, optimizer.beta2.bitPattern, optimizer.epsilon.bitPattern]
    }
}

private func foundationBytes(_ header: CheckpointHeader) throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return [UInt8](try encoder.encode(FoundationHeader(header)))
}

/// The header bytes of a checkpoint file (offset 24, length at 12).
private func headerBytes(_ file: [UInt8]) -> [UInt8] {
    let length = Int(file[12]) | Int(file[13]) << 8 | Int(file[14]) << 16 | Int(file[15]) << 24
    return Array(file[24..<(24 + length)])
}

/// The zoo's checkpoints (models/zoo/*.ckpt), by file name.
func zooCheckpoints() throws -> [(name: String, bytes: [UInt8])] {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/zoo").path
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".ckpt") }.sorted()
    return try names.map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) }
}

// MARK: Generated values

/// Awkward values for every header field, and random ones.
private struct HeaderGenerator {
    var rng: SplitMix64
    mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    static let doubles: [Double] = [
        0, -0.0, 1e-08, 0.1, 0.001, 0.9, 0.999, 1e300, -1e300, 3.1415925, 1e-05, 1e-04, 0.0001, 1e15,
        1e16, 123456789012345.0, 9007199254740992, 9007199254740994, 1e21, 1e22, -1.5, 2, 1.0 / 3,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude, .leastNonzeroMagnitude,
        Double(Float(0.01)), 2.2250738585072014e-308, 100, 1e7, 0.30000000000000004]
    static let floats: [Float] = [
        0, -0.0, 0.01, 0.4, 1e-08, 0.1, 3.1415925, 1e8, 1e7, 16777216, 16777218, 33554432, 1e-30,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude, 1e-05, 1e-04, 123456.79,
        1.5e10, 2, -1, 0.3, 1.0 / 3, 9.999999e-5, 7.038531e-26]
    static let ints: [Int] = [0, 1, -1, 2, 25, 500, 70_000, Int.max, Int.min, 9_007_199_254_740_992,
                              9_007_199_254_740_993, -9_007_199_254_740_993, 1_000_000_000_000_000]
    static let uints: [UInt64] = [0, 1, 7, .max, .max - 1, 9_007_199_254_740_993, 1 << 63, UInt64(Int64.max)]
    static let pieces = ["", "a", "/", "//", "\\", "\"", "\\/", "\u{0}", "\u{1}", "\u{7}", "\u{8}", "\u{9}", "\n",
                         "\u{B}", "\u{C}", "\r", "\u{1F}", "\u{7F}", "\u{80}", "é", "e\u{301}", "\u{2028}", "\u{2029}",
                         "\u{FEFF}", "\u{FFFD}", "😀", "日本", " ", "{\"hidden\": [40, 40]}", "org.mamlzoo.mlp", "1.0.0",
                         "splitmix64-xoshiro256**/1", "<", ">", "&", "'", "\u{10FFFF}", "%", "\u{D7FF}", "\u{E000}"]

    mutating func double() -> Double {
        switch below(4) {
        case 0, 1: return pick(Self.doubles)
        case 2:
            var x: Double
            repeat { x = Double(bitPattern: rng.next()) } while !x.isFinite
            return x
        default: return Double(Int64(bitPattern: rng.next()) % 100_000) / pick([1, 10, 1000, 1e6, 1e9])
        }
    }
    mutating func float() -> Float {
        switch below(4) {
        case 0, 1: return pick(Self.floats)
        case 2:
            var x: Float
            repeat { x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) } while !x.isFinite
            return x
        default: return Float(Int64(bitPattern: rng.next()) % 100_000) / pick([1, 10, 1000, 1e6])
        }
    }
    mutating func int() -> Int { below(2) == 0 ? pick(Self.ints) : Int(bitPattern: UInt(rng.next() >> UInt64(below(64)))) }
    mutating func uint64() -> UInt64 { below(2) == 0 ? pick(Self.uints) : rng.next() >> UInt64(below(64)) }
    mutating func string() -> String {
        var s = ""
        for _ in 0..<below(6) {
            s += below(4) == 0 ? String(UnicodeScalar(UInt8(below(128)))) : pick(Self.pieces)
        }
        return s
    }

    mutating func header() -> CheckpointHeader {
        let training = TrainerConfig(
            algorithm: pick(MetaAlgorithm.allCases), innerSteps: int(), innerLR: float(), metaLR: double(),
            metaBatch: int(), supportShots: int(), queryShots: int(), iterations: int(), seed: uint64(),
            optimizer: pick(OptimizerKind.allCases),
            options: below(2) == 0 ? LearnerOptions() : LearnerOptions(
                lslr: below(2) == 0, multiStepLoss: below(2) == 0, imamlLambda: below(2) == 0 ? 1 : double(),
                cgSteps: below(2) == 0 ? 5 : int(), innerOptimizer: pick(OptimizerKind.allCases),
                annealIterations: below(2) == 0 ? 0 : int()))
        return CheckpointHeader(
            format: below(2) == 0 ? "maml-zoo checkpoint" : string(),
            model: ModelIdentity(id: string(), version: string(), config: string()),
            task: TaskIdentity(family: string(), config: string()),
            training: training, iteration: int(), parameterCount: int(), learnedRates: below(3) == 0 ? 1 + below(100_000) : 0,
            optimizer: OptimizerHeader(kind: pick(OptimizerKind.allCases), step: int(), learningRate: double(),
                                       beta1: double(), beta2: double(), epsilon: double()),
            rng: RNGHeader(scheme: string(), seed: uint64()))
    }
}

@Suite struct CheckpointHeaderBytesTests {
    /// (a) Every zoo checkpoint decodes and encodes to its own bytes, header and all; its task
    /// config string is what its family writes today.
    @Test func zooCheckpointsReencodeToTheirOwnBytes() throws {
        let zoo = try zooCheckpoints()
        #expect(zoo.count >= 5)
        for file in zoo {
            let checkpoint = try Checkpoint.decode(file.bytes, path: file.name)
            let again = try checkpoint.encoded(path: file.name)
            #expect(headerBytes(again) == headerBytes(file.bytes), "\(file.name)")
            #expect(again == file.bytes, "\(file.name)")
            #expect(try foundationBytes(checkpoint.header) == headerBytes(file.bytes), "\(file.name)")
            let task = checkpoint.header.task
            #expect(try makeTaskFamily(name: task.family, config: task.config).configJSON == task.config, "\(file.name)")
        }
    }

    /// (b) Generated headers: the writer's bytes are JSONEncoder's, and both readers read them back.
    @Test func generatedHeadersEncodeExactlyAsJSONEncoderDid() throws {
        var g = HeaderGenerator(rng: SplitMix64(seed: 15))
        for i in 0..<4000 {
            let header = g.header()
            let expected = try foundationBytes(header)
            // Through the product's path too: a whole checkpoint file, its header at offset 24.
            var small = Checkpoint(header: header, parameters: [1], moments: ([2], [3]))
            small.header.parameterCount = 1; small.header.learnedRates = 0
            #expect(headerBytes(try small.encoded()) == (try foundationBytes(small.header)), "header \(i)")
            let ours = Array(header.json.serialized(.expanded, sortedKeys: true).utf8)
            guard ours == expected else {
                Issue.record("header \(i):\n\(String(decoding: ours, as: UTF8.self))\nJSONEncoder:\n\(String(decoding: expected, as: UTF8.self))")
                continue
            }
            // Reading: our reader gets the same header back; JSONDecoder reads the same values.
            let read = try CheckpointHeader(json: JSONValue.parse(String(decoding: ours, as: UTF8.self)))
            #expect(read == header && FoundationHeader(read).bits == FoundationHeader(header).bits, "header \(i)")
            let foundation = try JSONDecoder().decode(FoundationHeader.self, from: Data(ours))
            #expect(foundation == FoundationHeader(header) && foundation.bits == FoundationHeader(header).bits,
                    "header \(i)")
        }
    }

    /// Every Float and Double the writer prints reads back to the same bits (sampled; the
    /// product writes innerLR as a Float and the optimiser's numbers as Doubles).
    @Test func shortestDigitsReadBackToTheSameBits() throws {
        var rng = SplitMix64(seed: 16)
        for _ in 0..<200_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            let d = Double(bitPattern: rng.next())
            guard f.isFinite, d.isFinite else { continue }
            let ft = JSONValue(shortest: f).serialized(), dt = JSONValue(shortest: d).serialized()
            #expect(try JSONValue.parse(ft).floatValue?.bitPattern == f.bitPattern, "\(ft)")
            #expect(try JSONValue.parse(dt).numberValue?.bitPattern == d.bitPattern, "\(dt)")
        }
        #expect(try JSONValue.parse("-0").floatValue?.bitPattern == Float(-0.0).bitPattern)
    }

    /// Malformed headers are refused naming the key and what was expected.
    @Test(arguments: [
        (#""iteration" : 2"#, #""iteration" : "2""#, #"iteration is "2", expected an integer"#),
        (#""iteration" : 2"#, #""iteration" : 2.5"#, "iteration is 2.5, expected an integer"),
        (#""iteration" : 2"#, #""iteration" : null"#, "iteration is null, expected an integer"),
        (#""iteration" : 2"#, #""iteratioX" : 2"#, #"missing key "iteration""#),
        (#""kind" : "adam""#, #""kind" : "adab""#, #"optimizer.kind is "adab", expected "adam" or "sgd""#),
        (#""algorithm" : "maml""#, #""algorithm" : "mamx""#,
         #"training.algorithm is "mamx", expected one of "maml", "fomaml", "pretrain", "reptile", "meta-sgd", "anil", "imaml", "protonet""#),
        (#""seed" : 18446744073709551615"#, #""seed" : -1"#,
         "training.seed is -1, expected an integer in 0...18446744073709551615"),
        (#""innerLR" : 0.02"#, #""innerLR" : 1e39"#,
         "training.innerLR is 1e+39, expected a number a Float can hold (0, or 1e-45 to 3.4028235e+38 in magnitude)"),
        (#""beta1" : 0.9"#, #""beta1" : true"#, "optimizer.beta1 is true, expected a number"),
        (#""id" : "org.mamlzoo.test-tanh""#, #""id" : ["x"]"#, "model.id is an array, expected a string"),
        (#""format" : "maml-zoo checkpoint""#, #""format" : "maml-zoo checkpoinX""#,
         #"format is "maml-zoo checkpoinX", expected "maml-zoo checkpoint""#),
    ])
    func malformedHeadersNameTheKey(find: String, replace: String, message: String) throws {
        let (checkpoint, path) = try savedCheckpoint()
        var text = checkpoint.header.json.serialized(.expanded, sortedKeys: true)
        #expect(text.contains(find))
        text = text.replacingOccurrences(of: find, with: replace)
        #expect(throws: CheckpointError(path: path, .malformedHeader(message))) {
            try Checkpoint.decode(fileBytes(header: Array(text.utf8), parameters: 19, adam: true), path: path)
        }
    }

    @Test func headersThatAreNotJSONObjectsSaySo() throws {
        for (text, start) in [("[1, 2]", "top level is an array, expected an object"),
                              ("{\"a\": 1,}", "not valid JSON: line 1, column 9: expected a string key"),
                              ("{\"model\": {}, \"model\": 1}", "not valid JSON: line 1, column 15: duplicate object key")] {
            do {
                _ = try Checkpoint.decode(fileBytes(header: Array(text.utf8), parameters: 1, adam: false), path: "p")
                Issue.record("read \(text)")
            } catch {
                guard case .malformedHeader(let why) = error.problem else { Issue.record("\(error)"); continue }
                #expect(why.hasPrefix(start), "\(why)")
            }
        }
        // Bytes that are not UTF-8 are not JSON.
        #expect(throws: CheckpointError(path: "p", .malformedHeader("not valid JSON: not UTF-8 text"))) {
            try Checkpoint.decode(fileBytes(header: [0x7B, 0xFF, 0x7D], parameters: 1, adam: false), path: "p")
        }
    }

    @Test func nonFiniteNumbersAreNotWritten() throws {
        let (checkpoint, path) = try savedCheckpoint()
        var bad = checkpoint
        bad.header.optimizer.beta2 = .nan
        #expect(throws: CheckpointError(path: path, .writeFailed("cannot encode header: optimizer.beta2 is not a finite number"))) {
            try bad.write(to: path)
        }
    }
}

/// A checkpoint file around `header` with zero arrays and a correct length and CRC.
func fileBytes(header: [UInt8], parameters: Int, adam: Bool) -> [UInt8] {
    var b = Array("MAMLCKPT".utf8) + [1, 0, 0, 0]
    let total = 24 + header.count + 4 * parameters * (adam ? 3 : 1) + 4
    for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: header.count >> (8 * i))) }
    for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: total >> (8 * i))) }
    b += header + [UInt8](repeating: 0, count: total - 24 - header.count - 4)
    let crc = CRC32.checksum(b)
    for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
    return b
}
