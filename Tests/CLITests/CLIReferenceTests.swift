// MARK: - docs/cli.md against the CLI itself: every command, option and default is documented
//
// `maml-host --experimental-dump-help` (swift-argument-parser) prints every command with its
// options and their defaults as JSON. The conventions of docs/cli.md that this test relies on:
//
// - Each command has a section: a heading that starts with a code span of `maml-host`, the
//   command's path and maybe a synopsis ("## `maml-host eval --checkpoint CKPT`"); a word of
//   the path may list alternatives (`maml-host trust add|remove|list`).
//   The section runs to the next heading of the same or a higher level.
// - Options several commands share may instead be in a section headed "Options of ...":
//   "Options of every command that loads plugins" applies to every command, otherwise the
//   commands named in backticks in the heading ("Options of `train` and `bench`").
// - An option is documented by its long name (`--queries`), and its default by the value
//   written after it, within 200 characters and before any other option is named
//   (`[--shots 10]`, `--scan-timeout SECONDS` (default 30)); alternative long names of the
//   same option do not end that text.
// - A command heading or an "Options of" heading that names no existing command is stale too.
// Hidden commands (`_scan`, `_check-one`, ...) and the built-in `help` are not checked.
import Foundation
import Testing

@Suite struct CLIReferenceTests {
    /// Options whose default is computed where the command runs (--threads: the cores this
    /// process may use), so the dumped value is this machine's: the page must state the default
    /// in words after the option ("default: ...").
    static let computedDefaults: Set<String> = ["--threads"]

    /// How far after an option its default may be written.
    static let window = 200

    @Test func everyCommandOptionAndDefaultIsInCLIReference() throws {
        let run = try mamlHost(["--experimental-dump-help"])
        try #require(run.status == 0, "maml-host --experimental-dump-help failed: \(run.stderr)")
        let dump = try jsonObject(run.stdout)
        let root = try #require(dump["command"] as? [String: Any], "no \"command\" in the dump-help JSON")
        let commands = Self.commands(root, path: [])
        try #require(!commands.isEmpty, "the dump lists no commands")

        let docPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/cli.md").path
        let doc = try String(contentsOfFile: docPath, encoding: .utf8)
        let sections = Self.sections(doc)

        // Headings naming commands that do not exist (renamed or removed) are stale too.
        let known = Set(commands.map { $0.path.joined(separator: " ") })
        for section in sections {
            if let words = section.commandWords {
                let first = words[0].split(separator: "|").map(String.init)
                for name in first where !known.contains(name) {
                    Issue.record("docs/cli.md: section \"\(section.heading)\" names `maml-host \(name)`, which is no command")
                }
                if words.count > 1, words[1].allSatisfy({ $0.isLowercase || $0 == "|" || $0 == "-" }),
                   known.contains(where: { $0.hasPrefix(first[0] + " ") }) {
                    for name in words[1].split(separator: "|") where !known.contains(first[0] + " " + name) {
                        Issue.record("docs/cli.md: section \"\(section.heading)\" names `maml-host \(first[0]) \(name)`, which is no command")
                    }
                }
            }
            for name in section.sharedFor ?? [] where !known.contains(name) {
                Issue.record("docs/cli.md: section \"\(section.heading)\" names `\(name)`, which is no command")
            }
        }

        for command in commands {
            let name = "maml-host " + command.path.joined(separator: " ")
            let own = sections.filter { $0.documents(command.path) }
            if own.isEmpty {
                Issue.record("docs/cli.md has no section for `\(name)` (a heading starting with \"`\(name)\")")
                continue
            }
            let shared = sections.filter { $0.sharedFor.map { $0.isEmpty || $0.contains(command.path.joined(separator: " ")) } ?? false }
            let places = own + shared
            let where_ = places.map { "\"\($0.heading)\"" }.joined(separator: ", ")
            for option in command.options {
                for flag in option.flags {
                    let windows = places.flatMap { Self.windows(after: flag, in: $0.text, sameOption: option.flags) }
                    if windows.isEmpty {
                        Issue.record("`\(name)`: option \(flag) is not in docs/cli.md (looked in \(where_))")
                        continue
                    }
                    if Self.computedDefaults.contains(option.flags[0]) {
                        if !windows.contains(where: { $0.contains("default") }) {
                            Issue.record("`\(name)`: option \(flag) is in docs/cli.md but its default (computed where it runs) is not stated after it (\"default: ...\"; looked in \(where_))")
                        }
                        continue
                    }
                    for value in option.defaults {
                        let spellings = Self.spellings(of: value)
                        if !windows.contains(where: { w in spellings.contains { Self.containsToken($0, in: w) } }) {
                            Issue.record("`\(name)`: the default of \(flag), \(value), is not stated after \(flag) in docs/cli.md (looked in \(where_))")
                        }
                    }
                }
            }
        }
    }

