// MARK: - Errors from the meta-learning core
//
// One error type for training, evaluation and configuration, so the CLI can
// print `"\(error)"` and exit. Checkpoint files have their own error type
// (CheckpointError) because they always name a file.

/// An error from MAMLCore: bad configuration, a failing backbone, or a
/// non-finite number, each with a message that says where it happened.
public enum MAMLError: Error, Equatable, CustomStringConvertible {
    /// A configuration value is out of range; the message names key, value and expectation.
    case invalidConfig(String)
    /// Backbone and task family (or checkpoint) do not fit together.
    case incompatible(String)
    /// A backbone call failed; `context` says which call for which task.
    case backbone(BackboneError, context: String)
    /// A loss or gradient was NaN or infinite; the message names iteration and task.
    case nonFinite(String)
    /// A finite loss blew up past the run's limit (Trainer.maxLoss); the message names it.
    case diverged(String)

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "invalid configuration: \(m)"
        case .incompatible(let m): return "incompatible: \(m)"
        case .backbone(let e, let context): return "backbone failed (\(context)): \(e)"
        case .nonFinite(let m): return "non-finite value: \(m)"
        case .diverged(let m): return "diverged: \(m)"
        }
    }

    /// A numerical blow-up (NaN/infinity, a loss past the limit, or the plugin's
    /// MAML_ERR_NUMERICAL) rather than a bug or a bad configuration.
    public var isDivergence: Bool {
        switch self {
        case .nonFinite, .diverged: return true
        case .backbone(let e, _): return e.kind == .numerical
        case .invalidConfig, .incompatible: return false
        }
    }
}

// MARK: - Faults inside one task

/// What went wrong inside one task's computation; the caller adds where
/// (meta-iteration and task index, or evaluation task) and turns it into a MAMLError.
enum TaskFault: Error {
    case nonFinite(String)
    case backbone(BackboneError, String)

    /// A non-finite number, from the core's checks or the plugin's MAML_ERR_NUMERICAL.
    var isDivergence: Bool {
        switch self {
        case .nonFinite: return true
        case .backbone(let e, _): return e.kind == .numerical
        }
    }

    func error(at location: String) -> MAMLError {
        switch self {
        case .nonFinite(let what): return .nonFinite("\(what) at \(location)")
        case .backbone(let e, let what): return .backbone(e, context: "\(what) at \(location)")
        }
    }
}

// MARK: - Across processes

extension MAMLError {
    /// The error as one line of text that `init(wireText:)` turns back into an equal error: for
    /// a rank to throw the error another rank's task raised (TaskGroup.swift).
    var wireText: String {
        let separator = "\u{1F}"
        switch self {
        case .invalidConfig(let m): return ["invalidConfig", m].joined(separator: separator)
        case .incompatible(let m): return ["incompatible", m].joined(separator: separator)
        case .backbone(let e, let context): return ["backbone", e.kind.rawValue, e.message, context].joined(separator: separator)
        case .nonFinite(let m): return ["nonFinite", m].joined(separator: separator)
        case .diverged(let m): return ["diverged", m].joined(separator: separator)
        }
    }

    init(wireText: String) {
        let f = wireText.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        switch (f.first ?? "", f.count) {
        case ("invalidConfig", 2): self = .invalidConfig(f[1])
        case ("incompatible", 2): self = .incompatible(f[1])
        case ("backbone", 4): self = .backbone(BackboneError(BackboneError.Kind(rawValue: f[1]) ?? .internal, f[2]), context: f[3])
        case ("nonFinite", 2): self = .nonFinite(f[1])
        case ("diverged", 2): self = .diverged(f[1])
        default: self = .backbone(BackboneError(.internal, wireText), context: "an error from another rank")
        }
    }
}
