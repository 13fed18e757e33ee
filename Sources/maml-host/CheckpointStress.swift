// MARK: - maml-host _checkpoint-stress (hidden): rewrite one checkpoint in a loop, for kill -9 tests
import ArgumentParser
import MAMLCore
import MAMLHost

/// Writes `--output` over and over (atomically, as training does), version k holding iteration k
/// and parameters[0] == k, so a reader can tell a whole version from a torn one. Tests kill it
/// with SIGKILL at random moments, nearly always mid-write, and check the file is always a whole,
/// loadable version (Tests/CLITests/FaultToleranceTests.swift).
struct CheckpointStress: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_checkpoint-stress", shouldDisplay: false)

    @OptionGroup var plugins: PluginOptions
    @Option var output: String
    @Option(help: "MLP hidden width (two layers): sets the checkpoint size.") var width = 600
    @Option(help: "Versions to write (0: until killed).") var count = 0

    func run() throws {
        let setup = try Setup(catalog: plugins.catalog(), model: "mlp", config: "{\"hidden\":[\(width),\(width)]}",
                              task: "sinusoid", taskConfig: "{}")
        let trainer = try Trainer(backbone: setup.backbone, family: setup.family, config: TrainerConfig(iterations: 1))
        var checkpoint = Checkpoint(trainer: trainer, model: setup.identity)
        var version = ((try? Checkpoint.read(from: output))?.header.iteration ?? -1) + 1
        let end = count > 0 ? version + count : Int.max
        while version < end {
            checkpoint.header.iteration = version
            checkpoint.parameters[0] = Float(version)
            try checkpoint.write(to: output)
            version += 1
        }
    }
}