    // MARK: - The dump

    struct Command {
        var path: [String]
        var options: [Option]
    }

    struct Option {
        /// Every long name, `--` included, the preferred one first.
        var flags: [String]
        /// The dumped default split into values (a repeatable option's default is "a, b"); none for flags.
        var defaults: [String]
    }

    /// Every visible command under `command` (itself excluded at the root), depth first;
    /// hidden ones (`_scan`, ...) and the built-in `help` are left out.
    static func commands(_ command: [String: Any], path: [String]) -> [Command] {
        var found: [Command] = []
        for sub in command["subcommands"] as? [[String: Any]] ?? [] {
            guard let name = sub["commandName"] as? String, name != "help",
                  sub["shouldDisplay"] as? Bool ?? true else { continue }
            let subPath = path + [name]
            found.append(Command(path: subPath, options: options(sub)))
            found += commands(sub, path: subPath)
        }
        return found
    }

    static func options(_ command: [String: Any]) -> [Option] {
        (command["arguments"] as? [[String: Any]] ?? []).compactMap { argument in
            guard argument["kind"] as? String != "positional", argument["shouldDisplay"] as? Bool ?? true else { return nil }
            let names = argument["names"] as? [[String: Any]] ?? []
            var longs = names.filter { $0["kind"] as? String == "long" }.compactMap { $0["name"] as? String }
            if let preferred = (argument["preferredName"] as? [String: Any])?["name"] as? String,
               let i = longs.firstIndex(of: preferred) {
                longs.insert(longs.remove(at: i), at: 0)
            }
            guard !longs.isEmpty, !longs.contains("help") else { return nil }
            var defaults: [String] = []
            if let value = argument["defaultValue"] as? String, !value.isEmpty {
                defaults = argument["isRepeating"] as? Bool ?? false
                    ? value.components(separatedBy: ", ") : [value]
            }
            return Option(flags: longs.map { "--" + $0 }, defaults: defaults)
        }
    }

    // MARK: - The page

    struct Section {
        var level: Int
        var heading: String
        var text: String

        /// For a command section (its heading starts with "`maml-host "), the words after `maml-host`.
        var commandWords: [String]? {
            guard rawHeading.hasPrefix("`maml-host ") else { return nil }
            let words = heading.split(whereSeparator: { $0 == " " }).map(String.init)
            guard words.count >= 2 else { return nil }
            return Array(words.dropFirst())
        }

        /// Whether this is the section of the command at `path`.
        func documents(_ path: [String]) -> Bool {
            guard let words = commandWords, words.count >= path.count else { return false }
            return zip(path, words).allSatisfy { name, word in word.split(separator: "|").contains { $0 == name } }
        }

        /// For an "Options of ..." section, the commands it applies to (empty: every command).
        var sharedFor: [String]? {
            guard heading.hasPrefix("Options of ") else { return nil }
            if heading.contains("every command") { return [] }
            let parts = rawHeading.split(separator: "`", omittingEmptySubsequences: false)
            return stride(from: 1, to: parts.count, by: 2).map { String(parts[$0]) }
        }

