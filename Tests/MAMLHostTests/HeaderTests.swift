import Foundation
import Testing

// MARK: - maml_plugin.h compiles cleanly as C99 and as C++11, and tags every function

@Suite("ABI header")
struct HeaderTests {
    static let source = FixturePaths.sourceDirectory + "/header_check.c"

    @Test("C99: -std=c99 -Wall -Wextra -Werror -pedantic")
    func compilesAsC99() throws {
        guard let cc = findCompiler(["cc", "gcc", "clang"]) else { throw missingCompilerError("C compiler (cc)") }
        try CompilerRun(cc, ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                             "-I", FixturePaths.includeDirectory, "-c", Self.source, "-o", try objectPath("c")]).finish()
    }

    @Test("C++11: -std=c++11 -Wall -Wextra -Werror -pedantic")
    func compilesAsCxx11() throws {
        guard let cxx = findCompiler(["c++", "g++", "clang++"]) else { throw missingCompilerError("C++ compiler (c++)") }
        try CompilerRun(cxx, ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-x", "c++",
                              "-I", FixturePaths.includeDirectory, "-c", Self.source, "-o", try objectPath("cxx")]).finish()
    }

    private func objectPath(_ suffix: String) throws -> String {
        try fixtures().root + "/header_check_\(suffix).o"
    }

    // MARK: Thread and ownership tags

    /// Paths from this checkout (FixturePaths derives them from #filePath).
    static let header = FixturePaths.includeDirectory + "/maml_plugin.h"
    static let abiDoc = FixturePaths.repositoryRoot + "/docs/abi.md"
    /// The legend's thread tags: every function has exactly one.
    static let threadTags: Set<String> = ["[thread-safe]", "[instance]"]
    /// Functions the header declares today: the scan must find at least these.
    static let knownFunctions: Set<String> = [
        "maml_entry_fn", "log", "model_at", "create", "destroy", "param_count", "input_shape", "output_shape",
        "loss_kind", "init_params", "forward", "loss_grad", "last_error", "get_extension", "hvp", "vjp",
        "tensor_count", "tensor_at", "fn", "op_count", "op_at",
    ]

    @Test("maml_plugin.h: every function has one tag line, its tags in the legend, one thread tag")
    func everyFunctionIsTagged() throws {
        let header = try HeaderSource(path: Self.header)
        let legend = header.legend
        #expect(Self.threadTags.isSubset(of: Set(legend)), "the legend lacks a thread tag; it lists \(legend)")
        let functions = header.functions
        let found = Set(functions.map(\.name))
        #expect(Self.knownFunctions.isSubset(of: found),
                "the scan found no declaration of \(Self.knownFunctions.subtracting(found).sorted())")
        for function in functions {
            for problem in header.tagProblems(function, legend: legend, threadTags: Self.threadTags) {
                Issue.record("maml_plugin.h:\(function.line + 1): \(function.name): \(problem)")
            }
        }
    }

    @Test("docs/abi.md: the header's legend, and every function with the header's tags")
    func abiDocMatchesHeaderTags() throws {
        let header = try HeaderSource(path: Self.header)
        let doc = try String(contentsOfFile: Self.abiDoc, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let docLegend = Set(doc.compactMap { $0.firstMatch(of: /^\| `(\[[a-z][a-z0-9-]*\])` \|/).map { String($0.output.1) } })
        #expect(docLegend == Set(header.legend),
                "docs/abi.md's tag table lists \(docLegend.sorted()), the header's legend \(header.legend.sorted())")
        for function in header.functions {
            guard let tags = header.tagLines(of: function).first?.tags else { continue } // the other test names it
            let inDoc = docTags(of: function.name, in: doc)
            if inDoc.isEmpty {
                Issue.record("docs/abi.md gives \(function.name) no tags (a `[tag] ...` run after `\(function.name)` on one line); the header: \(tags.joined(separator: " "))")
            } else if !inDoc.contains(Set(tags)) {
                Issue.record("docs/abi.md gives \(function.name) \(inDoc.map { $0.sorted().joined(separator: " ") }), the header \(tags.joined(separator: " "))")
            }
        }
    }

    /// The tag runs (`[a] [b]` in backticks) that follow a mention of `name` in backticks, each on the mention's line.
    private func docTags(of name: String, in lines: [String]) -> [Set<String>] {
        var result: [Set<String>] = []
        for line in lines {
            var from = line.startIndex
            while let mention = line.range(of: "`" + name, range: from..<line.endIndex) {
                from = mention.upperBound
                let rest = line[mention.upperBound...]
                if let next = rest.first, next.isLetter || next.isNumber || next == "_" { continue }
                if let run = rest.firstMatch(of: /`((?:\[[a-z][a-z0-9-]*\] ?)+)`/) {
                    result.append(Set(run.output.1.matches(of: /\[[a-z][a-z0-9-]*\]/).map { String($0.output) }))
                }
            }
        }
        return result
    }
}

// MARK: - maml_plugin.h as code, comments and declarations

/// The header line by line, comments split from code, with the functions it declares: every
/// function pointer `(*name)(` (members and typedefs) and every prototype `type name(...)`.
struct HeaderSource {
    struct Line {
        var code: String         // the line without its comments (string literals kept)
        var comment: String      // the text of its comments, without delimiters
        var hasComment: Bool     // inside or holding a comment
        var isDirective: Bool    // a preprocessor line or its continuation
    }
    /// A declared function: its name and its declaration's first and last lines (0-based).
    struct Function {
        var name: String
        var line: Int
        var lastLine: Int
    }

