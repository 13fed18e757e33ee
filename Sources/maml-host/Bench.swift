// MARK: - maml-host bench
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLPluginKit
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure meta-training speed: meta-iterations/s and tasks/s (task sampling included, warm-up excluded).",
        discussion: "--threads N spreads the tasks of a meta-batch over N threads. For comparisons, pin with `taskset` and alternate with the other programs (docs/benchmarks.md).")

    @OptionGroup var plugins: PluginOptions
    @OptionGroup var options: TrainingOptions
    @Option(help: "Timed meta-iterations.") var iterations = 2000
    @Option(help: "Untimed meta-iterations first.") var warmup = 200
    @Flag(help: "One JSON object on stdout.") var json = false

    func validate() throws {
        guard iterations >= 1, warmup >= 0 else {
            throw ValidationError("--iterations must be >= 1 and --warmup >= 0 (got \(iterations), \(warmup))")
        }
    }

    func run() throws {
        let setup = try Setup(catalog: plugins.catalog(quiet: json), model: options.model, config: options.config,
                              task: options.task, taskConfig: try options.resolvedTaskConfig())
        let config = options.trainerConfig(iterations: warmup + iterations)
        let trainer = try Trainer(backbone: setup.backbone, family: setup.family, config: config,
                                  threads: options.threading.threads, log: noteToStderr)
        for _ in 0..<warmup { try trainer.step() }
        let t0 = now()
        var loss = 0.0
        for _ in 0..<iterations { loss = try trainer.step().queryLoss }
        let seconds = now() - t0
        let rate = Double(iterations) / seconds
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        if json {
            let o: KeyValuePairs<String, JSONValue> = [
                "meta_iterations_per_s": .number(rate), "tasks_per_s": .number(rate * Double(config.metaBatch)),
                "seconds": .number(seconds), "iterations": .number(Double(iterations)), "warmup": .number(Double(warmup)),
                "model": .string(setup.identity.id), "task": .string(setup.family.name),
                "algorithm": .string(config.algorithm.rawValue), "inner_steps": .number(Double(config.innerSteps)),
                "meta_batch": .number(Double(config.metaBatch)), "parameters": .number(Double(setup.backbone.parameterCount)),
                "exact_hvp": .bool(setup.backbone.hasExactHVP), "threads": .number(Double(trainer.threads)),
                "final_query_loss": .number(loss), "peak_rss_mib": .number(peakMiB)]
            print(jsonObject(o).serialized())
        } else {
            print("\(setup.identity.id) on \(setup.family.name), \(config.algorithm.rawValue) k=\(config.innerSteps), "
                  + "meta-batch \(config.metaBatch), \(trainer.threads) thread\(trainer.threads == 1 ? "" : "s")")
            print("\(fmt(rate, 1)) meta-iterations/s, \(fmt(rate * Double(config.metaBatch), 0)) tasks/s "
                  + "(\(iterations) timed after \(warmup) warm-up, \(fmt(seconds, 2)) s), peak RSS \(fmt(peakMiB, 1)) MiB")
        }
    }
}
