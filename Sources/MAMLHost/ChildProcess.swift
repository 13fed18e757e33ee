#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import MAMLCore   // monotonicSeconds

// MARK: - Running untrusted work in a child process
//
// Loading a plugin runs its code. Whatever must survive a plugin that crashes,
// aborts or hangs (the conformance checker, plugin scanning) runs that code in
// a child process: usually this same executable re-run with a hidden
// subcommand. The parent keeps a deadline, captures stdout and stderr, and
// reports how the child ended, including the signal that killed it.
//
// posix_spawn, not fork: the parent may have threads (a forked child of a
// threaded process may only call async-signal-safe functions), and spawn
// makes a fresh process image. Output is drained through poll() while waiting,
// so a chatty child never blocks on a full pipe; each stream is capped at
// `outputLimit` bytes (the rest is read and dropped).

/// How a child process ended.
public enum ChildTermination: Sendable, Equatable, CustomStringConvertible {
    /// exit(code) or return from main.
    case exited(Int32)
    /// Killed by a signal it did not handle (SIGSEGV, SIGABRT, ...).
    case signaled(Int32)
    /// Still running at the deadline: killed with SIGKILL.
    case timedOut(seconds: Double)

    /// "exit 0", "crashed (SIGSEGV)", "timed out after 5 s".
    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "crashed (\(signalName(signal)))"
        case .timedOut(let seconds): return "timed out after \(formatSeconds(seconds))"
        }
    }
}

/// What a finished child left behind.
public struct ChildResult: Sendable, Equatable {
    public var termination: ChildTermination
    public var stdout: String
    public var stderr: String
    /// Wall time from spawn to reaping, in seconds.
    public var seconds: Double
    /// True if the child exited with status 0.
    public var succeeded: Bool { termination == .exited(0) }
}

/// A failure to start the child at all (not a failure of the child).
public struct ChildSpawnError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Runs `executable` with `arguments` (argv[0] is `executable`), in the current
/// environment plus `environment` overrides, and waits at most `timeout` seconds.
/// Blocks the calling thread. Thread-safe: every call owns its pipes and child.
public func runChild(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                     timeout: Double, outputLimit: Int = 1 << 20) throws(ChildSpawnError) -> ChildResult {
    var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

    // The child starts with default signal dispositions and an empty mask,
    // whatever the parent (e.g. a SIGINT handler for checkpoints) has set.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var all = sigset_t(), none = sigset_t()
    sigfillset(&all); sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setsigmask(&attributes, &none)
    // Its own process group, so a deadline kills whatever it started too.
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

    var env = currentEnvironment()
    for (key, value) in environment { env[key] = value }

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = env.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in argv { free(p) }; for p in envp { free(p) } }

    let start = monotonicSeconds()
    var pid: pid_t = 0
    // Pipes are made and marked close-on-exec under one lock with the spawn: pipe2 is not
    // visible to Swift here, and a pipe end leaked into a concurrently spawned child would
    // keep our read end open until that other child exits.
    let rc: Int32 = spawnLock.withLock { _ in
        guard pipe(&outPipe) == 0 else { return errno }
        guard pipe(&errPipe) == 0 else { let e = errno; close(outPipe[0]); close(outPipe[1]); return e }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(outPipe[1]); close(errPipe[1])
        if rc != 0 { close(outPipe[0]); close(errPipe[0]) }
        return rc
    }
    guard rc == 0 else {
        throw ChildSpawnError(description: "cannot run \(executable): \(String(cString: strerror(rc)))")
    }

    var captured: [[UInt8]] = [[], []]
    var open = [outPipe[0], errPipe[0]]
    var timedOut = false
    var buffer = [UInt8](repeating: 0, count: 65536)
    while open.contains(where: { $0 >= 0 }) {
        let remaining = timeout - (monotonicSeconds() - start)
        if remaining <= 0 { timedOut = true; kill(-pid, SIGKILL); break }
        var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 3600) * 1000) + 1)
        if ready < 0 && errno != EINTR { kill(-pid, SIGKILL); break }
        for i in 0..<2 where open[i] >= 0 && fds[i].revents != 0 {
            let n = read(open[i], &buffer, buffer.count)
            if n > 0 {
                let room = max(0, outputLimit - captured[i].count)
                captured[i] += buffer[0..<min(n, room)]
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                close(open[i]); open[i] = -1
            }
        }
    }
    for fd in open where fd >= 0 { close(fd) }

    // The pipes closed (or the deadline passed): reap, still within the deadline,
    // since a child may close its output and keep running.
    var status: Int32 = 0
    while true {
        let reaped = waitpid(pid, &status, timedOut ? 0 : WNOHANG)
        if reaped == pid { break }
        if reaped < 0 && errno != EINTR { break }
        if reaped == 0 {
            if monotonicSeconds() - start >= timeout { timedOut = true; kill(-pid, SIGKILL); continue }
            usleep(2000)
        }
    }
    let seconds = monotonicSeconds() - start
    let termination: ChildTermination
    if timedOut {
        termination = .timedOut(seconds: timeout)
    } else if status & 0x7f == 0 {
        termination = .exited((status >> 8) & 0xff)
    } else {
        termination = .signaled(status & 0x7f)
    }
    return ChildResult(termination: termination, stdout: String(decoding: captured[0], as: UTF8.self),
                       stderr: String(decoding: captured[1], as: UTF8.self), seconds: seconds)
}

private let spawnLock = Mutex(())

/// The absolute path of the running executable (for re-running it as a child).
public func currentExecutablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// "SIGSEGV" for 11, "signal 64" for one without a common name.
public func signalName(_ signal: Int32) -> String {
    let names: [Int32: String] = [SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
                                  SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
                                  SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
                                  SIGTERM: "SIGTERM", SIGSYS: "SIGSYS", SIGXCPU: "SIGXCPU"]
    return names[signal] ?? "signal \(signal)"
}



private func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\((s * 10).rounded() / 10) s"
}

private func errnoText() -> String { String(cString: strerror(errno)) }
