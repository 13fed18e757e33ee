// MARK: - train --run-dir, then plot and report of the folder, and the report in a real browser
import Foundation
import MAMLTasks
import Testing
import TestSupport

@Suite(.slow) struct RunFolderTests {
    /// A short validated run in a new folder (iterations 40, validation every 20).
    static let flags = quickTraining + ["--validate-every", "20", "--validate-tasks", "4", "--eval-tasks", "10",
                                        "--log-every", "10", "--threads", "1"]

    static func train(_ folder: String, iterations: Int, _ extra: [String] = [], flags: [String] = flags) throws -> Run {
        try mamlHost(["train", "--run-dir", folder, "--iterations", String(iterations)] + flags + extra)
    }

    static func json(_ path: String) throws -> [String: Any] {
        try jsonObject(try String(contentsOfFile: path, encoding: .utf8))
    }

    @Test func runFolderHoldsTheRunAndContinuesItLikeAnUninterruptedRun() throws {
        let dir = try temporaryDirectory(), run = dir + "/run"
        let first = try Self.train(run, iterations: 40)
        try #require(first.status == 0, "train failed: \(first.stderr)")
        for file in ["run.json", "metrics.jsonl", "last.ckpt", "best.ckpt", "eval.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(run)/\(file)"), "\(file) missing")
        }
        var record = try Self.json(run + "/run.json")
        var sessions = try #require(record["sessions"] as? [[String: Any]])
        #expect(sessions.count == 1 && sessions[0]["status"] as? String == "finished" && sessions[0]["to_iteration"] as? Int == 40)
        #expect((sessions[0]["command"] as? [String])?.prefix(3) == ["maml-host", "train", "--run-dir"])
        #expect(((sessions[0]["machine"] as? [String: Any])?["maml_host"] as? String)?.hasPrefix("maml-host ") == true)
        let training = try #require((record["configuration"] as? [String: Any])?["training"] as? [String: Any])
        #expect(training["metaBatch"] as? Int == 4 && training["seed"] as? Int == 7)
        let evaluation = try Self.json(run + "/eval.json")
        let rows = try #require(evaluation["results"] as? [[String: Any]])
        #expect(rows.map { $0["steps"] as? Int } == (0...10).map { $0 } && rows.allSatisfy { $0["shots"] as? Int == 10 })
        #expect(evaluation["checkpoint"] as? String == "best.ckpt" && evaluation["tasks"] as? Int == 10)

        // Flags that would change the saved run are refused, as are file flags next to --run-dir.
        let changed = try Self.train(run, iterations: 60, ["--model", "mlp"], flags: [])
        #expect(changed.status != 0 && changed.stderr.contains("remove --model"), "\(changed.stderr)")
        let clash = try Self.train(run, iterations: 60, ["--output", dir + "/x.ckpt"], flags: [])
        #expect(clash.status != 0 && clash.stderr.contains("remove --output"), "\(clash.stderr)")

        // Continuing: the same folder, more iterations.
        let more = try mamlHost(["train", "--run-dir", run, "--iterations", "60", "--validate-every", "20", "--validate-tasks", "4",
                                 "--eval-tasks", "10", "--log-every", "10", "--threads", "1"])
        try #require(more.status == 0, "continuing failed: \(more.stderr)")
        #expect(more.stdout.contains("resuming \(run)/last.ckpt at iteration 40 of 60"))
        record = try Self.json(run + "/run.json")
        sessions = try #require(record["sessions"] as? [[String: Any]])
        #expect(sessions.count == 2 && sessions[1]["from_iteration"] as? Int == 40 && sessions[1]["to_iteration"] as? Int == 60)
        let iterations = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? jsonObject(String($0)) }.filter { $0["query_loss"] != nil }.compactMap { $0["iteration"] as? Int }
        #expect(iterations == Array(stride(from: 10, through: 60, by: 10)))

        // The continued run's checkpoint is the uninterrupted run's, byte for byte.
        let straight = dir + "/straight"
        try #require(try Self.train(straight, iterations: 60).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/last.ckpt"))
                == Data(contentsOf: URL(fileURLWithPath: straight + "/last.ckpt")))
    }

    @Test func plotAndReportOfARunFolder() throws {
        let dir = try temporaryDirectory(), run = dir + "/sine run"
        try #require(try Self.train(run, iterations: 40).status == 0)
        let plot = try mamlHost(["plot", run])
        try #require(plot.status == 0, "plot failed: \(plot.stderr)")
        let training = XMLElements(try String(contentsOfFile: run + "/training.svg", encoding: .utf8))
        try #require(training.error == nil)
        #expect(training.all("g", where: "class", is: "chart").map { $0.attributes["data-title"] }
                == ["Meta-training query loss", "Validation: mean query loss over the scored steps"])
        let drawn = training.all("g", where: "class", is: "series")
        #expect(drawn.filter { $0.attributes["data-series"] == "sine run" }.count == 2)
        let loss = try #require(drawn.first { $0.attributes["data-series"] == "sine run" })
        #expect(loss.attributes["data-count"] == "4")   // --log-every 10 over 40 iterations
        #expect(training.all("g", where: "class", is: "marker").count == 2, "the best iteration is marked on both charts")
        #expect(drawn.filter { $0.attributes["data-series"] == "best iteration" }.count == 1)
        #expect(training.all("g", where: "class", is: "axes").first?.attributes["data-y-scale"] == "log")
        #expect(FileManager.default.fileExists(atPath: run + "/adaptation.svg"))
        // The steps picture comes from the folder's eval.json (10 tasks), not a new evaluation.
        #expect(try String(contentsOfFile: run + "/steps.svg", encoding: .utf8).contains("sine run (10 tasks)"))

        let report = try mamlHost(["report", run])
        try #require(report.status == 0, "report failed: \(report.stderr)")
        let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
        Self.expectSelfContained(html, folder: run)
        for heading in ["Configuration", "Pictures", "Evaluation", "Model card", "Timings and machine"] {
            #expect(html.contains("<h2>\(heading)</h2>"), "no \(heading) section")
        }
        #expect(html.components(separatedBy: "<svg ").count - 1 == 3)
        #expect(html.contains("<td>metaBatch</td><td>4</td>") && html.contains("±"))
        #expect(html.contains("made from this run"))
    }

    @Test func demoWritesItsFigureTwoAndSaysWhere() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["demo", "--iterations", "20", "--tasks", "4", "--threads", "1", "--compare", dir + "/none.ckpt",
                                "--plot", dir + "/fig.svg"])
        try #require(run.status == 0, "demo failed: \(run.stderr)")
        #expect(run.stdout.contains("wrote \(dir)/fig.svg: Figure 2 of this run"))
        let doc = XMLElements(try String(contentsOfFile: dir + "/fig.svg", encoding: .utf8))
        #expect(doc.error == nil && doc.all("g", where: "class", is: "chart").count == 3)
        #expect(doc.all("g", where: "class", is: "legend-entry").compactMap { $0.attributes["data-series"] }
                == ["true function", "pre-update", "after 1 step", "after 10 steps", "K = 10 support points"])
    }

    /// The page fetches nothing and links only to files that exist.
    static func expectSelfContained(_ html: String, folder: String) {
        for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "url(http", "src=\"http", "href=\"http"] {
            #expect(!html.lowercased().contains(forbidden), "the report holds \(forbidden)")
        }
        let references = html.matches(of: /(?:href|src)="([^"]*)"/).map { String($0.1) }
        #expect(!references.isEmpty)
        for reference in references {
            let path = reference.hasPrefix("/") ? reference : folder + "/" + reference
            #expect(FileManager.default.fileExists(atPath: path), "the report links to \(reference), which does not exist")
        }
        // Inline SVGs: clip paths are referenced only within the page, by unique ids.
        let ids = html.matches(of: /id="([^"]*)"/).map { String($0.1) }
        #expect(Set(ids).count == ids.count, "duplicate ids in the page")
        for url in html.matches(of: /url\(#([^)]*)\)/).map({ String($0.1) }) { #expect(ids.contains(url)) }
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Headless Chromium renders the page; the screenshot has the window's size and shows more than a blank page.
    @Test(.enabled(if: chromium != nil, "no Chromium: install it with `sudo apt-get install -y chromium` (`.ci/setup` installs it when run as root) to render the report in a browser"))
    func reportRendersInABrowser() throws {
        let dir = try temporaryDirectory(), run = dir + "/run"
        try #require(try Self.train(run, iterations: 40).status == 0)
        try #require(try mamlHost(["report", run]).status == 0)
        let shot = dir + "/shot.png"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.chromium!)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(dir)/profile",
                             "--screenshot=\(shot)", "--window-size=1280,2000", "file://\(run)/report.html"]
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = dir
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try #require(FileManager.default.fileExists(atPath: shot), "Chromium wrote no screenshot (exit \(process.terminationStatus))")
        let image = try readImage(path: shot, channels: 3)
        #expect(image.width == 1280 && image.height == 2000)
        // Non-blank: a good share of pixels not white, and many colours (text, curves, bands).
        var inked = 0, colours = Set<UInt32>()
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            let (r, g, b) = (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
            if r < 240 || g < 240 || b < 240 { inked += 1 }
            colours.insert(UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b))
        }
        let share = Double(inked) / Double(image.width * image.height)
        #expect(share > 0.02, "the screenshot is nearly blank (\(share) of pixels inked)")
        #expect(colours.count > 50, "only \(colours.count) colours in the screenshot")
    }
}
