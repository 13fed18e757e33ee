// MARK: - The host's stdout is the host's
//
// Plugins run in this process, and C's `stdout` (printf, puts) and descriptor 1
// (write(1, ...)) are theirs to write to as much as ours. Left alone, a plugin
// that prints during load, create or loss_grad would splice its text into
// `list --json`, `eval --json` or the JSON line a `_scan` / `_check-one` child
// sends its parent. So, before any plugin is loaded, `claimStandardOutput`:
//
// - moves the real standard output to a private descriptor (close-on-exec, so
//   children never inherit it) wrapped in a line-buffered FILE of our own;
// - points descriptor 1 at standard error, where whatever plugins print lands
//   (line-buffered, next to the host's own messages);
// - and `print` in this module (below) writes to the private FILE, never to C's
//   `stdout`, which stays the plugins'.
//
// Line buffering also makes progress lines appear as they happen when stdout is a
// pipe or a file, not at exit. Command-line parsing (help, errors, the help
// dump) happens before the claim, when no plugin is loaded, on the real stdout.
//
// This keeps out what plugins print, not a plugin that sets out to write to the
// private descriptor: code in our process can do anything we can
// (docs/security.md).
#if canImport(Glibc)
@preconcurrency import Glibc   // C's `stdout` (a global the host only touches before threads start)
#endif

enum HostOutput {
    /// The host's own standard output once claimed (nil before: C's stdout).
    nonisolated(unsafe) private static var stream: UnsafeMutablePointer<FILE>?
    /// The descriptor behind `stream` (STDOUT_FILENO before the claim).
    nonisolated(unsafe) private(set) static var descriptor: Int32 = STDOUT_FILENO

    /// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were closed), so a file
    /// opened later (a checkpoint, a plugin) never becomes a standard stream that something
    /// prints into. Call first thing in main.
    static func occupyStandardDescriptors() {
        for fd in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(fd, F_GETFD) == -1 {
            let opened = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY)
            if opened >= 0 && opened != fd { _ = dup2(opened, fd); close(opened) }
        }
    }

    /// Moves the real stdout to a private line-buffered stream and points descriptor 1 at
    /// stderr (see the file comment). Call once, single-threaded, before any plugin loads.
    static func claimStandardOutput() {
        guard stream == nil else { return }
        fflush(stdout)
        let privateFD = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
        guard privateFD >= 0, let file = fdopen(privateFD, "w") else {
            if privateFD >= 0 { close(privateFD) }
            return   // cannot happen with the descriptors occupied; keep the shared stdout then
        }
        setvbuf(file, nil, _IOLBF, 0)
        guard dup2(STDERR_FILENO, STDOUT_FILENO) == STDOUT_FILENO else { fclose(file); return }
        setvbuf(stdout, nil, _IOLBF, 0)   // what plugins print shows up promptly on stderr
        stream = file
        descriptor = privateFD
    }

    /// Writes `text` to the host's stdout.
    static func write(_ text: String) {
        var text = text
        let target = stream ?? stdout
        text.withUTF8 { bytes in _ = fwrite(bytes.baseAddress, 1, bytes.count, target) }
    }

    /// Flushes the host's stdout (a progress bar drawn without a newline).
    static func flush() { fflush(stream ?? stdout) }

    /// True when the host's stdout is a terminal.
    static var isTerminal: Bool { isatty(descriptor) != 0 }
}

/// maml-host's `print`: to the host's stdout (`HostOutput`), never to C's `stdout`, which
/// plugins share. It shadows the standard library's `print(_:separator:terminator:)` in this
/// module; `print(_:to:)` (stderr) is unaffected.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    HostOutput.write(items.map { String(describing: $0) }.joined(separator: separator) + terminator)
}