        var rawHeading: String
    }

    /// The page cut at its headings (`#` lines outside fenced code); each section's text runs
    /// to the next heading of the same or a higher level, subsections included.
    static func sections(_ doc: String) -> [Section] {
        let lines = doc.components(separatedBy: "\n")
        var headings: [(line: Int, level: Int, raw: String)] = []
        var fenced = false
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("```") { fenced.toggle(); continue }
            guard !fenced, line.hasPrefix("#") else { continue }
            let level = line.prefix { $0 == "#" }.count
            let raw = line.dropFirst(level).trimmingCharacters(in: .whitespaces)
            guard !raw.isEmpty, line.dropFirst(level).first == " " else { continue }
            headings.append((i, level, raw))
        }
        return headings.enumerated().map { n, h in
            let end = headings[(n + 1)...].first { $0.level <= h.level }?.line ?? lines.count
            let plain = h.raw.replacingOccurrences(of: "`", with: "")
            return Section(level: h.level, heading: plain, text: lines[h.line..<end].joined(separator: "\n"),
                           rawHeading: h.raw)
        }
    }

    /// The text after each occurrence of `flag` (as a whole option name) in `text`: at most
    /// `window` characters, ended by the next option named that is not one of `sameOption`.
    static func windows(after flag: String, in text: String, sameOption: [String]) -> [String] {
        let chars = Array(text)
        let target = Array(flag)
        var found: [String] = []
        var i = 0
        while let start = optionName(in: chars, from: i) {
            i = start.end
            guard Array(chars[start.begin..<start.end]) == target else { continue }
            var end = min(chars.count, start.end + window)
            var j = start.end
            while let next = optionName(in: chars, from: j), next.begin < end {
                if !sameOption.contains(String(chars[next.begin..<next.end])) { end = next.begin; break }
                j = next.end
            }
            found.append(String(chars[start.end..<end]))
        }
        return found
    }

    /// The next option name (`--` and a lowercase letter, then letters, digits and dashes)
    /// at or after `from`, not inside a longer word.
    static func optionName(in chars: [Character], from: Int) -> (begin: Int, end: Int)? {
        var i = from
        while i + 2 < chars.count {
            if chars[i] == "-", chars[i + 1] == "-", chars[i + 2].isLowercase, chars[i + 2].isASCII,
               i == 0 || !(chars[i - 1].isLetter || chars[i - 1].isNumber || chars[i - 1] == "-") {
                var end = i + 3
                while end < chars.count, chars[end].isASCII,
                      chars[end].isLowercase || chars[end].isNumber || chars[end] == "-" { end += 1 }
                return (i, end)
            }
            i += 1
        }
        return nil
    }

    /// How a default may be written: as dumped, and a whole float also without ".0" (60.0: 60).
    static func spellings(of value: String) -> [String] {
        if value.hasSuffix(".0"), Double(value) != nil { return [value, String(value.dropLast(2))] }
        return [value]
    }

    /// Whether `token` occurs in `text` not as part of a longer word or number (0 is not in 100 or 0.01).
    static func containsToken(_ token: String, in text: String) -> Bool {
        let t = Array(token), s = Array(text)
        guard !t.isEmpty, s.count >= t.count else { return false }
        func word(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        for start in 0...(s.count - t.count) where Array(s[start..<(start + t.count)]) == t {
            let before = start > 0 ? s[start - 1] : " ", after = start + t.count < s.count ? s[start + t.count] : " "
            let beforeBefore = start > 1 ? s[start - 2] : " "
            let afterAfter = start + t.count + 1 < s.count ? s[start + t.count + 1] : " "
            if word(t[0]) && (word(before) || (before == "." && beforeBefore.isNumber)) { continue }
            if word(t[t.count - 1]) && (word(after) || (after == "." && afterAfter.isNumber)) { continue }
            return true
        }
        return false
    }
}
