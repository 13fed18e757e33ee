// MARK: - plot, --version, completion scripts and colour: the real binary, no training
import Foundation
import Testing
import TestSupport

@Suite struct PlotCommandTests {
    static let zooMAML = repositoryRoot + "/models/zoo/mlp-sinusoid-maml.ckpt"
    static let zooPretrain = repositoryRoot + "/models/zoo/mlp-sinusoid-pretrain.ckpt"

    static func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test func versionNamesThePackageAndThePluginABI() throws {
        let run = try mamlHost(["--version"])
        #expect(run.status == 0)
        #expect(run.stdout.range(of: #"^maml-host \d+\.\d+\.\d+ \(maml-zoo\), plugin ABI \d+\.\d+\n$"#,
                                 options: .regularExpression) != nil, "got \(run.stdout)")
    }

    @Test(arguments: ["bash", "zsh", "fish"]) func completionScriptsKnowTheCommands(shell: String) throws {
        let run = try mamlHost(["--generate-completion-script", shell])
        #expect(run.status == 0)
        for word in ["train", "plot", "report", "--run-dir"] { #expect(run.stdout.contains(word), "\(shell) script lacks \(word)") }
    }

    @Test func plotRefusesBadInputsNamingThemAndWritesNothing() throws {
        let dir = try temporaryDirectory()
        let notCheckpoint = dir + "/notes.ckpt", emptyFolder = dir + "/empty", out = dir + "/out"
        try "hello".write(toFile: notCheckpoint, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: emptyFolder, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let cases: [([String], String)] = [
            ([dir + "/missing.ckpt", "--output-dir", out], dir + "/missing.ckpt: No such file"),
            ([emptyFolder, "--output-dir", out], "\(emptyFolder): not a run folder"),
            ([notCheckpoint, "--output-dir", out], "\(notCheckpoint): not a maml-zoo checkpoint"),
            ([Self.zooMAML, "--output-dir", dir + "/no/such/folder"], "--output-dir \(dir)/no/such/folder: cannot be written"),
        ]
        for (arguments, message) in cases {
            let run = try mamlHost(["plot"] + arguments)
            #expect(run.status != 0, "plot \(arguments) succeeded")
            #expect(run.stderr.contains(message), "plot \(arguments): \(run.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        let report = try mamlHost(["report", Self.zooMAML])
        #expect(report.status != 0 && report.stderr.contains("not a run folder"), "\(report.stderr)")
    }

    /// The zoo's MAML and pretrain MLPs side by side (the MAML paper's Figure 2 comparison): every
    /// panel's support points lie on its drawn true function, and MAML's 10-step fit is closer to
    /// them than its fit before adaptation; the steps picture has one curve and band per model.
    @Test func figureTwoOfTheZooModelsOverlaid() throws {
        let dir = try temporaryDirectory()
        let run = try mamlHost(["plot", Self.zooMAML, Self.zooPretrain, "--tasks", "10", "--panels", "2", "--output-dir", dir])
        try #require(run.status == 0, "plot failed: \(run.stderr)")
        #expect(run.stdout.contains("wrote \(dir)/adaptation.svg") && run.stdout.contains("wrote \(dir)/steps.svg"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/training.svg"), "checkpoints have no training curve")

        let svg = try Self.read(dir + "/adaptation.svg")
        let doc = XMLElements(svg)
        try #require(doc.error == nil, "adaptation.svg is not XML: \(String(describing: doc.error))")
        let charts = doc.all("g", where: "class", is: "chart")
        #expect(charts.count == 4)
        #expect(charts.map { $0.attributes["data-title"]!.components(separatedBy: ":")[0] }
                == ["mlp-sinusoid-maml", "mlp-sinusoid-maml", "mlp-sinusoid-pretrain", "mlp-sinusoid-pretrain"])
        let legend = doc.all("g", where: "class", is: "legend-entry").compactMap { $0.attributes["data-series"] }
        #expect(legend == ["true function", "pre-update", "after 1 step", "after 10 steps", "K = 10 support points"])
        var closer = 0
        for chart in charts {
            let inside = doc.inside(chart)
            func series(_ name: String) -> [XMLElements.Element] {
                guard let g = inside.first(where: { $0.attributes["data-series"] == name && $0.name == "g" }) else { return [] }
                return doc.inside(g)
            }
            let truth = try #require(series("true function").first { $0.name == "polyline" }).attributes["points"]!
            let support = series("K = 10 support points").filter { $0.name == "circle" }
                .map { (Double($0.attributes["cx"]!)!, Double($0.attributes["cy"]!)!) }
            #expect(support.count == 10)
            let curve = Self.points(truth)
            for (x, y) in support { #expect(abs(Self.interpolate(curve, at: x) - y) < 1.5, "support point (\(x), \(y)) off the true curve") }
            // Distance of the fits to the support points (pixels; predictions far off the chart count as far).
            func error(_ name: String) -> Double {
                let runs = series(name).filter { $0.name == "polyline" }.flatMap { Self.points($0.attributes["points"]!) }
                return support.map { abs(Self.interpolate(runs, at: $0.0) - $0.1) }.reduce(0, +)
            }
            if chart.attributes["data-title"]!.hasPrefix("mlp-sinusoid-maml") && error("after 10 steps") < error("pre-update") { closer += 1 }
        }
        #expect(closer == 2, "MAML's fits after 10 steps should be closer to the support points than before adaptation")

        let steps = XMLElements(try Self.read(dir + "/steps.svg"))
        try #require(steps.error == nil)
        let lines = steps.all("g", where: "data-kind", is: "line").compactMap { $0.attributes["data-series"] }
        #expect(lines == ["mlp-sinusoid-maml (10 tasks)", "mlp-sinusoid-pretrain (10 tasks)"])
        #expect(steps.all("g", where: "data-kind", is: "band").count == 2)
        #expect(steps.all("text", where: "class", is: "x-label").first?.text == "inner SGD steps on the support set")

        // Same inputs, same bytes.
        let again = try temporaryDirectory()
        _ = try mamlHost(["plot", Self.zooMAML, Self.zooPretrain, "--tasks", "10", "--panels", "2", "--output-dir", again, "-q"])
        #expect(try Self.read(again + "/adaptation.svg") == svg)
        #expect(try Self.read(again + "/steps.svg") == Self.read(dir + "/steps.svg"))
    }

    @Test func pngIsWrittenWithTheConverterAndRefusedPlainlyWithout() throws {
        let dir = try temporaryDirectory()
        let without = try mamlHost(["plot", Self.zooMAML, "--tasks", "4", "--panels", "1", "--output-dir", dir, "--png"],
                                   environment: ["PATH": "/nonexistent"])
        #expect(without.status == 1)
        #expect(without.stderr.contains("rsvg-convert is not installed (sudo apt-get install -y librsvg2-bin)"), "\(without.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/steps.svg") && !FileManager.default.fileExists(atPath: dir + "/steps.png"))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert") else { return }
        let with = try mamlHost(["plot", Self.zooMAML, "--tasks", "4", "--panels", "1", "--output-dir", dir, "--png"])
        #expect(with.status == 0, "\(with.stderr)")
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/adaptation.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    /// Colour marks "Error:" on a terminal only: not through a pipe, not with NO_COLOR.
    @Test func colourOnlyOnATerminalAndNeverWithNoColor() throws {
        let pipe = try mamlHost(["plot", "/nonexistent/x.ckpt"])
        #expect(pipe.stderr.hasPrefix("Error: ") && !pipe.stderr.contains("\u{1B}"))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { return }   // util-linux: a pseudo-terminal
        func onTerminal(_ environment: [String: String?]) throws -> String {
            let command = "'\(buildDirectory)/maml-host' plot /nonexistent/x.ckpt"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qec", command, "/dev/null"]
            var env = testEnvironment(environment)
            env["TERM"] = "xterm"
            process.environment = env
            let out = Pipe()
            process.standardOutput = out
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let coloured = try onTerminal(["NO_COLOR": nil])
        #expect(coloured.contains("\u{1B}[1;31mError:\u{1B}[0m"), "no colour on a terminal: \(coloured.debugDescription)")
        let plain = try onTerminal(["NO_COLOR": "1"])
        #expect(plain.contains("Error:") && !plain.contains("\u{1B}["), "colour despite NO_COLOR: \(plain.debugDescription)")
    }

    // MARK: Reading coordinates back

    static func points(_ attribute: String) -> [(Double, Double)] {
        attribute.split(separator: " ").map { pair in
            let xy = pair.split(separator: ",")
            return (Double(xy[0])!, Double(xy[1])!)
        }
    }

    /// The polyline's y at x (linear between its points; the nearest end outside them).
    static func interpolate(_ curve: [(Double, Double)], at x: Double) -> Double {
        let sorted = curve.sorted { $0.0 < $1.0 }
        guard let first = sorted.first else { return .infinity }
        if x <= first.0 { return first.1 }
        for (a, b) in zip(sorted, sorted.dropFirst()) where x <= b.0 {
            return b.0 == a.0 ? a.1 : a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
        }
        return sorted.last!.1
    }
}
