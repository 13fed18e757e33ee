// MARK: - The report's HTML: sections from a run folder's record, pictures and card
import MAMLCore
import MAMLPlot
import MAMLSchema
#if canImport(Glibc)
import Glibc
#endif

struct ReportPage {
    var source: PlotSource
    var record: JSONObject
    var pictures: [PictureOptions.Picture]
    var card: (card: JSONObject, origin: String)
    /// Prefix of links to the run folder's files ("" when the page is in it).
    var linkBase: String

    func html() -> String {
        let h = source.header
        var body = "<h1>Run report: \(e(source.label))</h1>\n"
        body += "<p class=\"lead\">\(e(h.model.id)) \(e(h.model.version)) on \(e(h.task.family)) tasks, "
            + "\(e(h.training.algorithm.rawValue)), iteration \(h.iteration)"
            + (source.bestValidation.map { ", best on validation at iteration \(compactNumber($0.iteration, digits: 0))" } ?? "")
            + ". Plotted checkpoint: \(link(baseName(source.checkpointPath))).</p>\n"
        body += section("Configuration", configuration())
        body += section("Pictures", pictures.enumerated().map { i, p in
            "<figure>\n\(p.figure.inlineSVG(idPrefix: "p\(i)-"))<figcaption>\(e(p.caption)) "
                + "(<code>maml-host plot \(e(Supervisor.shellQuoted(source.path)))</code> writes it as <code>\(e(p.file))</code>)</figcaption>\n</figure>\n"
        }.joined())
        body += section("Evaluation", evaluation())
        body += section("Model card", "<p>\(e(card.origin)).</p>\n" + definitionList(card.card))
        body += section("Timings and machine", timings())
        body += "<footer>Written by \(e(Version.line)) (<code>maml-host report</code>). The page is self-contained: "
            + "no scripts and nothing fetched from the network.</footer>\n"
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>maml-zoo run report: \(e(source.label))</title>
            <style>\(ReportPage.style)</style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    // MARK: Sections

    private func configuration() -> String {
        let h = source.header
        var rows: [(String, String)] = [("model", "\(h.model.id) \(h.model.version)"), ("model config", h.model.config),
                                        ("task family", h.task.family), ("task config", h.task.config)]
        if let training = h.json.objectValue?["training"]?.objectValue {
            rows += training.members.map { ($0.key, plainValue($0.value)) }
        }
        var out = table(["setting", "value"], rows.map { [$0.0, $0.1] })
        let sessions = record["sessions"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let commands = sessions.compactMap { $0["command"]?.arrayValue?.compactMap(\.stringValue) }
        if !commands.isEmpty {
            out += "<p>The command\(commands.count > 1 ? "s (the first, then each continuation)" : ""):</p>\n<pre>"
                + commands.map { e($0.map(Supervisor.shellQuoted).joined(separator: " ")) }.joined(separator: "\n") + "</pre>\n"
        }
        let files = ["run.json", "metrics.jsonl", "last.ckpt", "best.ckpt", "eval.json"]
            .filter { access(source.path + "/" + $0, F_OK) == 0 }
        out += "<p>Files of the run: " + files.map(link).joined(separator: ", ") + ".</p>\n"
        return out
    }

    private func evaluation() -> String {
        guard let e = source.evaluation else {
            return "<p>No final evaluation in this folder (train with <code>--eval-tasks N</code>, N &gt; 0).</p>\n"
        }
        let rows = (e["results"]?.arrayValue ?? []).compactMap(\.objectValue)
        let classification = rows.first?["accuracy"] != nil
        let header = ["K", "steps", classification ? "accuracy" : "MSE", "± 95% CI", "diverged tasks"]
        let cells: [[String]] = rows.map { r in
            let scale = classification ? 100.0 : 1
            let mean = r[classification ? "accuracy" : "mse"]?.numberValue.map { fixedPoint($0 * scale, classification ? 2 : 3) } ?? "inf"
            let ci = r["ci95"]?.numberValue.map { fixedPoint($0 * scale, classification ? 2 : 3) } ?? "inf"
            return [plainValue(r["shots"] ?? .null), plainValue(r["steps"] ?? .string("-")),
                    mean + (classification ? "%" : ""), ci + (classification ? "%" : ""), plainValue(r["diverged"] ?? .number(0))]
        }
        let what = "\(plainValue(e["checkpoint"] ?? .null)) at iteration \(plainValue(e["iteration"] ?? .null)), "
            + "\(plainValue(e["tasks"] ?? .null)) unseen tasks, \(plainValue(e["queries"] ?? .null)) query examples"
            + (classification ? " per class" : "") + ", fine-tuning lr \(plainValue(e["inner_lr"] ?? .null))"
        return "<p>\(self.e(what)) (\(link("eval.json"))).</p>\n" + table(header, cells)
    }

    private func timings() -> String {
        let sessions = record["sessions"]?.arrayValue?.compactMap(\.objectValue) ?? []
        var out = table(["session", "started (UTC)", "iterations", "seconds", "status"], sessions.enumerated().map { i, s in
            [String(i + 1), plainValue(s["started"] ?? .null),
             "\(plainValue(s["from_iteration"] ?? .null)) → \(plainValue(s["to_iteration"] ?? .string("?")))",
             plainValue(s["seconds"] ?? .string("?")), plainValue(s["status"] ?? .null)]
        })
        if let ev = record["evaluation"]?.objectValue {
            out += "<p>Final evaluation: \(e(plainValue(ev["seconds"] ?? .null))) s.</p>\n"
        }
        if let machine = sessions.last?["machine"]?.objectValue {
            out += "<p>Machine (last session):</p>\n" + definitionList(machine)
        }
        return out
    }

    // MARK: HTML pieces

    private func e(_ text: String) -> String { xmlEscaped(text) }

    private func section(_ title: String, _ content: String) -> String {
        "<section>\n<h2>\(e(title))</h2>\n\(content)</section>\n"
    }

    /// A link to a file of the run folder.
    private func link(_ name: String) -> String { "<a href=\"\(e(linkBase + name))\">\(e(name))</a>" }

    private func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table>\n<thead><tr>" + header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
            + rows.map { "<tr>" + $0.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }.joined() + "</tbody>\n</table>\n"
    }

    /// Nested JSON as nested definition lists; long arrays of objects (evaluation rows) as JSON text.
    private func definitionList(_ object: JSONObject) -> String {
        "<dl>\n" + object.members.map { member in
            let value: String
            if let inner = member.value.objectValue { value = definitionList(inner) }
            else if case .array(let items) = member.value, items.contains(where: { $0.objectValue != nil }) {
                value = "<pre>\(e(member.value.serialized(pretty: true)))</pre>"
            } else { value = e(plainValue(member.value)) }
            return "<dt>\(e(member.key))</dt><dd>\(value)</dd>\n"
        }.joined() + "</dl>\n"
    }

    static let style = """
        body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; max-width: 1320px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
        h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
        .lead { color: #444; } code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
        pre { background: #f5f5f5; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
        table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ccc; padding: 3px 10px; text-align: left; }
        td { font-variant-numeric: tabular-nums; } th { background: #f0f0f0; }
        figure { margin: 16px 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 14px; }
        dl { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; } dt { font-weight: bold; } dd { margin: 0; }
        footer { margin-top: 40px; color: #777; font-size: 13px; }
        """
}

/// A JSON value as plain text: strings without quotes, numbers as written, the rest as JSON.
func plainValue(_ value: JSONValue) -> String {
    if let s = value.stringValue { return s }
    return value.serialized()
}
