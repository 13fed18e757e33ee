// MARK: - Checks before any work: where results go, and flags that contradict each other
//
// A run that can only fail when it writes its results fails after all the work (an
// hour of conv4 lost to a typo in --output). So every location a command will write
// is probed first with a real temporary file of the name the atomic write will use,
// the locations must differ from each other (a --log equal to --resume would append
// text into the checkpoint), and flags that would be ignored are refused.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MAMLCore

/// Probes each given location (flag -> path) and refuses two flags naming one file; `resume`
/// may equal --output (continuing in place) but no other location.
func checkOutputs(_ locations: KeyValuePairs<String, String?>, resume: String?) throws {
    var seen: [(flag: String, key: String)] = []
    if let resume { seen.append(("--resume", canonicalPath(resume))) }
    for case let (flag, path?) in locations {
        guard !path.isEmpty else { throw ValidationError("\(flag) is empty") }
        guard path.utf8.allSatisfy({ $0 != 0 }), String(validatingUTF8: path) != nil else {
            throw ValidationError("\(flag): the path is not valid text")
        }
        do { try AtomicFile.probeWritable(path) } catch {
            throw ValidationError("\(flag) \(path): cannot be written: \(error)")
        }
        let key = canonicalPath(path)
        for other in seen where other.key == key && !(other.flag == "--resume" && flag == "--output") {
            throw ValidationError("\(flag) and \(other.flag) name the same file (\(path)); give them different files")
        }
        seen.append((flag, key))
    }
}

/// The absolute path with its folder resolved (the file itself may not exist yet).
func canonicalPath(_ path: String) -> String {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard let resolved = realpath(directory, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved) + "/" + name
}

/// Which of `flags` the command line gives (as `--flag value` or `--flag=value`).
func givenFlags(_ flags: [String]) -> [String] {
    let arguments = CommandLine.arguments.dropFirst()
    return flags.filter { flag in arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") } }
}
