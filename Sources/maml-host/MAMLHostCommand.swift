// maml-host: load meta-learning backbones as plugins and meta-train them.
import ArgumentParser
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

@main
struct MAMLHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maml-host",
        abstract: "Meta-train neural-network backbones loaded as plugins.",
        discussion: """
            Plugins are found next to maml-host, in ./models, in each directory of \
            MAML_PLUGIN_PATH, and in --plugin-dir DIR. See docs/cli.md.
            """,
        subcommands: [List.self, Info.self, Ops.self, Call.self, Train.self, Eval.self, Bench.self, Demo.self,
                      Check.self, CheckOne.self, CheckLocate.self, Trust.self, Scan.self])

    static func main() {
        BLASCoreType.reexecIfMisdetected()
        Supervisor.superviseIfNeeded()   // train, eval, bench, demo: run in a supervised worker
        Glibc.exit(runCommand())
    }

    /// Parses and runs the command in this process; the exit status, announced on the
    /// activity page first so a supervisor can tell it from a plugin's exit().
    static func runCommand() -> Int32 {
        do {
            var command = try parseAsRoot()
            try command.run()
            Activity.announceExit(0)
            return 0
        } catch {
            let code = exitCode(for: error).rawValue
            Activity.announceExit(code)
            exit(withError: error)
        }
    }
}
