import MAMLHost
import MAMLSchema

// MARK: - Conformance checks: names, results, reports
//
// `maml-host check` runs every check below in its own child process (see
// ConformanceRunner.swift), so a plugin that crashes, aborts or hangs fails
// that check instead of taking the checker down. This file holds what both
// sides agree on: the check names, one result, and the report.

/// One conformance check. Plugin-level checks run once per file; model checks once per model.
public enum ConformanceCheck: String, CaseIterable, Sendable {
    case entry
    case registry
    case createDefaults = "create-defaults"
    case createExamples = "create-examples"
    case invalidConfig = "invalid-config"
    case lossFinite = "loss-finite"
    case paramCount = "param-count"
    case initSeed = "init-seed"
    case gradient
    case hvp
    case batchDuplication = "batch-duplication"
    case forwardLoss = "forward-loss"
    case vjp
    case threads
    case buffers
    case lastError = "last-error"

    /// True for the checks about the file as a whole (run before any model check).
    public var isPluginLevel: Bool { self == .entry || self == .registry }

    /// The model checks, in the order they run.
    public static var modelChecks: [ConformanceCheck] { allCases.filter { !$0.isPluginLevel } }

    /// The model checks that must not have failed for this one to say anything: a check is
    /// skipped when one of these failed or was itself skipped for that reason. So one bug is
    /// reported once, by the check that tests it (a crashing loss_grad fails loss-finite, not
    /// every check that calls loss_grad; a wrong gradient fails gradient, not the HVP check that
    /// differentiates it; a non-deterministic init fails init-seed, not threads; the VJP check
    /// compares with loss_grad's gradient through forward's outputs, so it needs both right).
    public var prerequisites: [ConformanceCheck] {
        switch self {
        case .entry, .registry, .createDefaults: return []
        case .createExamples, .invalidConfig, .lossFinite: return [.createDefaults]
        case .paramCount, .initSeed, .gradient, .batchDuplication, .forwardLoss, .buffers, .lastError: return [.lossFinite]
        case .hvp: return [.gradient]
        case .vjp: return [.gradient, .forwardLoss]
        case .threads: return [.lossFinite, .initSeed]
        }
    }

    /// One line on what the check asserts (docs/cli.md has the full list).
    public var summary: String {
        switch self {
        case .entry: return "maml_plugin_registry exported, returns a registry of ABI major 1, same pointer twice, host version accepted"
        case .registry: return "struct sizes, required functions, non-empty strings, valid config schemas, unique model ids"
        case .createDefaults: return "create(NULL), create(\"\"), create(\"{}\") succeed; counts, shapes, loss kind, layout valid; no NULL function in an extension table"
        case .createExamples: return "create with every example config of the schema"
        case .invalidConfig: return "an unknown key and a wrong type are refused with a non-OK status and a message"
        case .paramCount: return "param_count and shapes are constant per instance and equal across instances"
        case .initSeed: return "init_params is deterministic in the seed, differs across seeds, finite"
        case .lossFinite: return "loss and gradient at the initialisation are finite; loss with and without grad agree"
        case .gradient: return "gradient matches central finite differences of the loss along several directions"
        case .hvp: return "maml.hvp/1 matches central finite differences of gradients (skipped when not offered)"
        case .batchDuplication: return "the mean loss and gradient do not change when every example is duplicated"
        case .forwardLoss: return "loss_grad's loss equals the loss computed from forward's outputs"
        case .vjp: return "maml.vjp/1 matches central finite differences of u . forward, and with u = d loss / d outputs equals loss_grad's gradient (skipped when not offered)"
        case .threads: return "two instances on two threads give the results of one instance alone"
        case .buffers: return "no reads or writes outside the given buffers (guard pages, canaries); outputs fully written"
        case .lastError: return "invalid calls return non-OK with a last_error message and leave the instance usable"
        }
    }
}

/// How a check ended.
public enum CheckOutcome: String, Sendable { case pass, fail, skip }

/// The result of one check on one plugin file or model.
public struct ConformanceResult: Sendable, Equatable {
    public var check: String
    /// The model id for model checks; nil for plugin-level checks.
    public var model: String?
    public var outcome: CheckOutcome
    public var detail: String
    public var seconds: Double

    public init(check: String, model: String?, outcome: CheckOutcome, detail: String, seconds: Double) {
        self.check = check; self.model = model; self.outcome = outcome; self.detail = detail; self.seconds = seconds
    }

    public var json: JSONValue {
        .object(JSONObject([("check", .string(check)), ("model", model.map(JSONValue.string) ?? .null),
                            ("result", .string(outcome.rawValue)), ("detail", .string(detail)),
                            ("seconds", .number((seconds * 1000).rounded() / 1000))]))
    }
}

/// Every result for one plugin file.
public struct ConformanceReport: Sendable {
    public var pluginPath: String
    public var results: [ConformanceResult]
    /// With `strict`, a skipped check fails the plugin too (nothing may go unverified:
    /// no HVP offered, no schema examples, or a check that could not judge).
    public var strict = false
    /// True when no check failed and, when `strict`, none was skipped.
    public var passed: Bool { !results.contains { $0.outcome == .fail || (strict && $0.outcome == .skip) } }
    public var failedChecks: [ConformanceResult] { results.filter { $0.outcome == .fail } }

    public var json: JSONValue {
        .object(JSONObject([("plugin", .string(pluginPath)), ("passed", .bool(passed)),
                            ("strict", .bool(strict)), ("checks", .array(results.map(\.json)))]))
    }
}

// MARK: - What a child prints

/// The prefix of the one line a checking child prints with its result; the
/// plugin may print to stdout too, so the parent looks for this prefix.
public let conformanceResultPrefix = "MAML-CHECK-RESULT "
/// The prefix of progress lines on the child's stderr: the last one names the
/// step a crash or hang happened in.
let conformanceStepPrefix = "MAML-CHECK-STEP "
