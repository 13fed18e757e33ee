// maml-host: load meta-learning backbones as plugins and meta-train them.
import ArgumentParser

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
        main(nil)
    }
}
