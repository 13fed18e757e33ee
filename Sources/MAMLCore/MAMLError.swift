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
