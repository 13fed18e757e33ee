// MARK: - maml-host _scan (hidden): load one plugin file in this process and report as JSON
import ArgumentParser
import MAMLHost

/// The child side of out-of-process plugin discovery (Sources/MAMLHost/PluginScanner.swift):
/// the parent runs `maml-host _scan --origin O FILE` under a deadline and learns from the
/// JSON line, or from the signal that ended this process, whether FILE is safe to load.
struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_scan", shouldDisplay: false)

    @Option var origin: String
    @Argument var file: String

    func run() throws {
        guard let origin = SearchDirectory.Origin(scanName: origin) else { throw CLIError("_scan: unknown origin \(origin)") }
        let report = scanPluginFile(file, origin: origin)
        print(report.json.serialized())
    }
}
