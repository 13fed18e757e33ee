import Foundation
import Testing
@testable import MAMLHost
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The trust policy: permissions, pinning, secure execution

/// A fresh directory (mode 0755) holding copies of the named corpus plugins.
func pluginDirectory(copying names: [String]) throws -> String {
    let fixtures = try fixtures()
    let directory = fixtures.root + "/trust-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    chmod(directory, 0o755)
    for name in names {
        try FileManager.default.copyItem(atPath: fixtures.corpusFile(name), toPath: directory + "/" + name)
        chmod(directory + "/" + name, 0o755)
    }
    return directory
}

func catalog(of directory: String, trust: TrustPolicy = .permissionsOnly) -> PluginCatalog {
    PluginCatalog.load(directories: [SearchDirectory(path: directory, origin: .explicit)], trust: trust)
}

/// A fresh directory chain `outer/inner` (both mode 0755) in the fixtures' root, with copies of
/// the named corpus plugins in `inner`.
func nestedPluginDirectory(copying names: [String]) throws -> (outer: String, inner: String) {
    let outer = try pluginDirectory(copying: [])
    let inner = outer + "/inner"
    try FileManager.default.createDirectory(atPath: inner, withIntermediateDirectories: false)
    chmod(inner, 0o755)
    for name in names {
        try FileManager.default.copyItem(atPath: try fixtures().corpusFile(name), toPath: inner + "/" + name)
        chmod(inner + "/" + name, 0o755)
    }
    return (outer, inner)
}

/// A uid no account uses (the tests chown to it; only root can).
let strangerUID: uid_t = 12345
/// Tests that chown files to another uid need root.
let runningAsRoot = geteuid() == 0

@Suite("Trust policy")
struct TrustPolicyTests {
    @Test("a group-writable plugin file is refused with the reason; the others still load")
    func groupWritableFileRefused() throws {
        let dir = try pluginDirectory(copying: ["libgood.so", "libnoext.so"])
        chmod(dir + "/libgood.so", 0o775)
        let c = catalog(of: dir)
        #expect(Set(c.models.map(\.id)) == ["org.test.linreg-noext", "org.test.logreg-noext"])
        let problem = try #require(c.problems(forFile: dir + "/libgood.so").first)
        #expect(problem.severity == .error)
        #expect(problem.message.contains("refused: the file is writable by group (mode 0775)"))
        #expect(problem.message.contains("chmod go-w"))

        chmod(dir + "/libgood.so", 0o757)
        #expect(catalog(of: dir).problems(forFile: dir + "/libgood.so").first?.message.contains("writable by others") == true)
        chmod(dir + "/libgood.so", 0o755)
        #expect(catalog(of: dir).models.count == 4)
    }

    @Test("a plugin in a group- or world-writable directory is refused, also when reached through a symlink")
    func writableDirectoryRefused() throws {
        let dir = try pluginDirectory(copying: ["libgood.so"])
        chmod(dir, 0o775)
        let c = catalog(of: dir)
        #expect(c.models.isEmpty)
        #expect(c.problems.contains { $0.message.contains("its directory \(dir) is writable by group") })

        // A safe directory whose symlink points into an unsafe one.
        let safe = try pluginDirectory(copying: [])
        try FileManager.default.createSymbolicLink(atPath: safe + "/liblink.so", withDestinationPath: dir + "/libgood.so")
        let linked = catalog(of: safe)
        #expect(linked.models.isEmpty)
        #expect(linked.problems.contains { $0.path == safe + "/liblink.so" && $0.message.contains("writable by group") })
        chmod(dir, 0o755)
        #expect(catalog(of: safe).models.count == 2)
    }

