// MARK: - Out-of-process plugin discovery: crashing and hanging plugins are skipped, verdicts cached
import Foundation
import Testing

@Suite("Plugin scanning")
struct PluginScanTests {
    /// `list --json` problems as (file name, message).
    func problems(_ run: Run) throws -> [(file: String, message: String)] {
        let list = try #require(try jsonObject(run.stdout)["problems"] as? [[String: Any]])
        return list.map { (URL(fileURLWithPath: $0["file"] as? String ?? "").lastPathComponent, $0["message"] as? String ?? "") }
    }

    @Test("a plugin crashing or hanging at load is skipped with its reason; good plugins list; a warm list scans nothing")
    func crashAndHang() throws {
        let plugins = try buildFixturePlugins([
            ("libcrash.so", ["-DFX_CRASH_AT_LOAD", "-DFX_TAG=\"-crash\""]),
            ("libhang.so", ["-DFX_HANG_AT_LOAD", "-DFX_TAG=\"-hang\""]),
            ("libokay.so", ["-DFX_TAG=\"-okay\""]),
        ])
        let cache = try temporaryDirectory()
        let env = ["XDG_CACHE_HOME": cache]
        let args = ["list", "--json", "--plugin-dir", plugins, "--scan-timeout", "4"]
        let cold = try mamlHost(args, environment: env)
        #expect(cold.status == 0, "\(cold.stderr)")
        let object = try jsonObject(cold.stdout)
        let ids = Set(try #require(object["models"] as? [[String: Any]]).compactMap { $0["id"] as? String })
        #expect(ids.isSuperset(of: ["org.test.linreg-okay", "org.test.logreg-okay", "org.mamlzoo.mlp"]), "\(ids)")
        #expect(!ids.contains { $0.hasSuffix("-crash") || $0.hasSuffix("-hang") })
        let found = try problems(cold)
        #expect(found.contains { $0.file == "libcrash.so" && $0.message == "skipped: crashed during load (SIGSEGV)" }, "\(found)")
        #expect(found.contains { $0.file == "libhang.so" && $0.message == "skipped: hung during load (killed after 4 s)" }, "\(found)")
        let coldScan = try #require(object["scan"] as? [String: Any])
        #expect(coldScan["scanned"] as? Int ?? 0 >= 3)

        // Warm: the same answers, no child started.
        let warm = try mamlHost(args, environment: env)
        let warmScan = try #require(try jsonObject(warm.stdout)["scan"] as? [String: Any])
        #expect(warmScan["scanned"] as? Int == 0)
        #expect(warmScan["cached"] as? Int == coldScan["scanned"] as? Int)
        #expect(try problems(warm).map(\.message) == found.map(\.message))

        // A changed file is scanned again; the table form still lists good models.
        try FileManager.default.removeItem(atPath: plugins + "/libhang.so")
        let table = try mamlHost(["list", "--plugin-dir", plugins], environment: env)
        #expect(table.status == 0 && table.stdout.contains("linreg-okay"))
        #expect(table.stderr.contains("libcrash.so: skipped: crashed during load (SIGSEGV)"))

        // A corrupt cache is ignored with a note and rebuilt.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: cache + "/maml-zoo/plugin-scan.json"))
        let rebuilt = try mamlHost(args, environment: env)
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
