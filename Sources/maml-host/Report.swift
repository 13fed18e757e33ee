// MARK: - maml-host report: one self-contained HTML page for a run folder
//
// Everything is inside the page: styles inline, pictures as inline SVG, no
// scripts, no fonts or images fetched from anywhere, so it opens offline and can
// be mailed as one file. Links go only to files of the run folder that exist.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLPlot
import MAMLSchema

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML page for a run folder: configuration, pictures, evaluation with CIs, model card, timings and machine.")

    @OptionGroup var plugins: PluginOptions
    @Argument(help: ArgumentHelp("A run folder (train --run-dir).", valueName: "RUN_DIR")) var runDir: String
    @Option(help: ArgumentHelp("The page to write (default RUN_DIR/report.html).", valueName: "FILE")) var output: String?
    @Option(help: ArgumentHelp("Model cards to look the run's checkpoint up in, by SHA-256 (default models/zoo/manifest.json when it exists).", valueName: "FILE"))
    var manifest: String?
    @OptionGroup var pictures: PictureOptions
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var verbosity: OutputOptions

    func validate() throws { try pictures.check() }

    func run() throws {
        verbosity.apply()
        let source = try PlotSource(path: runDir)
        guard let run = source.run else {
            throw CLIError("\(runDir): a checkpoint, not a run folder: `report` needs a folder made by `train --run-dir` (`plot` draws checkpoints)")
        }
        let path = output ?? run.path + "/report.html"
        do { try AtomicFile.probeWritable(path) } catch { throw CLIError("--output \(path): cannot be written: \(error)") }
        let drawn = try pictures.draw([source], plugins: plugins, threads: threading.threads)
        let page = ReportPage(source: source, record: try run.record(), pictures: drawn,
                              card: try modelCard(source), linkBase: relativeFolder(from: path, to: run.path))
        do { try AtomicFile.write(Array(page.html().utf8), to: path) } catch { throw CLIError("\(path): cannot write: \(error)") }
        say("wrote \(path)")
    }

    /// The run's model card: the manifest entry whose SHA-256 is the checkpoint's, else one made
    /// from the run in the manifest's shape.
    func modelCard(_ source: PlotSource) throws -> (card: JSONObject, origin: String) {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(source.checkpointPath) } catch { throw CLIError("\(source.checkpointPath): \(error)") }
        var hash = try SHA256()
        try hash.update(bytes)
        let digest = try SHA256.hex(hash.finalize())
        let file = manifest ?? "models/zoo/manifest.json"
        if access(file, F_OK) == 0 {
            let root: JSONValue
            do { root = try JSONValue.parse(String(decoding: try AtomicFile.read(file), as: UTF8.self)) }
            catch { throw CLIError("\(file): cannot read the manifest: \(error)") }
            let entries = root.objectValue?["models"]?.arrayValue?.compactMap(\.objectValue) ?? []
            if let entry = entries.first(where: { $0["sha256"]?.stringValue == digest }) { return (entry, "from \(file)") }
        } else if manifest != nil {
            throw CLIError("--manifest \(file): no such file")
        }
        let h = source.header.json.objectValue ?? JSONObject()
        var card = JSONObject([("name", .string(source.label)), ("checkpoint", .string(baseName(source.checkpointPath))),
                               ("bytes", .number(Double(bytes.count))), ("sha256", .string(digest))])
        for key in ["model", "task", "training", "iteration"] { card[key] = h[key] }
        if let best = source.bestValidation {
            card["selection"] = jsonObject(["kind": .string("best validation score"),
                                            "selected_iteration": .number(best.iteration), "score": .number(best.score)])
        }
        if let e = source.evaluation { card["evaluation"] = .object(e) }
        return (card, "made from this run, in the shape of models/zoo/manifest.json's entries")
    }
}

/// How the page reaches the run folder's files: "" when the page is in the folder, else the
/// folder's path (absolute when the page is elsewhere).
func relativeFolder(from page: String, to folder: String) -> String {
    let pageFolder = canonicalPath(page).split(separator: "/").dropLast().joined(separator: "/")
    let runFolder = canonicalPath(folder + "/x").split(separator: "/").dropLast().joined(separator: "/")
    return pageFolder == runFolder ? "" : "/" + runFolder + "/"
}