    @Test("pinned plugins load; unpinned and modified-after-pinning ones are refused")
    func pinning() throws {
        let dir = try pluginDirectory(copying: ["libgood.so", "libnoext.so"])
        let lockPath = dir + "-lock/plugins.lock"
        let good = dir + "/libgood.so"
        let pin = try pinIdentity(of: good)
        #expect(pin.realPath == good && pin.sha256.count == 64)
        try TrustLock(path: lockPath, entries: [pin.realPath: pin.sha256]).write()
        let policy = TrustPolicy(lockPath: lockPath)

        let pinned = catalog(of: dir, trust: policy)
        #expect(Set(pinned.models.map(\.id)) == ["org.test.linreg", "org.test.logreg"])
        // Loaded through the hashed descriptor, reported under its real path.
        #expect(pinned.models.allSatisfy { $0.pluginPath == good })
        #expect(pinned.problems(forFile: dir + "/libnoext.so").first?.message.contains("not pinned in \(lockPath)") == true)

        // Append one byte: still a loadable ELF file, no longer the pinned one.
        let handle = try #require(FileHandle(forWritingAtPath: good))
        try handle.seekToEnd(); try handle.write(contentsOf: Data([0])); try handle.close()
        let changed = catalog(of: dir, trust: policy)
        #expect(changed.models.isEmpty)
        let problem = try #require(changed.problems(forFile: good).first)
        #expect(problem.message.contains("changed since it was pinned"))
        #expect(problem.message.contains(pin.sha256))

        // Without the lock file, only the permission rules apply.
        #expect(catalog(of: dir, trust: TrustPolicy(lockPath: dir + "-lock/absent.lock")).models.count == 4)
        // --require-trusted without a lock file refuses everything, saying why.
        let required = catalog(of: dir, trust: TrustPolicy(lockPath: dir + "-lock/absent.lock", requireTrusted: true))
        #expect(required.models.isEmpty)
        #expect(required.problems.first?.message.contains("no lock file") == true)
    }

    @Test("a lock file writable by others, or malformed, refuses every plugin")
    func unusableLock() throws {
        let dir = try pluginDirectory(copying: ["libgood.so"])
        let lockPath = dir + "/../" + UUID().uuidString + ".lock"
        let pin = try pinIdentity(of: dir + "/libgood.so")
        try TrustLock(path: lockPath, entries: [pin.realPath: pin.sha256]).write()
        chmod(lockPath, 0o666)
        let open = catalog(of: dir, trust: TrustPolicy(lockPath: lockPath))
        #expect(open.models.isEmpty)
        #expect(open.problems.first?.message.contains("writable by group and others") == true)

        chmod(lockPath, 0o644)
        try Data("not a lock line\n".utf8).write(to: URL(fileURLWithPath: lockPath))
        chmod(lockPath, 0o644)
        let malformed = catalog(of: dir, trust: TrustPolicy(lockPath: lockPath))
        #expect(malformed.models.isEmpty)
        #expect(malformed.problems.first?.message.contains("line 1: expected") == true)
    }

    @Test("lock file parsing: comments and sha256sum lines; each malformed line is named")
    func lockParsing() throws {
        let hash = String(repeating: "ab", count: 32)
        let lock = try TrustLock.parse(Array("# c\n\n\(hash)  /a/b c.so\r\n".utf8), path: "L")
        #expect(lock.entries == ["/a/b c.so": hash])
        #expect(try TrustLock.parse(Array(lock.serialized().utf8), path: "L") == TrustLock(path: "L", entries: lock.entries))
        let bad: [(String, String)] = [
            ("\(hash) /a.so", "line 1: expected"), ("x  /a.so", "not a SHA-256"),
            ("\(hash.uppercased())  /a.so", "not a SHA-256"), ("\(hash)  a.so", "not absolute"),
            ("\(hash)  /a.so\n\(hash)  /a.so", "line 2: /a.so is pinned twice"),
        ]
        for (text, message) in bad {
            #expect(throws: HostError.self) { try TrustLock.parse(Array(text.utf8), path: "L") }
            do { _ = try TrustLock.parse(Array(text.utf8), path: "L") } catch {
                #expect(error.message.contains(message), "\(text): \(error.message)")
            }
        }
        #expect(throws: HostError.self) { try TrustLock.parse([0xff, 0xfe], path: "L") }
    }

