// MARK: - Out-of-process plugin discovery: crashing and hanging plugins are skipped, verdicts cached
import Foundation
import Testing
import TestSupport

@Suite("Plugin scanning", .slow)
struct PluginScanTests {
    /// `list --json` problems as (file name, message).
    func problems(_ run: Run) throws -> [(file: String, message: String)] {
        let list = try #require(try jsonObject(run.stdout)["problems"] as? [[String: Any]])
        return list.map { (URL(fileURLWithPath: $0["file"] as? String ?? "").lastPathComponent, $0["message"] as? String ?? "") }
    }

    @Test("a plugin crashing or hanging at load is skipped with its reason; good plugins list; a warm list scans only the hung one")
    func crashAndHang() throws {
        let plugins = try buildFixturePlugins([
            ("libcrash.so", ["-DFX_CRASH_AT_LOAD", "-DFX_TAG=\"-crash\""]),
            ("libhang.so", ["-DFX_HANG_AT_LOAD", "-DFX_TAG=\"-hang\""]),
            ("libokay.so", ["-DFX_TAG=\"-okay\""]),
        ])
        let cache = try temporaryDirectory(), aside = try temporaryDirectory()
        let env = ["XDG_CACHE_HOME": cache]
        // Cold, without the hanging plugin and with the default deadline (a loaded machine can
        // take seconds to load a good plugin): crash reported, good plugins list, verdicts cached.
        try FileManager.default.moveItem(atPath: plugins + "/libhang.so", toPath: aside + "/libhang.so")
        let cold = try mamlHost(["list", "--json", "--plugin-dir", plugins], environment: env)
        #expect(cold.status == 0, "\(cold.stderr)")
        let object = try jsonObject(cold.stdout)
        let ids = Set(try #require(object["models"] as? [[String: Any]]).compactMap { $0["id"] as? String })
        #expect(ids.isSuperset(of: ["org.test.linreg-okay", "org.test.logreg-okay", "org.mamlzoo.mlp"]), "\(ids)")
        #expect(!ids.contains { $0.hasSuffix("-crash") })
        #expect(try problems(cold).contains { $0.file == "libcrash.so" && $0.message == "skipped: crashed during load (SIGSEGV)" })
        let coldScanned = try #require((object["scan"] as? [String: Any])?["scanned"] as? Int)
        #expect(coldScanned >= 3)

        // The hanging plugin is killed at --scan-timeout; only it is scanned, the rest come from the cache.
        try FileManager.default.moveItem(atPath: aside + "/libhang.so", toPath: plugins + "/libhang.so")
        let args = ["list", "--json", "--plugin-dir", plugins, "--scan-timeout", "4"]
        let hung = try mamlHost(args, environment: env)
        #expect(hung.status == 0, "\(hung.stderr)")
        let found = try problems(hung)
        #expect(found.contains { $0.file == "libhang.so"
            && $0.message == "skipped: hung during load (killed after 4 s; --scan-timeout allows more)" }, "\(found)")
        #expect(found.contains { $0.file == "libcrash.so" })
        #expect(try jsonObject(hung.stdout)["models"].map { "\($0)".contains("linreg-okay") } == true)
        let hungScan = try #require(try jsonObject(hung.stdout)["scan"] as? [String: Any])
        #expect(hungScan["scanned"] as? Int == 1 && hungScan["cached"] as? Int == coldScanned)

        // Warm: the same answers; a hang is not remembered (it may have been a busy machine), so
        // the hung file is scanned again and nothing else is.
        let warm = try mamlHost(args, environment: env)
        let warmScan = try #require(try jsonObject(warm.stdout)["scan"] as? [String: Any])
        #expect(warmScan["scanned"] as? Int == 1 && warmScan["cached"] as? Int == coldScanned)
        #expect(try problems(warm).map(\.message) == found.map(\.message))

        // A changed file is scanned again; the table form still lists good models.
        try FileManager.default.removeItem(atPath: plugins + "/libhang.so")
        let table = try mamlHost(["list", "--plugin-dir", plugins], environment: env)
        #expect(table.status == 0 && table.stdout.contains("linreg-okay"))
        #expect(table.stderr.contains("libcrash.so: skipped: crashed during load (SIGSEGV)"))

        // A corrupt cache is ignored with a note and rebuilt.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: cache + "/maml-zoo/plugin-scan.json"))
        let rebuilt = try mamlHost(["list", "--json", "--plugin-dir", plugins], environment: env)
        #expect(try problems(rebuilt).contains { $0.message.contains("is unreadable or corrupt; ignored") })
        #expect((try jsonObject(rebuilt.stdout)["scan"] as? [String: Any])?["scanned"] as? Int ?? 0 >= 3)
    }

    @Test("trust add, list and remove through the command line; a modified pinned plugin is refused")
    func trustCommands() throws {
        let plugins = try buildFixturePlugins([("libpin.so", ["-DFX_TAG=\"-pin\""])])
        let dir = try temporaryDirectory()
        let file = plugins + "/libpin.so"
        let add = try mamlHost(["trust", "add", "--trust-file", "t.lock", file], in: dir)
        #expect(add.status == 0 && add.stdout.contains("pinned \(file)"), "\(add.stderr)")
        let pinned = try mamlHost(["list", "--trust-file", "t.lock", "--plugin-dir", plugins], in: dir)
        #expect(pinned.stdout.contains("linreg-pin"))
        // Bundled plugins are not pinned in this lock: refused, and said so.
        #expect(pinned.stderr.contains("libmaml_mlp.so: refused: not pinned in \(dir)/t.lock"))

        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.seekToEnd(); try handle.write(contentsOf: Data("x".utf8)); try handle.close()
        let changed = try mamlHost(["list", "--trust-file", "t.lock", "--plugin-dir", plugins], in: dir)
        #expect(!changed.stdout.contains("linreg-pin"))
        #expect(changed.stderr.contains("libpin.so: refused: changed since it was pinned"))
        let status = try mamlHost(["trust", "list", "--trust-file", "t.lock"], in: dir)
        #expect(status.status != 0 && status.stdout.contains("CHANGED"))

        let remove = try mamlHost(["trust", "remove", "--trust-file", "t.lock", file], in: dir)
        #expect(remove.status == 0 && remove.stdout.contains("unpinned"))
        #expect(try mamlHost(["trust", "list", "--trust-file", "t.lock"], in: dir).stdout.contains("no plugins pinned"))
    }
}
