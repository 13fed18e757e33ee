import Foundation
import Synchronization
import Testing
@testable import MAMLHost

// MARK: - Loading the corpus: good plugins load, each broken one says why

/// The corpus directory alone, as if given with --plugin-dir.
func corpusCatalog() throws -> (PluginCatalog, BuiltFixtures) {
    let fixtures = try fixtures()
    let catalog = PluginCatalog.load(directories: [SearchDirectory(path: fixtures.corpus, origin: .explicit)])
    return (catalog, fixtures)
}

@Suite("Plugin loading")
struct LoaderTests {
    @Test("the good plugin and every plugin whose flaws show only at create time load")
    func goodModelsLoad() throws {
        let (catalog, _) = try corpusCatalog()
        let ids = Set(catalog.models.map(\.id))
        var expected: Set<String> = ["org.test.linreg", "org.test.logreg",
                                     "org.test.logreg-nullfn",    // its sibling linreg was refused alone
                                     "org.test.logreg-emptyname", "org.test.logreg-badschema"]
        for tag in ["nan", "fail", "badlayout", "badshape", "badloss", "shorthvp", "noext", "v10"] {
            expected.insert("org.test.linreg-\(tag)"); expected.insert("org.test.logreg-\(tag)")
        }
        #expect(ids == expected)

        let linreg = try catalog.model(named: "linreg")
        #expect(linreg.id == "org.test.linreg" && linreg.version == "1.0.0" && linreg.family == "linear")
        #expect(linreg.summary == "linear regression (test fixture)")
        #expect(linreg.pluginPath.hasSuffix("/corpus/libgood.so") && linreg.pluginPath.hasPrefix("/"))
        #expect(linreg.pluginID == "org.test.fixture" && linreg.pluginVersion == "0.1.0" && linreg.builtWith == "c")
        #expect(linreg.configSchema.contains("\"outputs\""))
        let good = try #require(catalog.plugins.first { $0.path == linreg.pluginPath })
        #expect(good.modelIDs == ["org.test.linreg", "org.test.logreg"] && good.abiMajor == 1 && good.abiMinor == 1)
    }

    /// Each broken file: the text every one of its problems must contain.
    static let brokenFiles: [(file: String, message: String)] = [
        ("libnoentry.so", "not a maml plugin (no maml_plugin_registry symbol)"),
        ("libnull.so", "maml_plugin_registry returned no registry; it may have logged why"),
        ("libabi2.so", "built for plugin ABI 2.0, this host speaks 1.1"),
        ("libminor.so", "requires plugin ABI 1.2 or newer, this host speaks 1.1"),
        ("libshortreg.so", "registry struct_size is 48 bytes, shorter than the ABI 1.0 registry (56 bytes)"),
        ("libswift59.so", "built with swift-5.9, this host is swift-6.3.1; Swift is not ABI-stable on Linux: rebuild the plugin with this toolchain"),
        ("libnullfn.so", "model #0 ('org.test.linreg-nullfn'): required function loss_grad is NULL"),
        ("libemptyname.so", "model #0 ('org.test.linreg-emptyname'): name is empty"),
        ("libbadschema.so", "model #0 ('org.test.linreg-badschema'): config_schema is not a valid schema: config schema is not valid JSON"),
        ("libselfdup.so", "model id 'org.test.linreg-selfdup' is defined more than once in this plugin; all of them are refused"),
        ("garbage.so", "cannot load: "),
        ("libgone.so", "broken symbolic link, skipped"),
    ]

    @Test("each broken plugin gives its own clear error naming the file", arguments: brokenFiles)
    func brokenPluginSaysWhy(file: String, message: String) throws {
        let (catalog, fixtures) = try corpusCatalog()
        let path = fixtures.corpusFile(file)
        let problems = catalog.problems(forFile: path)
        #expect(!problems.isEmpty, "no problem reported for \(file); all: \(catalog.problems)")
        for problem in problems {
            #expect(problem.message.contains(message), "\(file): \(problem.message)")
            #expect(problem.description.contains(path))
        }
    }