    @Test("secure execution ignores MAML_PLUGIN_PATH and the environment's lock location")
    func secureExecution() {
        let env = ["MAML_PLUGIN_PATH": "/evil", "XDG_CONFIG_HOME": "/evil-config", "HOME": "/evil-home"]
        let normal = PluginDiscovery.searchDirectories(environment: env, workingDirectory: "/w",
                                                       executableDirectory: "/bin", secureExecution: false)
        #expect(normal.contains { $0.path == "/evil" })
        let secure = PluginDiscovery.searchDirectories(environment: env, workingDirectory: "/w",
                                                       executableDirectory: "/bin", secureExecution: true)
        #expect(secure.map(\.path) == ["/bin", "/w/models"])
        #expect(TrustLock.defaultPath(environment: env, secure: false) == "/evil-config/maml-zoo/plugins.lock")
        #expect(!TrustLock.defaultPath(environment: env, secure: true).hasPrefix("/evil"))
        #expect(isSecureExecution() == false)   // tests do not run setuid
    }

    // MARK: Ownership, and every directory above the plugin (docs/security.md)

    @Test("a plugin directory, a directory above it or the file owned by another user is refused, naming the path, the owner and the chown",
          .enabled(if: runningAsRoot, "chown to another uid needs root"))
    func ownedByAnotherUser() throws {
        // The directory the plugin is listed in, mode 0755 but owned by someone else.
        let dir = try pluginDirectory(copying: ["libgood.so"])
        chown(dir, strangerUID, strangerUID)
        let refused = catalog(of: dir)
        #expect(refused.models.isEmpty)
        let problem = try #require(refused.problems(forFile: dir + "/libgood.so").first)
        #expect(problem.message.contains("refused: directory \(dir) is owned by uid 12345 (no such user), not by root"), "\(problem.message)")
        #expect(problem.message.contains("chown root:root \(dir)"))
        chown(dir, 0, 0)
        #expect(catalog(of: dir).models.count == 2)

        // A directory two levels up.
        let (outer, inner) = try nestedPluginDirectory(copying: ["libgood.so"])
        chown(outer, strangerUID, strangerUID)
        let above = catalog(of: inner)
        #expect(above.models.isEmpty)
        #expect(above.problems.first?.message.contains("directory \(outer) is owned by uid 12345") == true, "\(above.problems)")
        chown(outer, 0, 0)
        #expect(catalog(of: inner).models.count == 2)

        // The file itself.
        chown(dir + "/libgood.so", strangerUID, strangerUID)
        let file = try #require(catalog(of: dir).problems(forFile: dir + "/libgood.so").first)
        #expect(file.message.contains("the file is owned by uid 12345 (no such user), not by root"), "\(file.message)")
        #expect(file.message.contains("chown root:root \(dir)/libgood.so"))
    }

