// MARK: - One session of a run folder: its record in run.json, and the final evaluation
#if canImport(Glibc)
import Glibc
#endif
import MAMLCore
import MAMLSchema

/// What `train --run-dir` adds around the training loop (RunDirectory.swift lays out the folder).
final class RunSession {
    let directory: RunDirectory
    private var record: JSONObject
    private let started = now()
    /// The best validation score and its iteration before this session (a continued run).
    let bestSoFar: (score: Double, iteration: Int)?

    /// Records the session's start: a new run (iteration 0) clears what an earlier run in the folder
    /// left (metrics, best checkpoint, evaluation); a continued one drops metric lines past its checkpoint.
    init(directory: RunDirectory, trainer: Trainer, model: ModelIdentity) throws {
        self.directory = directory
        record = try directory.record()
        if trainer.iteration == 0 {
            for stale in [directory.best, directory.evaluation] where access(stale, F_OK) == 0 {
                guard unlink(stale) == 0 else { throw CLIError("\(stale): cannot remove what an earlier run left: \(String(cString: strerror(errno)))") }
            }
            bestSoFar = nil
            record["sessions"] = .array([])
            record["evaluation"] = nil
            _ = try directory.trimMetrics(after: 0)
        } else {
            bestSoFar = try directory.trimMetrics(after: trainer.iteration)
        }
        let header = Checkpoint(trainer: trainer, model: model).header.json.objectValue ?? JSONObject()
        record["configuration"] = .object(JSONObject(["model", "task", "training"].compactMap { key in
            header[key].map { (key, $0) }
        }))
        var sessions = record["sessions"]?.arrayValue ?? []
        // argv[0] is /proc/self/exe in a supervised worker: the command as typed starts with maml-host.
        let command = ["maml-host"] + CommandLine.arguments.dropFirst()
        var cwd = absolute(".")
        if cwd.hasSuffix("/.") { cwd.removeLast(2) }
        sessions.append(jsonObject(["command": .array(command.map { .string($0) }),
                                    "directory": .string(cwd),
                                    "started": .string(utcTimestamp()),
                                    "from_iteration": .number(Double(trainer.iteration)),
                                    "status": .string("running"),
                                    "machine": machineDescription()]))
        record["sessions"] = .array(sessions)
        try directory.write(record: record)
    }

    /// Records how the session ended: "finished", "interrupted" or "diverged", at `iteration`.
    func finish(status: String, iteration: Int) throws {
        guard var sessions = record["sessions"]?.arrayValue, var last = sessions.last?.objectValue else { return }
        last["status"] = .string(status)
        last["to_iteration"] = .number(Double(iteration))
        last["ended"] = .string(utcTimestamp())
        last["seconds"] = .number(((now() - started) * 1000).rounded() / 1000)
        sessions[sessions.count - 1] = .object(last)
        record["sessions"] = .array(sessions)
        try directory.write(record: record)
    }

    /// Evaluates best.ckpt (else last.ckpt) on `tasks` unseen tasks at the training's K, after 0 to
    /// 10 fine-tuning steps, and writes eval.json (eval --json's object) and its timing to run.json.
    func evaluateFinal(setup: Setup, tasks: Int, threads: Int) throws {
        let t0 = now()
        let name = access(directory.best, F_OK) == 0 ? "best.ckpt" : "last.ckpt"
        let saved = try Checkpoint.read(from: directory.path + "/" + name)
        let training = saved.header.training
        let regression = setup.family.lossKind == .mse
        let config = EvaluationConfig(tasks: tasks, shots: [training.supportShots],
                                      steps: training.algorithm == .protonet ? [0] : Array(0...10),
                                      queryShots: regression ? 100 : 15, innerLR: training.innerLR, seed: 0,
                                      learner: training.learner)
        say("final evaluation of \(name): \(tasks) unseen tasks, K = \(training.supportShots)")
        let results = try evaluate(setup: setup, parameters: saved.parameters, config: config, threads: threads)
        let json = checkpointEvaluationJSON(results, checkpoint: name, header: saved.header, config: config,
                                            lossKind: setup.family.lossKind)
        do { try AtomicFile.write(Array((json + "\n").utf8), to: directory.evaluation) }
        catch { throw CLIError("\(directory.evaluation): cannot write the evaluation: \(error)") }
        record["evaluation"] = jsonObject(["file": .string("eval.json"), "checkpoint": .string(name),
                                           "tasks": .number(Double(tasks)),
                                           "seconds": .number(((now() - t0) * 1000).rounded() / 1000)])
        try directory.write(record: record)
        say(evaluationTable(results, lossKind: setup.family.lossKind, steps: training.algorithm != .protonet))
        say("wrote \(directory.evaluation)")
    }
}

extension TrainingStop {
    /// The status a run record gives a session that ended this way.
    var status: String {
        switch self {
        case .interrupted: return "interrupted"
        case .diverged: return "diverged"
        }
    }
}
