// MARK: - Options shared by several commands
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MAMLCore
import MAMLHost
import MAMLSchema

/// Where to look for plugins beyond the default places.
struct PluginOptions: ParsableArguments {
    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp("Also load plugins from DIR (repeatable).", valueName: "DIR"))
    var pluginDirectories: [String] = []
    @Option(name: .customLong("trust-file"),
            help: ArgumentHelp("Plugin lock file (default $XDG_CONFIG_HOME/maml-zoo/plugins.lock or ~/.config/maml-zoo/plugins.lock); when it exists only pinned plugins load.", valueName: "FILE"))
    var trustFile: String?
    @Option(name: .customLong("scan-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds a plugin may take to load in the scanner child before it is skipped as hung (not cached: it is scanned again next time).", valueName: "SECONDS"))
    var scanTimeout = PluginScanner.defaultTimeout
    @Flag(name: .customLong("require-trusted"), help: "Load only plugins pinned in the lock file, even if it does not exist.")
    var requireTrusted = false

    func validate() throws {
        guard scanTimeout.isFinite && scanTimeout > 0 else {
            throw ValidationError("--scan-timeout must be a positive number of seconds, got \(scanTimeout)")
        }
    }

    /// The trust policy these options ask for (docs/security.md).
    var trustPolicy: TrustPolicy {
        TrustPolicy(lockPath: trustFile.map { absolute($0) } ?? TrustLock.defaultPath(), requireTrusted: requireTrusted)
    }

    /// Loads the catalog and reports plugins that failed to load on stderr (they never stop the rest).
    func catalog(quiet: Bool = false) -> PluginCatalog {
        // Plugins are first loaded in a child process (a crash or hang there is reported, not fatal).
        let scanner = currentExecutablePath().map { PluginScanner(executable: $0, timeout: scanTimeout) }
        let catalog = PluginCatalog.discover(extraDirectories: pluginDirectories, trust: trustPolicy, scanner: scanner)
        if !quiet { for problem in catalog.problems { printError(problem.description) } }
        return catalog
    }
}

/// `path` made absolute against the working directory.
func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    return String(cString: buffer) + "/" + path
}

/// An error for the user: printed as "error: ..." with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// Writes one message to stderr. Messages may quote plugin or checkpoint text: terminal controls
/// (ESC, \r, BEL, C1, ...) are escaped; line breaks stay (multi-line messages are the host's).
func printError(_ message: String) {
    var stderr = StandardError()
    let safe = displaySafe(cappingLines(message), keepingLineBreaks: true)
    print(Colour.enabled(STDERR_FILENO) ? Colour.prefixed(safe) : safe, to: &stderr)
}

/// Each line cut to `limit` characters, saying how much was left out: a message that quotes
/// user input (a 100 KB config key, a path) stays readable.
func cappingLines(_ text: String, limit: Int = 1000) -> String {
    guard text.count > limit else { return text }
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        line.count > limit ? line.prefix(limit) + "... (\(line.count - limit) more characters)" : String(line)
    }.joined(separator: "\n")
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

/// A JSON object value from literal pairs, keeping their order.
func jsonObject(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
    .object(JSONObject(pairs.map { ($0.key, $0.value) }))
}