    @Test("the invoking user's own directories and files load; another ordinary user's are refused (explicit uid)",
          .enabled(if: runningAsRoot, "chown to another uid needs root"))
    func invokingUser() throws {
        // Run the policy as uid 12345 would: its own directory and file (under root's directories) load.
        let dir = try pluginDirectory(copying: ["libgood.so"])
        chown(dir, strangerUID, strangerUID)
        chown(dir + "/libgood.so", strangerUID, strangerUID)
        let asOwner = catalog(of: dir, trust: TrustPolicy(lockPath: nil, trustedUID: strangerUID))
        #expect(asOwner.models.count == 2, "\(asOwner.problems)")
        // As uid 23456, the same directory is someone else's.
        let asOther = catalog(of: dir, trust: TrustPolicy(lockPath: nil, trustedUID: 23456))
        #expect(asOther.models.isEmpty)
        let problem = try #require(asOther.problems.first)
        #expect(problem.message.contains("the file is owned by uid 12345 (no such user), not by root or uid 23456 (no such user)"),
                "\(problem.message)")
        chown(dir + "/libgood.so", 0, 0)
        let directory = try #require(catalog(of: dir, trust: TrustPolicy(lockPath: nil, trustedUID: 23456)).problems.first)
        #expect(directory.message.contains("directory \(dir) is owned by uid 12345 (no such user), not by root or uid 23456 (no such user)"),
                "\(directory.message)")
        #expect(directory.message.contains("chown 23456 \(dir)"))
        // Root's files are trusted by every user: the fixture corpus (root-owned here) loads as uid 23456.
        #expect(catalog(of: try pluginDirectory(copying: ["libgood.so"]), trust: TrustPolicy(lockPath: nil, trustedUID: 23456)).models.count == 2)
    }

    @Test("a group- or world-writable directory above the plugin's directory is refused with the chmod that fixes it")
    func writableParentRefused() throws {
        let (outer, inner) = try nestedPluginDirectory(copying: ["libgood.so"])
        chmod(outer, 0o775)
        let group = catalog(of: inner)
        #expect(group.models.isEmpty)
        let problem = try #require(group.problems(forFile: inner + "/libgood.so").first)
        #expect(problem.message.contains("refused: directory \(outer) (above the plugin) is writable by group (mode 0775)"), "\(problem.message)")
        #expect(problem.message.contains("chmod go-w \(outer)"))
        chmod(outer, 0o757)
        #expect(catalog(of: inner).problems.first?.message.contains("\(outer) (above the plugin) is writable by others") == true)
        chmod(outer, 0o755)
        #expect(catalog(of: inner).models.count == 2)
    }

    @Test("a sticky directory above the plugin's (like /tmp) is accepted when root or you own it; not when another user does, not as the plugin's own directory, not without the sticky bit")
    func stickyParent() throws {
        let (outer, inner) = try nestedPluginDirectory(copying: ["libgood.so"])
        chmod(outer, 0o1777)
        #expect(catalog(of: inner).models.count == 2, "\(catalog(of: inner).problems)")
        // Without the sticky bit anyone could rename `inner` away and put their own in its place.
        chmod(outer, 0o777)
        #expect(catalog(of: inner).problems.first?.message.contains("directory \(outer) (above the plugin) is writable by group and others (mode 0777)") == true)
        // The sticky bit does not keep others from adding plugins next to the file.
        chmod(outer, 0o1777)
        try FileManager.default.copyItem(atPath: inner + "/libgood.so", toPath: outer + "/libgood.so")
        let holding = catalog(of: outer)
        #expect(holding.models.isEmpty)
        let problem = try #require(holding.problems(forFile: outer + "/libgood.so").first)
        #expect(problem.message.contains("its directory \(outer) is writable by group and others (mode 01777); the sticky bit"), "\(problem.message)")
        #expect(problem.message.contains("a directory of their own"))
        if runningAsRoot {
            // A sticky directory's owner may remove anything in it: it must be root or you.
            chown(outer, strangerUID, strangerUID)
            #expect(catalog(of: inner).problems.first?.message.contains("directory \(outer) is owned by uid 12345") == true)
            chown(outer, 0, 0)
            #expect(catalog(of: inner).models.count == 2)
        }
    }

    @Test("a symlinked directory is followed: a writable directory above the real location is refused")
    func symlinkedDirectoryFollowed() throws {
        let (outer, inner) = try nestedPluginDirectory(copying: ["libgood.so"])
        let links = try pluginDirectory(copying: [])
        try FileManager.default.createSymbolicLink(atPath: links + "/plugins", withDestinationPath: inner)
        chmod(outer, 0o775)
        let linked = catalog(of: links + "/plugins")
        #expect(linked.models.isEmpty)
        #expect(linked.problems.first?.message.contains("directory \(outer) (above the plugin) is writable by group") == true, "\(linked.problems)")
        chmod(outer, 0o755)
        #expect(catalog(of: links + "/plugins").models.count == 2)
        if runningAsRoot {
            // In a sticky directory, a link's owner can replace it: it must be root or you. (Group-
            // writable, not world-writable: in a sticky world-writable directory the kernel's
            // fs.protected_symlinks already refuses to follow such a link.)
            chmod(links, 0o1775)
            let nested = links + "/plugins2"
            try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: false)
            chmod(nested, 0o755)
            try FileManager.default.createSymbolicLink(atPath: nested + "/libgood.so", withDestinationPath: inner + "/libgood.so")
            #expect(catalog(of: nested).models.count == 2)
            lchown(links + "/plugins", strangerUID, strangerUID)
            let stranger = catalog(of: links + "/plugins")
            #expect(stranger.problems.first?.message.contains("symbolic link \(links)/plugins is owned by uid 12345") == true, "\(stranger.problems)")
        }
    }

    @Test("a lock file owned by another user, or below a writable directory, refuses every plugin")
    func lockOwnership() throws {
        let dir = try pluginDirectory(copying: ["libgood.so"])
        let lockDirectory = try pluginDirectory(copying: [])
        let lockPath = lockDirectory + "/plugins.lock"
        let pin = try pinIdentity(of: dir + "/libgood.so")
        try TrustLock(path: lockPath, entries: [pin.realPath: pin.sha256]).write()
        chmod(lockPath, 0o644)
        #expect(catalog(of: dir, trust: TrustPolicy(lockPath: lockPath)).models.count == 2)
        chmod(lockDirectory, 0o777)
        let open = catalog(of: dir, trust: TrustPolicy(lockPath: lockPath))
        #expect(open.models.isEmpty)
        #expect(open.problems.first?.message.contains("lock file \(lockPath): its directory \(lockDirectory) is writable by group and others") == true,
                "\(open.problems)")
        chmod(lockDirectory, 0o755)
        if runningAsRoot {
            chown(lockPath, strangerUID, strangerUID)
            let foreign = catalog(of: dir, trust: TrustPolicy(lockPath: lockPath))
            #expect(foreign.models.isEmpty)
            #expect(foreign.problems.first?.message.contains("lock file \(lockPath): the file is owned by uid 12345") == true, "\(foreign.problems)")
        }
    }

    @Test("trust add's check: a plugin pins; a file that would never load (ownership, modes, not ELF, no entry symbol, not a file) does not")
    func pinnable() throws {
        let f = try fixtures()
        let dir = try pluginDirectory(copying: ["libgood.so", "libnoentry.so", "garbage.so"])
        let good = try pinnablePlugin(dir + "/libgood.so")
        #expect(good.sha256 == (try pinIdentity(of: dir + "/libgood.so")).sha256 && good.warning == nil)
        func refusal(_ path: String, trustedUID: uid_t = geteuid()) -> String {
            do { _ = try pinnablePlugin(path, trustedUID: trustedUID); return "pinned" } catch { return error.message }
        }
        #expect(refusal(dir + "/garbage.so").contains("not pinned: not an ELF file"))
        #expect(refusal(dir + "/libnoentry.so").contains("does not export maml_plugin_registry"))
        #expect(refusal(f.corpus + "/dir.so").contains("not a regular file"))
        chmod(dir, 0o775)
        #expect(refusal(dir + "/libgood.so").contains("its directory \(dir) is writable by group (mode 0775)"))
        #expect(refusal(dir + "/libgood.so").contains("the host would refuse to load it"))
        chmod(dir, 0o755)
        if runningAsRoot {
            chown(dir, strangerUID, strangerUID)
            #expect(refusal(dir + "/libgood.so").contains("directory \(dir) is owned by uid 12345"))
            // The same directory is fine for its owner.
            #expect(refusal(dir + "/libgood.so", trustedUID: strangerUID) == "pinned")
        }
    }

    @Test("ELF headers alone tell a plugin from a library without the entry symbol, a non-ELF file and a Swift-built plugin")
    func elfVerdicts() throws {
        func verdict(_ path: String) throws -> ELFPluginVerdict {
            let fd = open(path, O_RDONLY)
            try #require(fd >= 0, "cannot open \(path)")
            defer { close(fd) }
            var info = stat()
            fstat(fd, &info)
            return elfPluginVerdict(fileDescriptor: fd, size: Int64(info.st_size))
        }
        let f = try fixtures()
        #expect(try verdict(f.corpusFile("libgood.so")) == .plugin)
        #expect(try verdict(f.corpusFile("libabi2.so")) == .plugin)   // the ABI is only known at load
        guard case .notPlugin(let why) = try verdict(f.corpusFile("libnoentry.so")) else { Issue.record("libnoentry.so"); return }
        #expect(why.contains("does not export maml_plugin_registry"))
        guard case .notPlugin = try verdict(f.corpusFile("garbage.so")) else { Issue.record("garbage.so"); return }
        // The bundled plugins, built by Swift, are plugins too.
        if let bundled = PluginDiscovery.executableDirectory().map({ $0 + "/libmaml_mlp.so" }),
           FileManager.default.fileExists(atPath: bundled) {
            #expect(try verdict(bundled) == .plugin)
        }
    }
}
