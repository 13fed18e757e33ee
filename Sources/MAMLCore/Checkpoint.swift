// MARK: - Checkpoint files (format versions 1 and 2)
//
// A checkpoint holds everything needed to evaluate a meta-learned
// initialisation or to resume its training bit-exactly. Layout (all integers
// and floats little-endian):
//
//   offset   size  field
//   0        8     magic: the ASCII bytes "MAMLCKPT"
//   8        4     format version, UInt32: 2 when learned rates follow the parameters, else 1
//   12       4     header length H in bytes, UInt32
//   16       8     total file length L in bytes, UInt64 (detects truncation)
//   24       H     header: a UTF-8 JSON object (below)
//   24+H     4M    the M = P + E meta-parameters, float32: the model's P parameters, then
//                  E learned inner rates (MetaPlan.swift; E = 0 except Meta-SGD and LSLR)
//   ...      4M    Adam first moment m, float32      (only if optimizer.kind = "adam")
//   ...      4M    Adam second moment v, float32     (only if optimizer.kind = "adam")
//   L-4      4     CRC-32 (IEEE: zlib/PNG) of bytes 0 ..< L-4, UInt32
//
// Header keys:
//   format          "maml-zoo checkpoint"
//   model           {id: reverse-DNS model id, version: semver, config: the model's config JSON as a string}
//   task            {family: "sinusoid", config: the family's config JSON as a string}
//   training        TrainerConfig: algorithm, innerSteps, innerLR, metaLR, metaBatch,
//                   supportShots, queryShots, iterations (planned total), seed, optimizer
//   iteration       completed meta-iterations
//   parameterCount  P
//   learnedRates    E (version 2 only; absent means 0)
//   optimizer       {kind: "adam" | "sgd", step: updates applied, learningRate, beta1, beta2, epsilon}
//   rng             {scheme: "splitmix64-xoshiro256**/1", seed}: randomness is counter-based,
//                   so (scheme, seed, iteration) is the complete RNG state.
//
// The header is written pretty-printed with sorted keys (MAMLSchema's JSON, layout
// .expanded: the bytes Foundation's JSONEncoder wrote for the same header before). Readers ignore
// unknown keys, so new optional keys need no version bump; any change to the
// binary layout or to the meaning of a key does.
//
// Reading checks, in order: magic ("not a maml-zoo checkpoint"), format version,
// length (truncated: expected L bytes, found M), CRC-32 ("corrupted"), header
// JSON, and that the header's P and optimizer agree with L. Writing is atomic
// (AtomicFile.swift): a failed write leaves any previous file intact.

/// The magic bytes at the start of every checkpoint.
#if canImport(Glibc)
import Glibc   // close
#endif
public let checkpointMagic: [UInt8] = Array("MAMLCKPT".utf8)
/// The newest format version this build writes and reads (it reads version 1 too, and writes
/// version 1 whenever no learned rates are stored).
public let checkpointFormatVersion: UInt32 = 2
/// The RNG derivation recorded in checkpoints (see RNG.swift); resuming requires the same.
public let rngScheme = "splitmix64-xoshiro256**/1"

// MARK: - Header

/// Which model a checkpoint belongs to.
public struct ModelIdentity: Sendable, Equatable {
    public var id: String
    public var version: String
    /// The model's config as a JSON object string ("{}" for defaults).
    public var config: String
    public init(id: String, version: String, config: String = "{}") {
        self.id = id; self.version = version; self.config = config
    }
}

/// Which task family a checkpoint was trained on.
public struct TaskIdentity: Sendable, Equatable {
    public var family: String
    public var config: String
    public init(family: String, config: String) { self.family = family; self.config = config }
}

/// The optimiser's kind, progress and hyper-parameters (its moment arrays follow the parameters).
public struct OptimizerHeader: Sendable, Equatable {
    public var kind: OptimizerKind
    public var step: Int
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public init(kind: OptimizerKind, step: Int, learningRate: Double, beta1: Double, beta2: Double, epsilon: Double) {
        self.kind = kind; self.step = step; self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
    }
}

