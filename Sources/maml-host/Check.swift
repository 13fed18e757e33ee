// MARK: - maml-host check: the conformance suite
import ArgumentParser
import Foundation
import MAMLConformance
import MAMLHost
import MAMLSchema

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the conformance suite on a plugin file or a model; each check runs in its own process.",
        discussion: """
            PATH is a plugin file (anything containing "/" or ending in .so); otherwise the argument \
            is a model name or id, found like every other command finds models, and only that \
            model's checks run. A crash, abort or hang fails the check it happened in. The file must pass \
            the trust policy like every plugin loaded (owner and permissions; with a lock file or \
            --require-trusted, pinned and unchanged), and every check loads the very bytes that \
            were verified. Exits 0 when no check failed (with --strict: and none was skipped), 1 \
            otherwise, 2 when the checker could not run (no such file or model, or the file refused \
            by the trust policy). See docs/cli.md for the checks and the --json fields.
            """)

    @OptionGroup var plugins: PluginOptions
    @Argument(help: ArgumentHelp("A plugin file, or a model name or id.", valueName: "PATH|MODEL")) var target: String
    @Flag(help: "One JSON object on stdout instead of a table.") var json = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds one check may run before it counts as hung.", valueName: "S"))
    var timeout: Double = 60
    @Flag(help: "Run the per-config checks on the default config only, not on every example config of the schema (faster while developing).")
    var defaultsOnly = false
    @Flag(help: "Fail when any check was skipped (an extension not offered, no schema examples, a check that could not judge), not only when one failed.")
    var strict = false

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be > 0, got \(timeout)") }
    }

    func run() throws {
        guard let executable = currentExecutablePath() else { throw CLIError("cannot find the maml-host executable (/proc/self/exe)") }
        let runner = ConformanceRunner(executable: executable, timeout: timeout, defaultsOnly: defaultsOnly)
        let (path, model): (String, String?)
        do { (path, model) = try resolve(runner) } catch {
            printError("Error: \(error)")
            throw ExitCode(2)
        }
        // The trust policy, as for every plugin loaded (docs/security.md): a refused file is not
        // run at all. A pinned file is checked through the descriptor that was hashed.
        let admitted: AdmittedFile
        switch plugins.trustPolicy.admitFile(path) {
        case .success(let file): admitted = file
        case .failure(let problem):
            printError("Error: \(problem.path): \(problem.message)")
            throw ExitCode(2)
        }
        if !json { printError("checking \(path)\(model.map { " (model \($0))" } ?? "")") }
        var report = runner.run(pluginPath: admitted.loadPath, modelID: model)
        if admitted.loadPath != path {
            // The children saw /proc/self/fd/N: report the file by its name.
            report.pluginPath = path
            for i in report.results.indices {
                report.results[i].detail = report.results[i].detail.replacing(admitted.loadPath, with: path)
            }
        }
        report.strict = strict
        if json {
            print(report.json.serialized())
        } else {
            var table = Table("CHECK", "MODEL", "RESULT", "TIME", "DETAIL")
            for r in report.results {
                table.add(r.check, r.model ?? "-", r.outcome == .fail ? "FAIL" : r.outcome.rawValue,
                          fmt(r.seconds, 2) + "s", r.detail.replacingOccurrences(of: "\n", with: " "))
            }
            print(table.render())
            let count = { (o: CheckOutcome) in report.results.filter { $0.outcome == o }.count }
            let verdict = report.passed ? "PASSED" : strict && count(.fail) == 0 ? "FAILED (--strict: a check was skipped)" : "FAILED"
            print("\n\(verdict): \(count(.pass)) passed, \(count(.fail)) failed, \(count(.skip)) skipped (\(path))")
        }
        if !report.passed { throw ExitCode(1) }
    }

    /// The plugin file and, for a model argument, the model id.
    private func resolve(_ runner: ConformanceRunner) throws -> (String, String?) {
        if target.contains("/") || target.hasSuffix(".so") {
            let path = URL(fileURLWithPath: target).standardizedFileURL.path
            guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError("no readable plugin file at \(path)") }
            return (path, nil)
        }
        // Finding a model loads every plugin: do it in a child too.
        var arguments = ["_check-locate", target, "--scan-timeout", "\(plugins.scanTimeout)"]
        for directory in plugins.pluginDirectories { arguments += ["--plugin-dir", directory] }
        // The child finds the model under the same trust policy (lock file, --require-trusted).
        if let lock = plugins.trustPolicy.lockPath { arguments += ["--trust-file", lock] }
        if plugins.requireTrusted { arguments.append("--require-trusted") }
        let child = try runChild(runner.executable, arguments, timeout: timeout)
        guard child.succeeded, let line = child.stdout.split(separator: "\n").last,
              case .object(let object)? = try? JSONValue.parse(String(line)),
              let file = object["file"]?.stringValue, let id = object["model"]?.stringValue else {
            // The child printed "Error: ..." already; keep the message only.
            var why = child.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            if why.hasPrefix("Error: ") { why.removeFirst("Error: ".count) }
            throw CLIError(child.succeeded || why.isEmpty ? "cannot find model '\(target)' (\(child.termination))" : why)
        }
        return (file, id)
    }
}

// MARK: - Hidden helpers run as child processes by `check`

struct CheckOne: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_check-one", abstract: "Run one conformance check (used by `check`).", shouldDisplay: false)
    @Argument var file: String
    @Argument var check: String
    @Option var model: String?
    @Option(parsing: .unconditional) var budget: Double = 60
    @Flag var defaultsOnly = false

    func run() throws {
        guard let which = ConformanceCheck(rawValue: check) else { throw CLIError("unknown check '\(check)'") }
        print(runConformanceCheck(which, pluginPath: file, modelID: model, budget: budget,
                                  defaultsOnly: defaultsOnly).line)
    }
}

struct CheckLocate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_check-locate", abstract: "Print the plugin file of a model (used by `check`).", shouldDisplay: false)
    @OptionGroup var plugins: PluginOptions
    @Argument var model: String

    func run() throws {
        let catalog = plugins.catalog(quiet: true)
        let entry: ModelEntry
        do { entry = try catalog.model(named: model) } catch {
            // A model that is not there may have been refused by the trust policy: say so.
            // (The bundled plugins next to maml-host last: the user's own plugins are the likelier match.)
            let bundled = PluginDiscovery.executableDirectory().map { $0 + "/" } ?? "\0"
            let errors = catalog.problems.filter { $0.severity == .error && ($0.modelID == nil || $0.modelID == model) }
            let refusals = errors.filter { !$0.path.hasPrefix(bundled) } + errors.filter { $0.path.hasPrefix(bundled) }
            guard !refusals.isEmpty else { throw error }
            let shown = refusals.prefix(3).map { "\($0.path): \($0.message)" }.joined(separator: "; ")
            let more = refusals.count > 3 ? "; and \(refusals.count - 3) more" : ""
            throw CLIError("\(error.message) (plugin problems: \(shown)\(more))")
        }
        print(jsonObject(["file": .string(entry.pluginPath), "model": .string(entry.id)]).serialized())
    }
}
