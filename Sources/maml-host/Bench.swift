// MARK: - maml-host bench
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLSchema
import CBLAS
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure meta-training speed: meta-iterations/s, tasks/s and GFLOP/s (task sampling included, warm-up excluded).",
        discussion: """
            --threads N spreads the tasks of a meta-batch over N threads. GFLOP/s counts the backbone calls actually made, costed by the model's \
            "flops" op (an exact HVP counts as 2 loss_grads); docs/benchmarks.md defines it. \
            For comparisons, pin with `taskset -c 0` and alternate with the other programs (docs/benchmarks.md).
            """)

    @OptionGroup var plugins: PluginOptions
    @OptionGroup var options: TrainingOptions
    @OptionGroup var supervision: SupervisionOptions
    @Option(parsing: .unconditional, help: "Timed meta-iterations.") var iterations = 2000
    @Option(parsing: .unconditional, help: "Untimed meta-iterations first.") var warmup = 200
    @Flag(help: "One JSON object on stdout.") var json = false
    @Flag(help: "Also measure OpenBLAS sgemm GFLOP/s (512x512x512, one thread) for comparison.") var sgemm = false
    @Flag(help: "Run the suite (every backbone x task x algorithm that matters, 1 and --threads N threads, memory against inner steps); model and task options are ignored.")
    var suite = false
    @Option(help: ArgumentHelp("With --suite: only these workloads (comma-separated names).", valueName: "NAMES"))
    var only: String?
    @Flag(help: "With --suite: a twentieth of the iterations (a smoke run, not a measurement).") var quick = false

    func validate() throws {
        guard iterations >= 1, warmup >= 0 else {
            throw ValidationError("--iterations must be >= 1 and --warmup >= 0 (got \(iterations), \(warmup))")
        }
        try supervision.check()
        try options.check(iterations: iterations + warmup)
    }

    func run() throws {
        if suite && MPIRanks.launchedAsRank {
            throw CLIError("--suite runs in one process: under mpirun bench one workload (docs/scale-out.md)")
        }
        if suite {
            return try BenchSuite.run(only: only.map { $0.split(separator: ",").map(String.init) } ?? [], quick: quick,
                                      threads: options.threading.threads, pluginDirectories: plugins.pluginDirectories,
                                      json: json)
        }
        guard only == nil, !quick else { throw ValidationError("--only and --quick go with --suite") }
        let group = try MPIRanks.start(watchdog: supervision.watchdog)
        let setup = try Setup(catalog: plugins.catalog(quiet: json), model: options.model, config: options.config,
                              task: options.task, taskConfig: try options.resolvedTaskConfig(),
                              algorithm: options.algorithm)
        let config = options.trainerConfig(iterations: warmup + iterations)
        // The call counter wraps one instance. With more threads each worker has its own
        // replica, so the calls of one meta-iteration are counted afterwards on one thread:
        // they do not depend on the thread count. Under mpirun each rank sees only its own
        // tasks, so the same holds for more than one rank.
        let threads = options.threading.threads, ranks = group?.size ?? 1
        let counted = CountingBackbone(setup.backbone)
        let countsInPlace = threads == 1 && ranks == 1
        let trainer = try Trainer(backbone: countsInPlace ? counted : setup.backbone, family: setup.family,
                                  config: config, threads: threads, group: group, log: noteToStderr)
        for _ in 0..<warmup { try trainer.step() }
        counted.reset()
        let t0 = now()
        var loss = 0.0
        for _ in 0..<iterations { loss = try trainer.step().queryLoss }
        let seconds = now() - t0
        let rate = Double(iterations) / seconds
        // Under mpirun: what the slots' all-gather alone costs, every rank ready (the rest of
        // a meta-iteration is compute, and waiting for the rank with the larger share).
        let exchange = try group.map { try measureExchange($0, tasks: config.metaBatch, floats: trainer.plan.metaCount) }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        // GFLOP/s from the flops op; a model without one (or with a broken table) just has none.
        var flops: Double?
        do {
            let ops = try PluginOps(backbone: setup.backbone)
            if countsInPlace {
                flops = try counted.flops(perLossGrad: ops.lossGradFLOPs)
            } else {
                counted.reset()
                let probe = try Trainer(backbone: counted, family: setup.family,
                                        config: options.trainerConfig(iterations: 1), threads: 1, log: { _ in })
                try probe.step()
                flops = try counted.flops(perLossGrad: ops.lossGradFLOPs) * Double(iterations)
            }
        } catch {
            if !json { printError("note: no GFLOP/s: \(error)") }
        }
        let gflops = flops.map { $0 / seconds / 1e9 }
        let flopsPerIteration = flops.map { $0 / Double(iterations) }
        let sgemmGFLOPs = sgemm ? measureSGEMM() : nil
        if json {
            let o: KeyValuePairs<String, JSONValue> = [
                "meta_iterations_per_s": .number(rate), "tasks_per_s": .number(rate * Double(config.metaBatch)),
                "seconds": .number(seconds), "iterations": .number(Double(iterations)), "warmup": .number(Double(warmup)),
                "model": .string(setup.identity.id), "task": .string(setup.family.name),
                "algorithm": .string(config.algorithm.rawValue), "inner_steps": .number(Double(config.innerSteps)),
                "meta_batch": .number(Double(config.metaBatch)), "parameters": .number(Double(setup.backbone.parameterCount)),
                "exact_hvp": .bool(setup.backbone.providesHVP), "threads": .number(Double(trainer.threads)),
                "ranks": .number(Double(ranks)),
                "exchange_ms": exchange.map { .number($0.seconds * 1000) } ?? .null,
                "exchange_bytes_received": exchange.map { .number(Double($0.bytes)) } ?? .null,
                "final_query_loss": .number(loss), "peak_rss_mib": .number(peakMiB),
                "gflops": gflops.map(JSONValue.number) ?? .null,
                "flops_per_meta_iteration": flopsPerIteration.map(JSONValue.number) ?? .null,
                "sgemm_gflops": sgemmGFLOPs.map(JSONValue.number) ?? .null,
                "blas_core": .string(BLASCoreType.name), "kernels": .string(kernelBuild)]
            print(jsonObject(o).serialized())
        } else {
            print("\(displaySafe(setup.identity.id)) on \(setup.family.name), \(config.algorithm.rawValue) k=\(config.innerSteps), "
                  + "meta-batch \(config.metaBatch), \(trainer.threads) thread\(trainer.threads == 1 ? "" : "s")"
                  + (ranks > 1 ? " on each of \(ranks) MPI ranks" : ""))
            print("\(fmt(rate, 1)) meta-iterations/s, \(fmt(rate * Double(config.metaBatch), 0)) tasks/s "
                  + "(\(iterations) timed after \(warmup) warm-up, \(fmt(seconds, 2)) s), peak RSS \(fmt(peakMiB, 1)) MiB")
            if let exchange {
                print("exchange of the task slots alone: \(fmt(exchange.seconds * 1000, 3)) ms per meta-iteration, "
                      + "\(exchange.bytes) bytes received by rank 0")
            }
            if let gflops, let flopsPerIteration {
                print("\(fmt(gflops, 2)) GFLOP/s (\(fmt(flopsPerIteration / 1e6, 3)) MFLOP per meta-iteration by the model's flops op; "
                      + "an HVP counts as 2 loss_grads)")
            }
            print("kernels: maml-zoo's \(kernelBuild) build (MAML_KERNELS_ISA caps it), OpenBLAS's \(BLASCoreType.name)")
            if let sgemmGFLOPs {
                print("OpenBLAS sgemm 512x512x512, 1 thread, \(BLASCoreType.name) kernels: \(fmt(sgemmGFLOPs, 1)) GFLOP/s"
                      + (gflops.map { " (this run achieved \(fmt(100 * $0 / sgemmGFLOPs, 1))% of it)" } ?? ""))
            }
        }
    }
}