/// The RNG scheme and seed (counter-based randomness: no other state).
public struct RNGHeader: Sendable, Equatable {
    public var scheme: String
    public var seed: UInt64
    public init(scheme: String = rngScheme, seed: UInt64) { self.scheme = scheme; self.seed = seed }
}

/// The JSON header of a checkpoint.
public struct CheckpointHeader: Sendable, Equatable {
    public var format: String
    public var model: ModelIdentity
    public var task: TaskIdentity
    public var training: TrainerConfig
    public var iteration: Int
    public var parameterCount: Int
    /// Learned inner rates stored after the parameters (Meta-SGD, LSLR); 0 for the others.
    public var learnedRates: Int
    public var optimizer: OptimizerHeader
    public var rng: RNGHeader
    public init(format: String = "maml-zoo checkpoint", model: ModelIdentity, task: TaskIdentity,
                training: TrainerConfig, iteration: Int, parameterCount: Int, learnedRates: Int = 0,
                optimizer: OptimizerHeader, rng: RNGHeader) {
        self.format = format; self.model = model; self.task = task; self.training = training
        self.iteration = iteration; self.parameterCount = parameterCount; self.learnedRates = learnedRates
        self.optimizer = optimizer; self.rng = rng
    }
}

// MARK: - Errors

/// A checkpoint could not be read or written; always names the file.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case unreadable(String)
        case notACheckpoint
        case unsupportedVersion(UInt32)
        case truncated(expected: Int, found: Int)
        case trailingData(expected: Int, found: Int)
        case corrupted(stored: UInt32, computed: UInt32)
        case malformedHeader(String)
        case wrongModel(String)
        case cannotResume(String)
        case writeFailed(String)
    }
    public var path: String
    public var problem: Problem

    public init(path: String, _ problem: Problem) { self.path = path; self.problem = problem }

    public var description: String {
        func hex(_ x: UInt32) -> String { "0x" + String(x, radix: 16, uppercase: true) }
        switch problem {
        case .unreadable(let why): return "\(path): cannot read checkpoint: \(why)"
        case .notACheckpoint: return "\(path): not a maml-zoo checkpoint (wrong magic bytes)"
        case .unsupportedVersion(let v):
            return "\(path): unsupported checkpoint format version \(v) (this build reads versions 1 and \(checkpointFormatVersion))"
        case .truncated(let e, let f): return "\(path): truncated checkpoint: expected \(e) bytes, found \(f)"
        case .trailingData(let e, let f):
            return "\(path): checkpoint should be \(e) bytes but the file has \(f) (trailing data or a damaged length field)"
        case .corrupted(let s, let c):
            return "\(path): corrupted checkpoint: CRC-32 mismatch (stored \(hex(s)), computed \(hex(c)))"
        case .malformedHeader(let why): return "\(path): malformed checkpoint header: \(why)"
        case .wrongModel(let why): return "\(path): \(why)"
        case .cannotResume(let why): return "\(path): cannot resume from this checkpoint: \(why)"
        case .writeFailed(let why): return "\(path): cannot write checkpoint: \(why)"
        }
    }
}

// MARK: - Checkpoint

/// A meta-learned parameter vector with everything needed to evaluate it or resume training.
public struct Checkpoint: Sendable, Equatable {
    public var header: CheckpointHeader
    public var parameters: [Float]
    /// Adam's m and v (empty for SGD); the step count is in the header.
    public var moments: (m: [Float], v: [Float])

    public static func == (a: Checkpoint, b: Checkpoint) -> Bool {
        a.header == b.header && a.parameters == b.parameters && a.moments.m == b.moments.m && a.moments.v == b.moments.v
    }

    /// A checkpoint of a trainer's current state.
    public init(trainer: Trainer, model: ModelIdentity) {
        let o = trainer.optimizer
        header = CheckpointHeader(
            format: "maml-zoo checkpoint", model: model,
            task: TaskIdentity(family: trainer.family.name, config: trainer.family.configJSON),
            training: trainer.config, iteration: trainer.iteration,
            parameterCount: trainer.plan.modelCount, learnedRates: trainer.plan.rateCount,
            optimizer: OptimizerHeader(kind: o.kind, step: o.state.step, learningRate: o.learningRate,
                                       beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon),
            rng: RNGHeader(scheme: rngScheme, seed: trainer.config.seed))
        parameters = trainer.parameters
        moments = (o.state.m, o.state.v)
    }

