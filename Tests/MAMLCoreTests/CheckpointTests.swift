// MARK: - Checkpoint files: round trip, every refusal, atomic writes

import Testing
import Foundation
@testable import MAMLCore
import MAMLTasks

let model = ModelIdentity(id: "org.mamlzoo.test-tanh", version: "1.2.3", config: #"{"hidden": 6}"#)

/// A trained trainer's checkpoint written to a fresh directory.
func savedCheckpoint(_ optimizer: OptimizerKind = .adam) throws -> (Checkpoint, String) {
    var config = smallConfig; config.optimizer = optimizer; config.seed = .max
    let trainer = try makeTrainer(config)
    try trainer.run(until: 2)
    let checkpoint = Checkpoint(trainer: trainer, model: model)
    let path = try temporaryDirectory() + "/model.mamlckpt"
    try checkpoint.write(to: path)
    return (checkpoint, path)
}

func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
func writeBytes(_ b: [UInt8], _ path: String) throws { try Data(b).write(to: URL(fileURLWithPath: path)) }

/// The problem reading `path` reports (nil if it reads).
func readProblem(_ path: String) -> CheckpointError.Problem? {
    do { _ = try Checkpoint.read(from: path); return nil } catch { return error.problem }
}

@Suite struct CheckpointTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test(arguments: [OptimizerKind.adam, .sgd])
    func roundTripKeepsEverything(optimizer: OptimizerKind) throws {
        let (checkpoint, path) = try savedCheckpoint(optimizer)
        let read = try Checkpoint.read(from: path)
        #expect(read == checkpoint)
        #expect(read.header.model == model && read.header.iteration == 2 && read.header.parameterCount == 19)
        #expect(read.header.training.seed == .max && read.header.rng.scheme == rngScheme)
        #expect(read.header.task == TaskIdentity(family: "sinusoid", config: SinusoidTasks().configJSON))
        #expect(read.header.optimizer.kind == optimizer && read.header.optimizer.step == 2)
        #expect(read.moments.m.count == (optimizer == .adam ? 19 : 0))
        // Layout: magic, version 1, and the documented size.
        let b = try bytes(path)
        #expect(Array(b.prefix(8)) == Array("MAMLCKPT".utf8) && b[8] == 1 && b[9...11].allSatisfy { $0 == 0 })
        let headerLength = Int(b[12]) | Int(b[13]) << 8 | Int(b[14]) << 16 | Int(b[15]) << 24
        #expect(b.count == 24 + headerLength + 4 * 19 * (optimizer == .adam ? 3 : 1) + 4)
        // The header is readable JSON.
        let json = try JSONSerialization.jsonObject(with: Data(b[24..<(24 + headerLength)])) as? [String: Any]
        #expect((json?["parameterCount"] as? Int) == 19)
    }

    @Test func truncatedFilesAreRefusedWithBothSizes() throws {
        let (_, path) = try savedCheckpoint()
        let full = try bytes(path)
        for keep in [full.count - 1, full.count / 2, 30, 20] {
            try writeBytes(Array(full.prefix(keep)), path)
            if keep >= 24 {
                #expect(readProblem(path) == .truncated(expected: full.count, found: keep))
            } else {
                #expect(readProblem(path) == .truncated(expected: 24, found: keep))
            }
        }
        try writeBytes(full + [0], path)
        #expect(readProblem(path) == .trailingData(expected: full.count, found: full.count + 1))
        let message = "\(CheckpointError(path: path, .truncated(expected: 100, found: 40)))"
        #expect(message.contains(path) && message.contains("expected 100 bytes, found 40"))
    }

    @Test func aFlippedByteAnywhereIsReportedAsCorruption() throws {
        let (_, path) = try savedCheckpoint()
        let full = try bytes(path)
        for offset in [30, full.count / 2, full.count - 10, full.count - 2] {   // header, arrays, moments, CRC
            var b = full; b[offset] ^= 0x10
            try writeBytes(b, path)
            guard case .corrupted? = readProblem(path) else {
                Issue.record("byte \(offset): \(String(describing: readProblem(path)))"); continue
            }
        }
        try writeBytes(full, path)
        #expect(throws: Never.self) { try Checkpoint.read(from: path) }
        var b = full; b[40] ^= 1; try writeBytes(b, path)
        do { _ = try Checkpoint.read(from: path) } catch {
            #expect(error.description.contains("corrupted") && error.description.contains(path))
        }
    }

    @Test func wrongMagicAndVersionsAreRefused() throws {
        let (_, path) = try savedCheckpoint()
        let full = try bytes(path)
        var b = full; b[0] = UInt8(ascii: "X"); try writeBytes(b, path)
        #expect(readProblem(path) == .notACheckpoint)
        try writeBytes(Array("{\"not\": \"a checkpoint\"}".utf8), path)
        #expect(readProblem(path) == .notACheckpoint)
        try writeBytes([], path)
        #expect(readProblem(path) == .notACheckpoint)
        b = full; b[8] = 3; try writeBytes(b, path)
        #expect(readProblem(path) == .unsupportedVersion(3))
        #expect("\(CheckpointError(path: path, .notACheckpoint))".contains("not a maml-zoo checkpoint"))
        #expect("\(CheckpointError(path: path, .unsupportedVersion(3)))".contains("version 3 (this build reads versions 1 and 2)"))
    }

    @Test("learned rates (Meta-SGD, LSLR) are stored after theta in format version 2; the rest stays version 1")
    func learnedRatesUseVersion2() throws {
        let dir = try temporaryDirectory()
        for (name, edit) in [("meta-sgd", { (c: inout TrainerConfig) in c.algorithm = .metaSGD }),
                             ("lslr", { (c: inout TrainerConfig) in c.options.lslr = true })] {
            var config = smallConfig
            edit(&config)
            let trainer = try makeTrainer(config)
            try trainer.run(until: 2)
            let written = Checkpoint(trainer: trainer, model: model)
            let path = dir + "/\(name).ckpt"
            try written.write(to: path)
            let file = try bytes(path)
            #expect(file[8] == 2)
            let read = try Checkpoint.read(from: path)
            #expect(read == written)
            #expect(read.header.learnedRates == trainer.plan.rateCount && read.header.learnedRates > 0)
            #expect(read.parameters.count == read.header.parameterCount + read.header.learnedRates)
            // Resuming continues bit for bit.
            let resumed = try makeTrainer(read.header.training, state: try read.resumeState(family: SinusoidTasks()))
            try resumed.run(until: 4); try trainer.run(until: 4)
            #expect(resumed.state == trainer.state)
            // A learnedRates that would overflow the file's size arithmetic is refused, not trapped on.
            let text = String(decoding: file[24..<(24 + Int(file[12]) + Int(file[13]) << 8)], as: UTF8.self)
            let huge = Array(text.replacingOccurrences(of: "\"learnedRates\" : \(read.header.learnedRates)",
                                                       with: "\"learnedRates\" : 9223372036854775000").utf8)
            var edited = Array(file[0..<24]) + huge + Array(file[(24 + text.utf8.count)...].dropLast(4))
            let length = UInt32(huge.count), total = UInt64(edited.count + 4)
            for i in 0..<4 { edited[12 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
            for i in 0..<8 { edited[16 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt64(i))) }
            let editedCRC = CRC32.checksum(edited)
            try writeBytes(edited + (0..<4).map { UInt8(truncatingIfNeeded: editedCRC >> (8 * $0)) }, path)
            guard case .malformedHeader(let huger)? = readProblem(path) else { Issue.record("huge learnedRates read"); continue }
            #expect(huger.contains("need more bytes than a file can hold"), "\(huger)")
            // The same bytes labelled version 1 (checksum fixed) are malformed: version 1 holds no rates.
            var v1 = Array(file.dropLast(4)); v1[8] = 1
            let crc = CRC32.checksum(v1)
            try writeBytes(v1 + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }, path)
            guard case .malformedHeader(let why)? = readProblem(path) else { Issue.record("not refused"); continue }
            #expect(why.contains("learnedRates") && why.contains("version 1"))
        }
        // Without learned rates: version 1 and no learnedRates key, as before.
        let (_, plain) = try savedCheckpoint()
        let file = try bytes(plain)
        #expect(file[8] == 1)
        #expect(!String(decoding: file, as: UTF8.self).contains("learnedRates"))
    }

    @Test func malformedHeadersAreRefusedEvenWithAValidChecksum() throws {
        let (_, path) = try savedCheckpoint()
        let full = try bytes(path)
        let headerLength = Int(full[12]) | Int(full[13]) << 8
        func withHeader(_ edit: (inout [UInt8]) -> Void) throws -> CheckpointError.Problem? {
            var b = Array(full.dropLast(4))
            var header = Array(b[24..<(24 + headerLength)])
            edit(&header)
            b.replaceSubrange(24..<(24 + headerLength), with: header)
            let crc = CRC32.checksum(b)
            b += [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
            try writeBytes(b, path)
            return readProblem(path)
        }
        let garbage = try withHeader { $0[0] = UInt8(ascii: "!") }
        guard case .malformedHeader(let why)? = garbage else { Issue.record("\(String(describing: garbage))"); return }
        #expect(why.contains("JSON"))
        // Renaming a key (same length) leaves valid JSON without "parameterCount".
        let missing = try withHeader { h in
            let text = String(decoding: h, as: UTF8.self).replacingOccurrences(of: "parameterCount", with: "parameterCounx")
            h = Array(text.utf8)
        }
        #expect(missing == .malformedHeader("missing key \"parameterCount\""))
        // A header whose parameter count disagrees with the arrays.
        let wrongCount = try withHeader { h in
            let text = String(decoding: h, as: UTF8.self).replacingOccurrences(of: "\"parameterCount\" : 19", with: "\"parameterCount\" : 18")
            h = Array(text.utf8)
        }
        guard case .malformedHeader(let why2)? = wrongCount else { Issue.record("\(String(describing: wrongCount))"); return }
        #expect(why2.contains("18 meta-parameters"))
    }

    @Test func checkRefusesAnotherModel() throws {
        let (checkpoint, path) = try savedCheckpoint()
        try checkpoint.check(modelID: model.id, parameterCount: 19, path: path)
        for (id, count) in [("org.mamlzoo.mlp", 19), (model.id, 1761)] {
            #expect {
                try checkpoint.check(modelID: id, parameterCount: count, path: path)
            } throws: { error in
                "\(error)" == "\(path): checkpoint is for org.mamlzoo.test-tanh with 19 parameters, "
                    + "this model is \(id) with \(count)"
            }
        }
        // Resuming on another family (or family config) is refused too.
        let other = SinusoidTasks(amplitudeRange: 1...2)
        #expect(throws: CheckpointError.self) { try checkpoint.resumeState(family: other, path: path) }
    }

    @Test(arguments: [WriteFault.afterBytes(0), .afterBytes(100), .beforeRename])
    func aFailedWriteLeavesThePreviousFileIntact(fault: WriteFault) throws {
        let (checkpoint, path) = try savedCheckpoint()
        let before = try bytes(path)
        var changed = checkpoint
        changed.parameters[0] += 1
        changed.header.iteration = 99
        #expect(throws: CheckpointError.self) { try changed.write(to: path, fault: fault) }
        #expect(try bytes(path) == before)
        #expect(try Checkpoint.read(from: path) == checkpoint)
        // No temporary file is left behind.
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.mamlckpt"])
        // And an unfaulted write replaces it.
        try changed.write(to: path)
        #expect(try Checkpoint.read(from: path).header.iteration == 99)
    }

    @Test func unwritableAndMissingPathsGiveClearErrors() throws {
        let (checkpoint, _) = try savedCheckpoint()
        let missingDir = try temporaryDirectory() + "/no/such/dir/model.mamlckpt"
        #expect { try checkpoint.write(to: missingDir) } throws: { error in
            "\(error)".contains(missingDir) && "\(error)".contains("No such file or directory")
        }
        #expect { try Checkpoint.read(from: missingDir) } throws: { error in
            "\(error)".contains(missingDir) && "\(error)".contains("cannot read")
        }
    }
}
