import Foundation
import Testing
@testable import MAMLHost

// MARK: - Search directories, MAML_PLUGIN_PATH, dedupe, the executable's directory

@Suite("Plugin discovery")
struct DiscoveryTests {
    @Test("search order: executable dir, ./models, MAML_PLUGIN_PATH entries, explicit dirs; all absolute")
    func searchOrder() {
        let dirs = PluginDiscovery.searchDirectories(
            extraDirectories: ["extra", "/abs/extra/"],
            environment: ["MAML_PLUGIN_PATH": "/env/one::relative/two:./three"],
            workingDirectory: "/work/here", executableDirectory: "/opt/bin")
        #expect(dirs == [
            SearchDirectory(path: "/opt/bin", origin: .executable),
            SearchDirectory(path: "/work/here/models", origin: .workingDirectory),
            SearchDirectory(path: "/env/one", origin: .environment),          // the empty entry is skipped
            SearchDirectory(path: "/work/here/relative/two", origin: .environment),
            SearchDirectory(path: "/work/here/three", origin: .environment),
            SearchDirectory(path: "/work/here/extra", origin: .explicit),
            SearchDirectory(path: "/abs/extra", origin: .explicit),
        ])
        let withoutExe = PluginDiscovery.searchDirectories(environment: [:], workingDirectory: "/w",
                                                           executableDirectory: nil)
        #expect(withoutExe == [SearchDirectory(path: "/w/models", origin: .workingDirectory)])
    }

    @Test("the executable directory is this test bundle's directory")
    func executableDirectory() throws {
        let directory = try #require(PluginDiscovery.executableDirectory())
        #expect(directory.hasPrefix("/"))
        #expect(FileManager.default.fileExists(atPath: directory))
    }

    @Test("the build folder (this test bundle's directory) yields bundled plugins without errors")
    func buildFolderLoadsCleanly() throws {
        let directory = try #require(PluginDiscovery.executableDirectory())
        let catalog = PluginCatalog.load(directories: [SearchDirectory(path: directory, origin: .executable)])
        // Bundled plugins (libmaml_mlp.so, ...) either load or, while still placeholders, are
        // ignored: the build folder must never produce errors.
        #expect(catalog.problems.filter { $0.severity == .error }.isEmpty, "\(catalog.problems)")
    }

    @Test("MAML_PLUGIN_PATH: plugins load from it; a missing directory is a warning, not an error")
    func environmentPath() throws {
        let fixtures = try fixtures()
        let missing = fixtures.root + "/not-there"
        let dirs = PluginDiscovery.searchDirectories(
            environment: ["MAML_PLUGIN_PATH": "\(missing):\(fixtures.links)"],
            workingDirectory: fixtures.root, executableDirectory: nil)
        let catalog = PluginCatalog.load(directories: dirs)
        #expect(catalog.models.map(\.id).sorted() == ["org.test.linreg", "org.test.logreg"])
        #expect(catalog.problems == [PluginProblem(.warning, path: missing, "MAML_PLUGIN_PATH directory does not exist")])
        // ./models under the working directory does not exist either, and that is silent.
        #expect(!catalog.problems.contains { $0.path.hasSuffix("/models") })
    }

    @Test("a missing explicit --plugin-dir is an error naming it")
    func missingExplicitDirectory() throws {
        let fixtures = try fixtures()
        let missing = fixtures.root + "/typo"
        let catalog = PluginCatalog.load(directories: [SearchDirectory(path: missing, origin: .explicit)])
        #expect(catalog.problems.map(\.description) == ["error: \(missing): plugin directory does not exist"])
    }

    @Test("the same file through a symlink or a repeated directory is one plugin")
    func dedupeByInode() throws {
        let fixtures = try fixtures()
        let good = SearchDirectory(path: fixtures.root + "/exe", origin: .explicit)
        let catalog = PluginCatalog.load(directories: [
            SearchDirectory(path: fixtures.links, origin: .explicit), good, good,
        ], files: [fixtures.links + "/libalias.so"])
        // links/libalias.so -> corpus/libgood.so and exe/libgood.so are two files; the alias and the
        // explicit file are one. So: two plugins, and the two copies clash on ids.
        #expect(catalog.plugins.map(\.path) == [fixtures.links + "/libalias.so", fixtures.executable + "/libgood.so"])
        let linksOnly = PluginCatalog.load(directories: [
            SearchDirectory(path: fixtures.links, origin: .explicit),
            SearchDirectory(path: fixtures.corpus, origin: .explicit),
            SearchDirectory(path: fixtures.links, origin: .explicit),
        ])
        #expect(linksOnly.plugins.filter { $0.pluginID == "org.test.fixture" }.count == 1)
        #expect(try linksOnly.model(named: "linreg").pluginPath == fixtures.links + "/libalias.so")
        #expect(!linksOnly.problems.contains { $0.message.contains("is defined also by") && $0.modelID == "org.test.linreg" })
    }

    @Test("in the executable's directory a library without the entry symbol is ignored silently")
    func executableDirectoryIgnoresOtherLibraries() throws {
        let fixtures = try fixtures()
        let asExecutable = PluginCatalog.load(directories: [SearchDirectory(path: fixtures.executable, origin: .executable)])
        #expect(asExecutable.problems.isEmpty)
        #expect(asExecutable.models.map(\.id).sorted() == ["org.test.linreg", "org.test.logreg"])
        let asExplicit = PluginCatalog.load(directories: [SearchDirectory(path: fixtures.executable, origin: .explicit)])
        #expect(asExplicit.problems.map(\.message) == ["not a maml plugin (no maml_plugin_registry symbol)"])
    }

    @Test("explicit plugin files: any name, must exist")
    func explicitFiles() throws {
        let fixtures = try fixtures()
        let catalog = PluginCatalog.load(directories: [], files: [fixtures.corpusFile("libgood.so.1"),
                                                                  fixtures.root + "/absent.so"])
        #expect(catalog.models.count == 2)
        #expect(catalog.problems.count == 1 && catalog.problems[0].path == fixtures.root + "/absent.so")
        #expect(catalog.problems[0].severity == .error && catalog.problems[0].message.hasPrefix("cannot read: "))
    }

    @Test("relative paths are made absolute against the working directory")
    func absolutePaths() {
        #expect(absolutePath("models", relativeTo: "/a/b") == "/a/b/models")
        #expect(absolutePath("./x/./y/", relativeTo: "/a") == "/a/x/y")
        #expect(absolutePath("/abs//dir/.", relativeTo: "/a") == "/abs/dir")
        #expect(absolutePath("../up", relativeTo: "/a") == "/a/../up")
    }
}
