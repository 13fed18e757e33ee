// MARK: - Scratch folders for tests: one per test process, gone when it exits
//
// Every test's temporary files live under <tmp>/maml-tests-<pid>, which is removed when the test
// process exits; folders left by test processes that no longer run (killed, crashed) are removed
// by the next one. Before, each test left its own folder in /tmp: thousands after a few runs.

import Foundation

public enum Scratch {
    /// This process's folder (mode 0755: plugins built below it must pass the trust policy),
    /// created on first use and removed at exit.
    public static let root: String = {
        removeStale()
        let path = NSTemporaryDirectory() + prefix + "\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
        owner = getpid()
        atexit(removeRoot)
        return path
    }()

    /// A fresh, empty folder named after `name` under root (mode 0755, whatever the umask).
    public static func directory(_ name: String) throws -> String {
        let path = root + "/" + name + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    static let prefix = "maml-tests-"
    nonisolated(unsafe) static var owner: pid_t = 0

    /// Folders of test processes that have exited (kill(pid, 0) fails with ESRCH).
    static func removeStale() {
        let temp = NSTemporaryDirectory()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temp) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: temp + name) }
        }
    }
}

/// At exit, in the process that made the folder only (a forked child must not remove it).
private func removeRoot() {
    guard getpid() == Scratch.owner else { return }
    try? FileManager.default.removeItem(atPath: Scratch.root)
}