    let lines: [Line]

    init(path: String) throws {
        self.init(text: try String(contentsOfFile: path, encoding: .utf8))
    }

    init(text: String) {
        var result: [Line] = []
        var inBlock = false, continuation = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let chars = Array(raw)
            var code = "", comment = "", hasComment = inBlock
            var quote: Character?
            var i = 0
            while i < chars.count {
                let c = chars[i], next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
                if inBlock {
                    if c == "*" && next == "/" { inBlock = false; comment.append(" "); i += 2 } else { comment.append(c); i += 1 }
                } else if let q = quote {
                    code.append(c)
                    if c == "\\", let next { code.append(next); i += 1 } else if c == q { quote = nil }
                    i += 1
                } else if c == "/" && next == "*" {
                    inBlock = true; hasComment = true; comment.append(" "); i += 2
                } else if c == "/" && next == "/" {
                    hasComment = true; comment.append(String(chars[(i + 2)...])); break
                } else {
                    if c == "\"" || c == "'" { quote = c }
                    code.append(c); i += 1
                }
            }
            let trimmed = code.trimmingCharacters(in: .whitespaces)
            let isDirective = continuation || trimmed.hasPrefix("#")
            continuation = isDirective && trimmed.hasSuffix("\\")
            result.append(Line(code: code, comment: comment, hasComment: hasComment, isDirective: isDirective))
        }
        lines = result
    }

    /// A comment's text without the leading "*" of a block comment's continuation lines.
    static func text(_ comment: String) -> String {
        var t = Substring(comment.trimmingCharacters(in: .whitespaces))
        while t.hasPrefix("*") { t = t.dropFirst() }
        return t.trimmingCharacters(in: .whitespaces)
    }

    /// The legend: the tags listed, one "[tag]  meaning" line each, after "Tags." in the top comment.
    var legend: [String] {
        let top = lines.prefix { $0.hasComment && $0.code.allSatisfy(\.isWhitespace) }
        guard let start = top.firstIndex(where: { Self.text($0.comment).hasPrefix("Tags.") }) else { return [] }
        return top[start...].compactMap { line in
            Self.text(line.comment).firstMatch(of: /^(\[[a-z][a-z0-9-]*\])\s/).map { String($0.output.1) }
        }
    }

    /// Every declared function, in order. Statements end at ";", "{" or "}"; directives declare nothing.
    var functions: [Function] {
        var found: [Function] = []
        var statement = "", first: Int?
        for (index, line) in lines.enumerated() where !line.isDirective {
            for c in line.code {
                if c == ";" || c == "{" || c == "}" {
                    if let first { found += Self.declared(in: statement, first: first, last: index) }
                    statement = ""; first = nil
                } else {
                    if first == nil && !c.isWhitespace { first = index }
                    statement.append(c)
                }
            }
            statement.append(" ")
        }
        return found
    }

    /// The functions one statement declares: function pointers by name, else a prototype.
    static func declared(in statement: String, first: Int, last: Int) -> [Function] {
        let pointers = statement.matches(of: /\(\s*\*\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*\(/).map { String($0.output.1) }
        if !pointers.isEmpty { return pointers.map { Function(name: $0, line: first, lastLine: last) } }
        let flat = statement.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if let prototype = flat.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_\s*]*?\b([A-Za-z_][A-Za-z0-9_]*) ?\([^(){};]*\)/) {
            return [Function(name: String(prototype.output.1), line: first, lastLine: last)]
        }
        return []
    }

    /// The tag lines of `function`: comment text ending in tags, on the declaration's own lines or
    /// in the comment lines just above it (stopping at code, a directive or a blank line).
    func tagLines(of function: Function) -> [(line: Int, tags: [String])] {
        var candidates = Array(function.line...function.lastLine)
        var above = function.line - 1
        while above >= 0, lines[above].hasComment, !lines[above].isDirective,
              lines[above].code.allSatisfy(\.isWhitespace) {
            candidates.append(above)
            above -= 1
        }
        return candidates.sorted().compactMap { index in
            guard let run = Self.text(lines[index].comment).firstMatch(of: /(?:\[[a-z][a-z0-9-]*\]\s*)+$/) else { return nil }
            return (index, run.output.matches(of: /\[[a-z][a-z0-9-]*\]/).map { String($0.output) })
        }
    }

    /// What is wrong with `function`'s tags, if anything.
    func tagProblems(_ function: Function, legend: [String], threadTags: Set<String>) -> [String] {
        let found = tagLines(of: function)
        let known = legend.joined(separator: " ")
        guard let tags = found.first?.tags else {
            return ["no tag line: put its tags from the legend (\(known)) on the last line of the comment above it or in a comment on its declaration"]
        }
        var problems: [String] = []
        if found.count > 1 {
            problems.append("\(found.count) tag lines (lines \(found.map { String($0.line + 1) }.joined(separator: ", "))), expected one")
        }
        for tag in tags where !legend.contains(tag) {
            problems.append("\(tag) is not in the legend (\(known))")
        }
        let thread = tags.filter(threadTags.contains)
        if thread.count != 1 {
            problems.append("needs exactly one thread tag of \(threadTags.sorted().joined(separator: ", ")), has \(thread.isEmpty ? "none" : thread.joined(separator: " "))")
        }
        return problems
    }
}
