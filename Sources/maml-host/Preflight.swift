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
        // (Arguments that are not UTF-8 never get here: MAMLHostCommand.refuseNonUTF8Arguments.)
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

// MARK: - One writer per output

/// An exclusive lock on a checkpoint location, held while a run writes it: a second trainer
/// on the same --output is refused, naming the holder. The lock is a `flock` on a hidden file
/// beside the output (`.NAME.lock`), released by the kernel when the process ends, however
/// it ends; the file itself may stay and is harmless.
final class OutputLock {
    private let fd: Int32

    init(path: String, flag: String = "--output") throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let lockPath = "\(directory)/.\(name).lock"
        fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CLIError("\(flag) \(path): cannot create its lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let got = pread(fd, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(got, 0)).filter { $0 > 0x20 }, as: UTF8.self)
            close(fd)
            throw CLIError("\(flag) \(path) is being written by another maml-host (PID \(holder.isEmpty ? "?" : holder)); "
                           + "wait for it to finish or choose another \(flag)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        if AtomicFile.removeStaleTemporaries(of: path) > 0 {
            printError("note: removed temporary files of \(path) left by a process that no longer runs")
        }
    }

    deinit { close(fd) }
}
