// MARK: - What the checkpoint and task-config fuzzers do with one input
//
// Shared by the libFuzzer targets fuzz-checkpoint and fuzz-config (Tests/fuzz/Sources/*/ link to
// this file; Tests/fuzz/fuzz.sh builds them) and the normal test suite (FuzzRegressionTests,
// InputMutationTests), so it compiles in both places or fails the normal build.

#if canImport(MAMLCore)
@testable import MAMLCore
import MAMLTasks
#endif
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What reading one fuzzed input ended in: a clean refusal (the error's text) or success.
enum FuzzOutcome: Equatable {
    case refused(String)
    case accepted
}

// MARK: Checkpoints

let fuzzCheckpointPath = "fuzz.mamlckpt"

/// `bytes` with the total-length field set to the length and the trailing CRC-32 recomputed,
/// so a mutation gets past the checksum to the header JSON, the counts and the arrays.
func repairedCheckpoint(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.count >= fixedPrefixLength + 4 else { return bytes }
    var b = bytes
    let total = UInt64(b.count)
    for i in 0..<8 { b[16 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt64(i))) }
    let crc = CRC32.checksum(b[0..<(b.count - 4)])
    for i in 0..<4 { b[b.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
    return b
}

/// Decodes `bytes` and, if that works, resumes from it as `train --resume` does: task family
/// from the header, resume state, model check, a Trainer (config validation), and one
/// meta-iteration when it is cheap. Returns the first error's text, or `.accepted`.
func exerciseCheckpoint(_ bytes: [UInt8]) -> FuzzOutcome {
    let checkpoint: Checkpoint
    do { checkpoint = try Checkpoint.decode(bytes, path: fuzzCheckpointPath) } catch { return .refused("\(error)") }
    let h = checkpoint.header
    // omniglot would read the file system at a fuzzed path: the fuzzers stay hermetic.
    guard h.task.family != "omniglot" else { return .accepted }
    do {
        let family = try makeTaskFamily(name: h.task.family, config: h.task.config)
        let state = try checkpoint.resumeState(family: family, path: fuzzCheckpointPath)
        let backbone = FuzzLinearBackbone(family: family)
        try checkpoint.check(modelID: FuzzLinearBackbone.id, parameterCount: backbone.parameterCount,
                             path: fuzzCheckpointPath)
        var config = h.training
        config.iterations = min(config.iterations, state.iteration + 1)
        let trainer = try Trainer(backbone: backbone, family: family, config: config, resumingFrom: state)
        // One step only when it is cheap: a fuzzer wants many executions per second.
        let perTask = (config.innerSteps + 1).multipliedReportingOverflow(by: config.supportShots + config.queryShots)
        let work = config.metaBatch.multipliedReportingOverflow(by: perTask.partialValue)
        if !perTask.overflow && !work.overflow && work.partialValue <= 4096 && !trainer.isFinished {
            try trainer.step()
        }
        return .accepted
    } catch {
        return .refused("\(error)")
    }
}

/// Valid checkpoints of FuzzLinearBackbone after one step: SGD and Adam on sinusoid, Adam on a
/// small glyphs classification family (the seeds the mutations start from).
func seedCheckpoints() throws -> [(name: String, bytes: [UInt8])] {
    var seeds: [(String, [UInt8])] = []
    for (name, familyName, optimizer) in [("sinusoid-sgd", "sinusoid", OptimizerKind.sgd),
                                          ("sinusoid-adam", "sinusoid", .adam),
                                          ("glyphs-adam", "glyphs", .adam)] {
        let family = try makeTaskFamily(name: familyName,
                                        config: familyName == "glyphs" ? #"{"ways": 2, "classes": 6, "size": 8}"# : "{}")
        var config = TrainerConfig()
        config.metaBatch = 2; config.innerSteps = 1; config.supportShots = 2; config.queryShots = 2
        config.iterations = 3; config.optimizer = optimizer
        let trainer = try Trainer(backbone: FuzzLinearBackbone(family: family), family: family, config: config)
        try trainer.step()
        let model = ModelIdentity(id: FuzzLinearBackbone.id, version: "1")
        seeds.append((name, try Checkpoint(trainer: trainer, model: model).encoded(path: name)))
    }
    return seeds
}

// MARK: Task family and training configs

/// Reads `text` as every task family config that does not touch the file system, and as the
/// training config of a checkpoint header. Returns the first refusal, or `.accepted` if all read it.
func exerciseTaskConfig(_ text: String) -> FuzzOutcome {
    var outcome = FuzzOutcome.accepted
    for name in taskFamilyNames where name != "omniglot" {   // omniglot reads a (fuzzed) path
        do { _ = try makeTaskFamily(name: name, config: text) } catch {
            if outcome == .accepted { outcome = .refused("\(error)") }
        }
    }
    do { try TrainerConfig(json: JSONValue.parse(text)).validate() } catch {
        if outcome == .accepted { outcome = .refused("\(error)") }
    }
    return outcome
}

// MARK: - A backbone for any family: a linear map with a bias

/// y = W x + b for the family's shapes (MSE or softmax cross-entropy); finite-difference HVP.
final class FuzzLinearBackbone: Backbone {
    static let id = "fuzz.linear"
    let inputShape: [Int], outputShape: [Int], lossKind: LossKind
    init(family: any TaskFamily) {
        inputShape = family.inputShape; outputShape = family.outputShape; lossKind = family.lossKind
    }
    var inputs: Int { inputShape.reduce(1, *) }
    var outputs: Int { outputShape.reduce(1, *) }
    var parameterCount: Int { (inputs + 1) * outputs }
    var layout: [LayoutTensor]? { nil }
    var providesHVP: Bool { false }

    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        for i in params.indices { params[i] = Float(i % 7) * 0.01 }
    }
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch, output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        let d = inputs, o = outputs
        for e in 0..<batch.n {
            for j in 0..<o {
                var s = params[d * o + j]
                for i in 0..<d { s += params[j * d + i] * batch.x[e * d + i] }
                output[e * o + j] = s
            }
        }
    }
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        let d = inputs, o = outputs
        var out = [Float](repeating: 0, count: batch.n * o)
        try out.withUnsafeMutableBufferPointer { (b) throws(BackboneError) in try forward(params: params, batch: batch, output: b) }
        if let gradient { for i in gradient.indices { gradient[i] = 0 } }
        var loss: Float = 0
        let scale = 1 / Float(max(batch.n, 1))
        var g = [Float](repeating: 0, count: o)
        for e in 0..<batch.n {
            // d loss / d output for this example: the MSE residual, or softmax minus one-hot.
            if let y = batch.yFloat {
                for j in 0..<o {
                    let r = out[e * o + j] - y[e * o + j]
                    loss += r * r * scale / Float(o); g[j] = 2 * r * scale / Float(o)
                }
            } else if let labels = batch.yClass {
                let z = out[(e * o)..<(e * o + o)], m = z.max() ?? 0
                let sum = z.reduce(0) { $0 + expf($1 - m) }
                let label = Int(labels[e])
                guard (0..<o).contains(label) else { throw BackboneError(.invalidArgument, "label \(label)") }
                loss += (logf(sum) + m - out[e * o + label]) * scale
                for j in 0..<o { g[j] = (expf(out[e * o + j] - m) / sum - (j == label ? 1 : 0)) * scale }
            }
            if let gradient {
                for j in 0..<o {
                    gradient[d * o + j] += g[j]
                    for i in 0..<d { gradient[j * d + i] += g[j] * batch.x[e * d + i] }
                }
            }
        }
        return loss
    }
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        throw BackboneError(.unsupported, "no exact HVP")
    }
}
