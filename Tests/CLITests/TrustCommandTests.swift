// MARK: - The trust policy on the command line: check honours it, trust add refuses what would never load
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("Trust policy on the command line", .slow)
struct TrustCommandTests {
    @Test("check refuses a pinned plugin changed since, by path and by model, running none of its checks; unchanged, it passes")
    func checkHonoursTheLock() throws {
        let plugins = try buildFixturePlugins([("libpinck.so", ["-DFX_TAG=\"-pinck\""])])
        let dir = try temporaryDirectory()
        let file = plugins + "/libpinck.so"
        let add = try mamlHost(["trust", "add", "--trust-file", "t.lock", file], in: dir)
        #expect(add.status == 0, "\(add.stderr)")

        // Pinned and unchanged: checked (through the descriptor that was hashed), reported by its name.
        let pinned = try mamlHost(["check", file, "--json", "--defaults-only", "--trust-file", "t.lock"], in: dir)
        #expect(pinned.status == 0, "\(pinned.stderr.suffix(2000))")
        #expect(try jsonObject(pinned.stdout)["plugin"] as? String == file)
        #expect(!pinned.stdout.contains("/proc/self/fd"))

        // One byte appended: still a loadable library, no longer the pinned one.
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.seekToEnd(); try handle.write(contentsOf: Data([0])); try handle.close()
        let changed = try mamlHost(["check", file, "--json", "--trust-file", "t.lock"], in: dir)
        #expect(changed.status == 2)
        #expect(changed.stdout.isEmpty, "no check ran: \(changed.stdout.prefix(500))")
        #expect(changed.stderr.contains("Error: \(file): refused: changed since it was pinned"), "\(changed.stderr)")
        #expect(!changed.stderr.contains("checking "))

        let byModel = try mamlHost(["check", "linreg-pinck", "--plugin-dir", plugins, "--trust-file", "t.lock"], in: dir)
        #expect(byModel.status == 2)
        #expect(byModel.stderr.contains("\(file): refused: changed since it was pinned"), "\(byModel.stderr)")
        #expect(!byModel.stdout.contains("PASSED"))
    }

    @Test("check --require-trusted refuses an unpinned plugin: without a lock file, with one that does not pin it, by model")
    func checkRequireTrusted() throws {
        let plugins = try buildFixturePlugins([("libunpinned.so", ["-DFX_TAG=\"-unpinned\""]),
                                               ("libother.so", ["-DFX_TAG=\"-other\""])])
        let file = plugins + "/libunpinned.so"
        // The test environment has no lock file at the default location.
        let noLock = try mamlHost(["check", file, "--require-trusted"])
        #expect(noLock.status == 2)
        #expect(noLock.stderr.contains("--require-trusted: no lock file, so no plugin is trusted"), "\(noLock.stderr)")
        #expect(noLock.stdout.isEmpty)

        let dir = try temporaryDirectory()
        #expect(try mamlHost(["trust", "add", "--trust-file", "t.lock", plugins + "/libother.so"], in: dir).status == 0)
        let unpinned = try mamlHost(["check", file, "--require-trusted", "--trust-file", "t.lock"], in: dir)
        #expect(unpinned.status == 2)
        #expect(unpinned.stderr.contains("\(file): refused: not pinned in \(dir)/t.lock"), "\(unpinned.stderr)")

        let byModel = try mamlHost(["check", "linreg-unpinned", "--plugin-dir", plugins, "--require-trusted"])
        #expect(byModel.status == 2)
        #expect(byModel.stderr.contains("--require-trusted: no lock file"), "\(byModel.stderr)")
    }

    @Test("check applies the ownership rule: a plugin in a directory owned by another user is not run",
          .enabled(if: geteuid() == 0, "chown to another uid needs root"))
    func checkOwnership() throws {
        let plugins = try buildFixturePlugins([("libforeign.so", ["-DFX_TAG=\"-foreign\""])])
        chown(plugins, 12345, 12345)
        let run = try mamlHost(["check", plugins + "/libforeign.so"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("refused: directory \(plugins) is owned by uid 12345 (no such user), not by root"), "\(run.stderr)")
        #expect(run.stderr.contains("chown root:root \(plugins)"))
        #expect(run.stdout.isEmpty)
    }

    @Test("trust add refuses a file that would never load and pins nothing; trust list flags a pin that would be refused")
    func trustAddRefuses() throws {
        let plugins = try buildFixturePlugins([("libaddme.so", ["-DFX_TAG=\"-addme\""]),
                                               ("libnoentry.so", ["-DFX_NO_ENTRY", "-DFX_TAG=\"-noentry\""])])
        let junk = plugins + "/libjunk.so"
        try Data("not an ELF file\n".utf8).write(to: URL(fileURLWithPath: junk))
        let good = plugins + "/libaddme.so"
        let dir = try temporaryDirectory()
        func add(_ files: [String]) throws -> Run { try mamlHost(["trust", "add", "--trust-file", "t.lock"] + files, in: dir) }
        func expectRefused(_ files: [String], _ message: String) throws {
            let run = try add(files)
            #expect(run.status != 0, "\(files) pinned")
            #expect(run.stderr.contains(message), "\(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/t.lock"), "nothing may be pinned")
        }
        try expectRefused([junk], "\(junk): not pinned: not an ELF file")
        try expectRefused([plugins + "/libnoentry.so"], "does not export maml_plugin_registry, so not a maml plugin")
        try expectRefused([plugins], "\(plugins): not pinned: not a regular file")
        chmod(plugins, 0o775)
        try expectRefused([good], "\(good): not pinned: its directory \(plugins) is writable by group (mode 0775)")
        try expectRefused([good], "chmod go-w \(plugins); the host would refuse to load it")
        chmod(plugins, 0o755)
        if geteuid() == 0 {
            chown(plugins, 12345, 12345)
            try expectRefused([good], "directory \(plugins) is owned by uid 12345 (no such user), not by root")
            chown(plugins, 0, 0)
        }
        // One refused file among good ones: none is pinned.
        try expectRefused([good, junk], "nothing pinned: 1 of 2 files refused")

        let ok = try add([good])
        #expect(ok.status == 0 && ok.stdout.contains("pinned \(good)"), "\(ok.stderr)")
        // Pinned and unchanged, but its directory became group-writable: the host would refuse it.
        chmod(plugins, 0o775)
        let list = try mamlHost(["trust", "list", "--trust-file", "t.lock"], in: dir)
        chmod(plugins, 0o755)
        #expect(list.status != 0 && list.stdout.contains("REFUSED"), "\(list.stdout)")
        #expect(list.stderr.contains("refused: \(good): its directory \(plugins) is writable by group"), "\(list.stderr)")
        #expect(try mamlHost(["trust", "list", "--trust-file", "t.lock"], in: dir).stdout.contains("ok"))
    }
}
