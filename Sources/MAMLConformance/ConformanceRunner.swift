import MAMLHost
import MAMLSchema

// MARK: - Running the conformance suite: one child process per check
//
// The parent never loads the plugin. Each check re-runs this executable as
// `maml-host _check-one FILE CHECK [--model ID]` under a deadline; the child
// prints one result line (prefix `conformanceResultPrefix`) and announces its
// steps on stderr, so a crash or a hang is reported with the step it happened
// in. Order and dependencies: `entry` first (nothing else runs if it fails),
// then `registry` (which lists the model ids), then for each model the model
// checks in order, each skipped when one of its `prerequisites` failed.

public struct ConformanceRunner: Sendable {
    /// The maml-host executable to re-run (currentExecutablePath()).
    public var executable: String
    /// Seconds one check may take before it counts as hung.
    public var timeout: Double
    /// Run the per-config checks on the default config only (not the schema's examples).
    public var defaultsOnly: Bool

    public init(executable: String, timeout: Double, defaultsOnly: Bool = false) {
        self.executable = executable; self.timeout = timeout; self.defaultsOnly = defaultsOnly
    }

    /// Runs every check on the plugin at `pluginPath` (absolute), or only the
    /// plugin-level checks and those of `modelID` when it is given.
    /// `progress` is called after each check.
    public func run(pluginPath: String, modelID: String? = nil,
                    progress: (ConformanceResult) -> Void = { _ in }) -> ConformanceReport {
        var results: [ConformanceResult] = []
        func record(_ result: ConformanceResult) { results.append(result); progress(result) }

        let (entry, _) = runCheck(.entry, pluginPath: pluginPath, modelID: nil)
        record(entry)
        guard entry.outcome == .pass else {
            for check in ConformanceCheck.allCases.dropFirst() {
                record(ConformanceResult(check: check.rawValue, model: nil, outcome: .skip,
                                         detail: "skipped: entry failed", seconds: 0))
            }
            return ConformanceReport(pluginPath: pluginPath, results: results)
        }
        let (registry, found) = runCheck(.registry, pluginPath: pluginPath, modelID: nil)
        record(registry)
        var models = found
        if let modelID {
            models = [modelID]
        }
        for model in models {
            // Checks that failed, or were skipped because a prerequisite had: the failed check.
            var blocked: [ConformanceCheck: ConformanceCheck] = [:]
            for check in ConformanceCheck.modelChecks {
                if let cause = check.prerequisites.lazy.compactMap({ blocked[$0] }).first {
                    blocked[check] = cause
                    record(ConformanceResult(check: check.rawValue, model: model, outcome: .skip,
                                             detail: "skipped: \(cause.rawValue) failed", seconds: 0))
                    continue
                }
                let (result, _) = runCheck(check, pluginPath: pluginPath, modelID: model)
                if result.outcome == .fail { blocked[check] = check }
                record(result)
            }
        }
        return ConformanceReport(pluginPath: pluginPath, results: results)
    }

    /// One check in a child; also returns the model ids a `registry` child listed.
    public func runCheck(_ check: ConformanceCheck, pluginPath: String,
                         modelID: String?) -> (ConformanceResult, [String]) {
        var arguments = ["_check-one", pluginPath, check.rawValue, "--budget", "\(timeout)"]
        if defaultsOnly { arguments.append("--defaults-only") }
        if let modelID { arguments += ["--model", modelID] }
        func result(_ outcome: CheckOutcome, _ detail: String, _ seconds: Double) -> ConformanceResult {
            ConformanceResult(check: check.rawValue, model: modelID, outcome: outcome, detail: detail, seconds: seconds)
        }
        let child: ChildResult
        do { child = try runChild(executable, arguments, timeout: timeout) } catch {
            return (result(.fail, "the checker could not start a child: \(error)", 0), [])
        }
        let lastStep = child.stderr.split(separator: "\n").last { $0.hasPrefix(conformanceStepPrefix) }
            .map { " during " + $0.dropFirst(conformanceStepPrefix.count) } ?? ""
        switch child.termination {
        case .timedOut:
            return (result(.fail, "\(child.termination)\(lastStep): hangs count as failures", child.seconds), [])
        case .signaled:
            let why = check == .buffers ? ": a read or write outside the given buffers" : ""
            return (result(.fail, "\(child.termination)\(lastStep)\(why)", child.seconds), [])
        case .exited(let code):
            guard let line = child.stdout.split(separator: "\n").last(where: { $0.hasPrefix(conformanceResultPrefix) }),
                  case .object(let object)? = try? JSONValue.parse(String(line.dropFirst(conformanceResultPrefix.count))),
                  let outcome = object["result"]?.stringValue.flatMap(CheckOutcome.init(rawValue:)) else {
                let tail = child.stderr.split(separator: "\n").filter { !$0.hasPrefix(conformanceStepPrefix) }
                    .suffix(3).joined(separator: " | ")
                return (result(.fail, "exited with status \(code)\(lastStep) without a result\(tail.isEmpty ? "" : ": " + tail)",
                               child.seconds), [])
            }
            let detail = object["detail"]?.stringValue ?? ""
            let models = object["models"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return (result(outcome, detail, child.seconds), models)
        }
    }
}
