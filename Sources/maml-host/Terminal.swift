// MARK: - How much to say, and colour only where it helps
//
// --quiet keeps a command to its results and its errors (no banners, progress or
// "wrote" lines); --verbose adds what is useful when something looks wrong
// (settings, timings, each validation score). Colour marks error, warning and
// note prefixes, and only on a terminal: never in a pipe or a file, never when
// NO_COLOR is set to anything (https://no-color.org), never for TERM=dumb.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

enum Verbosity: Int, Comparable {
    case quiet, normal, verbose
    static func < (a: Verbosity, b: Verbosity) -> Bool { a.rawValue < b.rawValue }

    /// The level of this command (set once from OutputOptions before it runs).
    nonisolated(unsafe) static var level = Verbosity.normal
}

/// --quiet / --verbose of the commands that report progress.
struct OutputOptions: ParsableArguments {
    @Flag(name: [.customShort("q"), .long], help: "Print only results and errors (no banners, progress or \"wrote\" lines).")
    var quiet = false
    @Flag(name: [.customShort("v"), .long], help: "Also print settings, timings and each validation score.")
    var verbose = false

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose contradict each other: give one") }
    }

    /// Sets the process's verbosity; call first in run().
    func apply() { Verbosity.level = quiet ? .quiet : verbose ? .verbose : .normal }
}

/// Prints an informational line on stdout unless --quiet.
func say(_ text: String) {
    if Verbosity.level >= .normal { print(text) }
}

/// Prints a detail on stdout with --verbose only.
func detail(_ text: String) {
    if Verbosity.level >= .verbose { print(text) }
}

enum Colour {
    /// Whether text written to `fd` may carry colour: a terminal, NO_COLOR unset or empty, TERM not "dumb".
    static func enabled(_ fd: Int32) -> Bool {
        if let value = getenv("NO_COLOR"), value.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return isatty(fd) != 0
    }

    /// `message` with a leading "Error:", "error:", "warning:" or "note:" coloured (red, red,
    /// yellow, cyan; bold). The message must already be display-safe.
    static func prefixed(_ message: String) -> String {
        let codes = [("Error:", "1;31"), ("error:", "1;31"), ("warning:", "1;33"), ("note:", "1;36")]
        for (prefix, code) in codes where message.hasPrefix(prefix) {
            return "\u{1B}[\(code)m\(prefix)\u{1B}[0m" + message.dropFirst(prefix.count)
        }
        return message
    }
}
