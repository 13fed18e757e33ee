// MARK: - What `plot` and `report` draw from: run folders and checkpoints
#if canImport(Glibc)
import Glibc
#endif
import MAMLCore
import MAMLSchema

/// One input of `plot`: a run folder (train --run-dir) or a checkpoint file.
struct PlotSource {
    /// The name in legends and titles: the folder's or file's name.
    var label: String
    var path: String
    var run: RunDirectory?
    /// The checkpoint plotted: the file given, or the folder's best.ckpt (else last.ckpt).
    var checkpointPath: String
    var checkpoint: Checkpoint
    /// The folder's metrics log (empty for a checkpoint).
    var metrics: [JSONObject]
    /// The folder's eval.json, when it has one.
    var evaluation: JSONObject?

    /// Opens `path`, naming it in every refusal: missing, a folder that is not a run, a file that
    /// is not a checkpoint (the checkpoint reader's own message).
    init(path: String) throws {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CLIError("\(path): \(String(cString: strerror(errno))) (give a run folder made by `train --run-dir` or a checkpoint)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            guard RunDirectory.looksLikeOne(path) else {
                throw CLIError("\(path): not a run folder (it has no run.json or last.ckpt; `train --run-dir DIR` makes one)")
            }
            let run = RunDirectory(path: path)
            self.run = run
            checkpointPath = access(run.best, F_OK) == 0 ? run.best : run.last
            metrics = RunDirectory.metricLines(run.metrics)
            if access(run.evaluation, F_OK) == 0 {
                do {
                    evaluation = try JSONValue.parse(String(decoding: try AtomicFile.read(run.evaluation), as: UTF8.self)).objectValue
                } catch { throw CLIError("\(run.evaluation): cannot read the evaluation: \(error)") }
            }
            label = baseName(path)
        } else {
            checkpointPath = path
            metrics = []
            var name = baseName(path)
            if name.hasSuffix(".ckpt") { name.removeLast(5) }
            label = name
        }
        checkpoint = try Checkpoint.read(from: checkpointPath)
    }

    var header: CheckpointHeader { checkpoint.header }
    var fineTunes: Bool { header.training.algorithm != .protonet }

    /// The metrics log's series: (iteration, value) of `key` in order.
    func metric(_ key: String) -> (x: [Double], y: [Double]) {
        var xs: [Double] = [], ys: [Double] = []
        for line in metrics {
            guard let i = line["iteration"]?.numberValue, let v = line[key]?.numberValue else { continue }
            xs.append(i); ys.append(v)
        }
        return (xs, ys)
    }

    /// The best validation iteration and score the log reached last, if validation ran.
    var bestValidation: (iteration: Double, score: Double)? {
        guard let line = metrics.last(where: { $0["best_iteration"] != nil }),
              let i = line["best_iteration"]?.numberValue, let s = line["best_score"]?.numberValue, s.isFinite else { return nil }
        return (i, s)
    }
}

/// The last component of a path ("runs/a/" -> "a").
func baseName(_ path: String) -> String {
    var p = Substring(path)
    while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
    return String(p.split(separator: "/").last ?? p)
}

/// Legend labels that tell the sources apart: the names, or the paths where names repeat.
func distinctLabels(_ sources: inout [PlotSource]) {
    let names = sources.map(\.label)
    for i in sources.indices where names.filter({ $0 == names[i] }).count > 1 { sources[i].label = sources[i].path }
}

// MARK: - Accuracy or loss against inner steps

/// A metric after 0...n fine-tuning steps at one K: mean and 95% CI half-width per step count.
struct StepCurve {
    var label: String
    var shots: Int
    var tasks: Int
    var classification: Bool
    var steps: [Int]
    var mean: [Double]
    var ci95: [Double]
    /// No fine-tuning (Prototypical Networks): one value for every step count.
    var flat: Bool

    /// From evaluator results (accuracy in %, else MSE) at K = `shots`.
    init(label: String, results: [EvalResult], shots: Int, classification: Bool, flat: Bool) {
        self.label = label; self.shots = shots; self.classification = classification; self.flat = flat
        let rows = results.filter { $0.shots == shots }
        tasks = rows.first?.tasks ?? 0
        steps = rows.map(\.steps)
        mean = rows.map { classification ? 100 * ($0.accuracy ?? .nan) : $0.loss }
        ci95 = rows.map { classification ? 100 * ($0.accuracyCI95 ?? .nan) : $0.lossCI95 }
    }

    /// From an eval.json object (eval --json's), or nil when it has no rows at K = `shots`.
    init?(label: String, evaluation: JSONObject, shots: Int, flat: Bool) {
        let rows = (evaluation["results"]?.arrayValue ?? []).compactMap(\.objectValue)
            .filter { $0["shots"]?.integerValue == shots }
        guard !rows.isEmpty else { return nil }
        self.label = label; self.shots = shots; self.flat = flat
        tasks = evaluation["tasks"]?.integerValue ?? 0
        classification = rows[0]["accuracy"] != nil
        steps = rows.map { $0["steps"]?.integerValue ?? 0 }
        let key = classification ? "accuracy" : "mse", scale = classification ? 100.0 : 1
        // Non-finite means (diverged tasks) are written as null: a gap in the curve.
        mean = rows.map { ($0[key]?.numberValue ?? .nan) * scale }
        ci95 = rows.map { ($0["ci95"]?.numberValue ?? .nan) * scale }
    }
}
