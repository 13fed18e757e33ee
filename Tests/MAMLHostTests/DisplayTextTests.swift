import Foundation
import Testing
@testable import MAMLHost

// MARK: - Plugin text shown safely: control characters escaped, log and error messages capped

@Suite("Plugin text on display")
struct DisplayTextTests {
    @Test("control characters become visible escapes; ordinary text, including non-ASCII, is unchanged",
          arguments: [
              ("mlp 1.0.0", "mlp 1.0.0"),
              ("naïve — 数字 🙂", "naïve — 数字 🙂"),
              ("a\nb\r\tc", #"a\nb\r\tc"#),
              ("\u{1B}[31mred\u{1B}[0m", #"\x1b[31mred\x1b[0m"#),
              ("\u{1B}]0;title\u{07}", #"\x1b]0;title\x07"#),
              ("nul\u{0}del\u{7F}", #"nul\x00del\x7f"#),
              ("csi\u{9B}2J nel\u{85}", #"csi\u{009b}2J nel\u{0085}"#),
              ("ls\u{2028}ps\u{2029}", #"ls\u{2028}ps\u{2029}"#),
              ("abc\u{202E}fed\u{2066}x\u{200F}", #"abc\u{202e}fed\u{2066}x\u{200f}"#),
              ("\r\n", #"\r\n"#),   // one Character, two escapes
          ])
    func escapes(raw: String, shown: String) {
        #expect(displaySafe(raw) == shown)
        #expect(!displaySafe(raw).unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
    }

    @Test("keepingLineBreaks keeps newlines and tabs (the host's own multi-line messages), nothing else")
    func keepingLineBreaks() {
        #expect(displaySafe("Error: a\n\tb\u{1B}[2J\r", keepingLineBreaks: true) == "Error: a\n\tb\\x1b[2J\\r")
    }

    @Test("a plugin C string is cut to the limit at a character boundary, saying how many bytes were cut")
    func cappedDecoding() {
        // "é" is 2 bytes: a limit of 5 would split the third one; 4 bytes are kept.
        let text = String(repeating: "é", count: 10)
        let capped = text.withCString { decodeLenient($0, limit: 5) }
        #expect(capped == "éé… (16 bytes cut)")
        #expect(text.withCString { decodeLenient($0, limit: 20) } == text)
        #expect(text.withCString { decodeLenient($0, limit: 0) } == "… (20 bytes cut)")
        // Invalid UTF-8 is repaired, not dropped.
        let invalid: [CChar] = [0x61, CChar(bitPattern: 0xFF), 0x62, 0]
        #expect(invalid.withUnsafeBufferPointer { decodeLenient($0.baseAddress!, limit: 100) } == "a\u{FFFD}b")
    }

    @Test("a log message: 1 MiB is capped at pluginTextLimit; an unknown level is warn and says which it was; shown on one line")
    func logMessages() {
        let huge = String(repeating: "y", count: 1 << 20)
        let message = huge.withCString { PluginLogMessage(pluginPath: "/p/libx.so", rawLevel: 1, text: $0) }
        #expect(message.level == .info)
        #expect(message.text == String(repeating: "y", count: pluginTextLimit) + "… (\((1 << 20) - pluginTextLimit) bytes cut)")

        for level: Int32 in [4, 99, -1, .min, .max] {
            let odd = "odd".withCString { PluginLogMessage(pluginPath: "/p/libx.so", rawLevel: level, text: $0) }
            #expect(odd.level == .warn && odd.text == "(unknown log level \(level)) odd")
        }
        for (raw, level) in [(Int32(0), PluginLogLevel.debug), (1, .info), (2, .warn), (3, .error)] {
            #expect("m".withCString { PluginLogMessage(pluginPath: "/p/libx.so", rawLevel: raw, text: $0) }.level == level)
        }

        let forged = "ok\nmaml-host: libother.so: error: forged\u{1B}[2J"
            .withCString { PluginLogMessage(pluginPath: "/p/lib\nx.so", rawLevel: 3, text: $0) }
        #expect(forged.description == #"lib\nx.so: error: ok\nmaml-host: libother.so: error: forged\x1b[2J"#)
    }

    @Test("problems and lookup errors that quote a plugin's model name escape it; the catalog keeps it exact")
    func catalogMessagesEscapeModelText() throws {
        let fixtures = try fixtures()
        let catalog = PluginCatalog.load(directories: [SearchDirectory(path: fixtures.hostile, origin: .explicit)])
        let evil = try #require(catalog.models.first { $0.id == "org.test.linreg-ctl" })
        #expect(evil.name == "linreg-ctl\nFAKE-ROW  org.fake  9.9\u{1B}[31m\r\u{07}\u{7F}\u{9B}")
        #expect(evil.summary == "line one\nline two\r\t\u{202E}")

        let unknown = #expect(throws: HostError.self) { try catalog.model(named: "nosuch") }
        let message = try #require(unknown?.message)
        #expect(message.contains(#"linreg-ctl\nFAKE-ROW  org.fake  9.9\x1b[31m\r\x07\x7f\u{009b}"#), "\(message)")
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })

        // An invalid config: the error names the model, escaped.
        let bad = #expect(throws: HostError.self) { try catalog.instantiate("org.test.linreg-ctl", config: #"{"inputs": 0}"#) }
        let badMessage = try #require(bad?.message)
        #expect(badMessage.hasPrefix(#"model 'linreg-ctl\nFAKE-ROW"#) && !badMessage.contains("\n"), "\(badMessage)")

        let problem = PluginProblem(.error, path: "/p/lib\u{1B}x.so", "model 'a\nb' refused")
        #expect(problem.description == #"error: /p/lib\x1bx.so: model 'a\nb' refused"#)
        #expect(problem.message == "model 'a\nb' refused")
    }
}