    @Test("the same model id in two plugins refuses both, naming both files")
    func duplicateIDsAcrossPlugins() throws {
        let (catalog, fixtures) = try corpusCatalog()
        let a = fixtures.corpusFile("libdupa.so"), b = fixtures.corpusFile("libdupb.so")
        #expect(!catalog.models.contains { $0.id.hasSuffix("-dup") })
        let fromA = catalog.problems(forFile: a), fromB = catalog.problems(forFile: b)
        #expect(fromA.count == 2 && fromB.count == 2) // linreg-dup and logreg-dup, each side
        #expect(fromA.contains { $0.message == "model id 'org.test.linreg-dup' is defined also by \(b); all of them are refused" })
        #expect(fromB.contains { $0.message == "model id 'org.test.linreg-dup' is defined also by \(a); all of them are refused" })
        // Both plugins loaded; only their models were refused.
        #expect(catalog.plugins.contains { $0.path == a } && catalog.plugins.contains { $0.path == b })
    }

    @Test("non-candidates are ignored: versioned .so.N names, directories, other extensions")
    func nonCandidatesIgnored() throws {
        let (catalog, fixtures) = try corpusCatalog()
        for name in ["libgood.so.1", "dir.so", "notes.txt"] {
            let path = fixtures.corpusFile(name)
            #expect(catalog.problems(forFile: path).isEmpty && !catalog.plugins.contains { $0.path == path })
        }
        // libgood.so.1 is a copy of libgood.so: had it loaded, linreg would be a refused duplicate.
        #expect(catalog.models.contains { $0.id == "org.test.linreg" })
        // Nothing but the listed broken files and the duplicates has a problem.
        let expectedFiles = Set(Self.brokenFiles.map { fixtures.corpusFile($0.file) }
            + [fixtures.corpusFile("libdupa.so"), fixtures.corpusFile("libdupb.so")])
        #expect(Set(catalog.problems.map(\.path)) == expectedFiles, "\(catalog.problems)")
    }

    @Test("lookup by name or id; unknown names list the known ones; refused models say why")
    func lookup() throws {
        let (catalog, _) = try corpusCatalog()
        #expect(try catalog.model(named: "org.test.logreg").name == "logreg")
        #expect(try catalog.model(named: "logreg").id == "org.test.logreg")
        let unknown = #expect(throws: HostError.self) { try catalog.model(named: "resnet") }
        #expect(unknown?.message.hasPrefix("unknown model 'resnet'; known models: linreg, linreg-badlayout,") == true)
        let refused = #expect(throws: HostError.self) { try catalog.model(named: "org.test.linreg-nullfn") }
        #expect(refused?.message.contains("was refused") == true)
        #expect(refused?.message.contains("required function loss_grad is NULL") == true)
        let empty = PluginCatalog.load(directories: [])
        let none = #expect(throws: HostError.self) { try empty.model(named: "mlp") }
        #expect(none?.message == "unknown model 'mlp': no models found (searched nothing)")
    }

    @Test("plugin log messages reach the sink, tagged with the plugin's file name")
    func logSink() throws {
        let received = Mutex<[PluginLogMessage]>([])
        PluginLog.setSink { message in received.withLock { $0.append(message) } }
        defer { PluginLog.setSink(PluginLog.standardErrorSink) }
        let (_, fixtures) = try corpusCatalog()
        let fromNull = received.withLock { $0 }.filter { $0.pluginPath == fixtures.corpusFile("libnull.so") }
        let message = try #require(fromNull.first)
        #expect(message.level == .error && message.text == "fixture refuses this host (deliberate)")
        #expect(message.description == "libnull.so: error: fixture refuses this host (deliberate)")
        // The good plugin logged at debug level on its entry call.
        #expect(received.withLock { $0 }.contains {
            $0.pluginFile == "libgood.so" && $0.level == .debug && $0.text == "fixture registry served"
        })
    }
}
