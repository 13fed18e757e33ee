// MARK: - maml-host trust add|remove|list: the plugin lock file
import ArgumentParser
import MAMLHost

struct Trust: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pin plugin files by SHA-256; with a lock file present only pinned, unchanged plugins load.",
        discussion: "See docs/security.md for what pinning protects against and what it does not.",
        subcommands: [TrustAdd.self, TrustRemove.self, TrustList.self])
}

/// The lock file option shared by the trust subcommands.
struct LockFileOption: ParsableArguments {
    @Option(name: .customLong("trust-file"), help: ArgumentHelp("Lock file (default: \(TrustLock.defaultPath())).", valueName: "FILE"))
    var trustFile: String?

    var path: String { trustFile.map { absolute($0) } ?? TrustLock.defaultPath() }

    /// The existing lock, or an empty one at `path`; a malformed lock is an error, never overwritten.
    func load() throws -> TrustLock {
        switch TrustLock.load(path) {
        case .success(let lock): return lock ?? TrustLock(path: path)
        case .failure(let error): throw CLIError(error.message)
        }
    }
}

struct TrustAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add",
        abstract: "Pin plugin files (their current SHA-256); re-adding a changed file re-pins it.")
    @OptionGroup var lockFile: LockFileOption
    @Argument(help: "Plugin files.") var files: [String]

    func run() throws {
        var lock = try lockFile.load()
        for file in files {
            let pin = try pinIdentity(of: absolute(file))
            let before = lock.entries[pin.realPath]
            lock.entries[pin.realPath] = pin.sha256
            print("\(before == nil ? "pinned" : before == pin.sha256 ? "unchanged" : "re-pinned") \(pin.realPath) \(pin.sha256)")
        }
        try lock.write()
        print("wrote \(lock.path) (\(lock.entries.count) plugin\(lock.entries.count == 1 ? "" : "s"))")
    }
}

struct TrustRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Unpin plugin files.")
    @OptionGroup var lockFile: LockFileOption
    @Argument(help: "Plugin files (as pinned; a file that no longer exists is matched by path).") var files: [String]

    func run() throws {
        var lock = try lockFile.load()
        for file in files {
            let path = absolute(file)
            let key = [canonicalPath(path), path].compactMap { $0 }.first { lock.entries[$0] != nil }
            guard let key else { throw CLIError("\(file) is not pinned in \(lock.path)") }
            lock.entries[key] = nil
            print("unpinned \(key)")
        }
        try lock.write()
        print("wrote \(lock.path) (\(lock.entries.count) plugin\(lock.entries.count == 1 ? "" : "s"))")
    }
}

struct TrustList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list",
        abstract: "Show pinned files and whether each still matches (ok, CHANGED, MISSING).")
    @OptionGroup var lockFile: LockFileOption

    func run() throws {
        let lock = try lockFile.load()
        guard !lock.entries.isEmpty else { print("no plugins pinned (\(lock.path))"); return }
        var table = Table("STATUS", "SHA-256", "FILE")
        var bad = 0
        for file in lock.entries.keys.sorted() {
            let status: String
            do { status = try pinIdentity(of: file).sha256 == lock.entries[file] ? "ok" : "CHANGED" }
            catch { status = canonicalPath(file) == nil ? "MISSING" : "UNREADABLE" }
            if status != "ok" { bad += 1 }
            table.add(status, String(lock.entries[file]!.prefix(16)) + "…", file)
        }
        print(lock.path)
        print(table.render())
        if bad > 0 { throw CLIError("\(bad) pinned plugin\(bad == 1 ? " does" : "s do") not match the lock") }
    }
}
