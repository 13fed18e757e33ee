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
        abstract: "Pin plugin files (their current SHA-256); re-adding a changed file re-pins it.",
        discussion: """
            A file the host would never load is refused and nothing is pinned: not a regular file, \
            not a plugin by its ELF headers (read, never run), or failing the ownership and \
            permission rules (the file and every directory above it owned by root or you and not \
            writable by group or others). See docs/security.md.
            """)
    @OptionGroup var lockFile: LockFileOption
    @Argument(help: "Plugin files.") var files: [String]

    func run() throws {
        var lock = try lockFile.load()
        // Every file is checked before the lock is written: all are pinned, or none.
        var pins: [(realPath: String, sha256: String)] = []
        var refused: [String] = []
        for file in files {
            do {
                let pin = try pinnablePlugin(absolute(file))
                if let warning = pin.warning { printError("warning: \(warning)") }
                pins.append((pin.realPath, pin.sha256))
            } catch { refused.append(error.message) }
        }
        guard refused.isEmpty else {
            for message in refused { printError("Error: \(message)") }
            throw CLIError("nothing pinned: \(refused.count) of \(files.count) file\(files.count == 1 ? "" : "s") refused; \(lock.path) is unchanged")
        }
        for pin in pins {
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
        abstract: "Show pinned files and whether each still matches and would load (ok, CHANGED, REFUSED, MISSING, UNREADABLE).")
    @OptionGroup var lockFile: LockFileOption

    func run() throws {
        let lock = try lockFile.load()
        guard !lock.entries.isEmpty else { print("no plugins pinned (\(lock.path))"); return }
        var table = Table("STATUS", "SHA-256", "FILE")
        var bad = 0
        var reasons: [String] = []
        for file in lock.entries.keys.sorted() {
            var status: String
            do { status = try pinIdentity(of: file).sha256 == lock.entries[file] ? "ok" : "CHANGED" }
            catch { status = canonicalPath(file) == nil ? "MISSING" : "UNREADABLE" }
            // Unchanged, but the ownership or permission rules would refuse it.
            if status == "ok", let problem = pluginPathProblem(file) {
                status = "REFUSED"
                reasons.append("\(file): \(problem)")
            }
            if status != "ok" { bad += 1 }
            table.add(status, String(lock.entries[file]!.prefix(16)) + "…", file)
        }
        print(lock.path)
        print(table.render())
        for reason in reasons { printError("refused: \(reason)") }
        if bad > 0 { throw CLIError("\(bad) pinned plugin\(bad == 1 ? " does" : "s do") not match the lock or would be refused") }
    }
}