    /// A checkpoint from its parts (the header's counts must match the arrays).
    public init(header: CheckpointHeader, parameters: [Float], moments: (m: [Float], v: [Float]) = ([], [])) {
        self.header = header; self.parameters = parameters; self.moments = moments
    }

    /// The trainer state to resume from on `family`; refuses another task family or family config,
    /// or a different RNG scheme (either would silently change the tasks). Resume with
    /// `header.training` as the config (changing only `iterations` keeps the run bit-identical).
    public func resumeState(family: any TaskFamily, path: String = "checkpoint") throws(CheckpointError) -> TrainerState {
        guard header.task.family == family.name, header.task.config == family.configJSON else {
            throw CheckpointError(path: path, .cannotResume(
                "it was trained on \(header.task.family) \(header.task.config), "
                + "not \(family.name) \(family.configJSON)"))
        }
        guard header.rng.scheme == rngScheme else {
            throw CheckpointError(path: path, .cannotResume(
                "it was made with RNG scheme \"\(header.rng.scheme)\", this build uses \"\(rngScheme)\""))
        }
        return TrainerState(iteration: header.iteration, parameters: parameters,
                            optimizer: OptimizerState(kind: header.optimizer.kind, step: header.optimizer.step,
                                                      m: moments.m, v: moments.v))
    }

    /// Refuses a checkpoint made for another model id or parameter count.
    public func check(modelID: String, parameterCount: Int, path: String = "checkpoint") throws(CheckpointError) {
        guard header.model.id == modelID, header.parameterCount == parameterCount else {
            throw CheckpointError(path: path, .wrongModel(
                "checkpoint is for \(header.model.id) with \(header.parameterCount) parameters, "
                + "this model is \(modelID) with \(parameterCount)"))
        }
    }

    // MARK: Files

    /// Writes the checkpoint atomically to `path`.
    public func write(to path: String) throws(CheckpointError) {
        try write(to: path, fault: nil)
    }

    func write(to path: String, fault: WriteFault?) throws(CheckpointError) {
        let bytes = try encoded(path: path)
        do {
            try writeFileAtomically(path, bytes, fault: fault)
        } catch {
            throw CheckpointError(path: path, .writeFailed(error.reason))
        }
    }

    /// Reads and verifies the checkpoint at `path`.
    /// The fixed prefix (magic, version, lengths) is checked against the file's size before the
    /// rest is read, so a large file that is not a checkpoint is refused in microseconds.
    public static func read(from path: String) throws(CheckpointError) -> Checkpoint {
        let bytes: [UInt8]
        do {
            let (fd, size) = try openRegularFile(path)
            defer { close(fd) }
            if size > fixedPrefixLength {
                let prefix = try readRest(fd, size: fixedPrefixLength)
                if prefix.count == fixedPrefixLength {
                    guard prefix[0..<8].elementsEqual(checkpointMagic) else { throw CheckpointError(path: path, .notACheckpoint) }
                    let total = (0..<8).reduce(UInt64(0)) { $0 | UInt64(prefix[16 + $1]) << (8 * UInt64($1)) }
                    if total > UInt64(size) { throw CheckpointError(path: path, .truncated(expected: Int(clamping: total), found: size)) }
                    if total < UInt64(size) { throw CheckpointError(path: path, .trailingData(expected: Int(total), found: size)) }
                }
                bytes = prefix + (try readRest(fd, size: size - prefix.count))
            } else {
                bytes = try readRest(fd, size: size)
            }
        } catch let error as CheckpointError {
            throw error
        } catch let error as FileProblem {
            throw CheckpointError(path: path, .unreadable(error.reason))
        } catch {
            throw CheckpointError(path: path, .unreadable("\(error)"))
        }
        return try decode(bytes, path: path)
    }
}
