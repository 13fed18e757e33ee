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
}