// MARK: - Under mpirun: the exchange alone

/// Seconds per all-gather of a meta-batch's task slots (`tasks` x `floats` floats) with every
/// rank ready (a maximum first lines them up), over repeats for about half a second; and the
/// bytes rank 0 receives in one.
func measureExchange(_ group: any TaskGroup, tasks: Int, floats: Int) throws -> (seconds: Double, bytes: Int) {
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tasks * floats)
    defer { buffer.deallocate() }
    buffer.initialize(repeating: 0, count: tasks * floats)
    let shares = group.shares(of: tasks)
    try group.allGather(buffer, blockLength: floats, shares: shares)   // untimed: connections set up
    var repeats = 0, total = 0.0
    while true {
        _ = try group.maximum(0)
        let t0 = now()
        try group.allGather(buffer, blockLength: floats, shares: shares)
        total += now() - t0
        repeats += 1
        // Every rank runs the same number of repeats: rank 0's clock decides.
        let enough = group.rank == 0 && repeats >= 5 && (total >= 0.5 || repeats >= 1000)
        if try group.maximum(enough ? 1 : 0) == 1 { break }
    }
    return (total / Double(repeats), 4 * floats * (tasks - shares[0].count))
}

// MARK: - Reference: OpenBLAS sgemm on one thread

/// GFLOP/s of C = A B for 512x512 floats through OpenBLAS (one thread, as the plugins use it):
/// one untimed call, then as many as fit in about half a second.
func measureSGEMM(size n: Int = 512) -> Double {
    let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n), b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    for i in 0..<(n * n) { a[i] = Float(i % 7) * 0.125; b[i] = Float(i % 5) * 0.25 }
    openblas_set_num_threads(1)
    func product() {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(n), blasint(n),
                    1, a, blasint(n), b, blasint(n), 0, c, blasint(n))
    }
    product()
    var calls = 0
    let t0 = now()
    var elapsed = 0.0
    while elapsed < 0.5 || calls < 3 {
        product()
        calls += 1
        elapsed = now() - t0
    }
    return 2 * Double(n * n * n) * Double(calls) / elapsed / 1e9
}
