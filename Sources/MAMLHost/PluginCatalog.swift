import Foundation

// MARK: - The catalog: every model found, every problem met

/// The models of every plugin found in the search directories, and what went
/// wrong with the rest. Building one never throws: bad files are problems.
public struct PluginCatalog: Sendable {
    /// Valid models, in discovery order (directory order, then file name).
    public private(set) var models: [ModelEntry] = []
    /// Plugin files that loaded (even if some or all of their models were refused).
    public private(set) var plugins: [PluginInfo] = []
    /// Problems with directories, files and models, in discovery order.
    public private(set) var problems: [PluginProblem] = []
    /// The directories that were searched, in order.
    public private(set) var searchedDirectories: [SearchDirectory] = []
    /// Files scanned in a child process this time, and files whose scan verdict came from the cache.
    public private(set) var scansRun = 0
    public private(set) var scansCached = 0

    /// Builds the catalog from the standard search list (executable directory,
    /// ./models, MAML_PLUGIN_PATH, then `extraDirectories`) plus explicit plugin `files`.
    public static func discover(extraDirectories: [String] = [], files: [String] = [],
                                trust: TrustPolicy = TrustPolicy(), scanner: PluginScanner? = nil) -> PluginCatalog {
        load(directories: PluginDiscovery.searchDirectories(extraDirectories: extraDirectories), files: files,
             trust: trust, scanner: scanner)
    }

    /// Builds the catalog from exactly these directories and files.
    public static func load(directories: [SearchDirectory], files: [String] = [],
                            workingDirectory: String = FileManager.default.currentDirectoryPath,
                            trust: TrustPolicy = .permissionsOnly, scanner: PluginScanner? = nil) -> PluginCatalog {
        var catalog = PluginCatalog()
        catalog.searchedDirectories = directories
        let (candidates, discoveryProblems) = PluginDiscovery.candidates(
            in: directories, files: files, workingDirectory: workingDirectory)
        catalog.problems = discoveryProblems
        // The trust policy (docs/security.md): a lock that cannot be read refuses everything.
        let lock: TrustLock?
        switch trust.activeLock() {
        case .success(let l): lock = l
        case .failure(let problem):
            catalog.problems.append(problem)
            return catalog
        }
        var cache = ScanCache()
        if let path = scanner?.cachePath {
            let (loaded, note) = ScanCache.load(path)
            cache = loaded
            if let note { catalog.problems.append(PluginProblem(.warning, path: path, note)) }
        }
        defer { if let path = scanner?.cachePath { cache.save(path) } }
        for candidate in candidates {
            let admitted: AdmittedPlugin
            switch trust.admit(candidate, lock: lock) {
            case .success(let a): admitted = a
            case .failure(let problem): catalog.problems.append(problem); continue
            }
            defer { admitted.release() }
            if let scanner, !catalog.scanSaysLoad(candidate, admitted, scanner, &cache) { continue }
            switch loadPlugin(candidate, loadPath: admitted.loadPath) {
            case .ignored: continue
            case .refused(let problem): catalog.problems.append(problem)
            case .loaded(let info, let models, let problems):
                catalog.plugins.append(info)
                catalog.models += models
                catalog.problems += problems
            }
        }
        catalog.refuseDuplicateIDs()
        catalog.warnAboutSharedNames()
        return catalog
    }

    // MARK: Out-of-process scan

    /// The scan verdict for `candidate` (cached, or from a child process): true if the file is a
    /// plugin the parent may dlopen; otherwise its problems are recorded and it is skipped.
    private mutating func scanSaysLoad(_ candidate: PluginCandidate, _ admitted: AdmittedPlugin,
                                       _ scanner: PluginScanner, _ cache: inout ScanCache) -> Bool {
        let path = candidate.path
        let sha: String
        do { sha = try admitted.hash() } catch {
            problems.append(PluginProblem(.error, path: path, "cannot hash: \(error.message)")); return false
        }
        let report: ScanReport
        if let cached = cache.lookup(path: path, size: admitted.size, mtime: admitted.mtimeNanoseconds, sha256: sha) {
            report = cached
            scansCached += 1
        } else {
            let scan = scanner.scanInChild(candidate)
            report = scan.report
            scansRun += 1
            if scan.cacheable && (report.sha256 == sha || report.verdict == .crashed) {
                cache.store(.init(path: path, size: admitted.size, mtimeNanoseconds: admitted.mtimeNanoseconds,
                                  sha256: sha, report: report))
            }
        }
        if !report.sha256.isEmpty && report.sha256 != sha {
            problems.append(PluginProblem(.error, path: path, "refused: the file changed while it was being scanned"))
            return false
        }
        switch report.verdict {
        case .plugin: return true
        case .ignored: return false
        case .refused, .crashed:
            problems += report.problems.map { PluginProblem(.error, path: path, $0) }
            return false
        }
    }

    // MARK: Duplicates

    /// Two descriptors with one id cannot both be "the" model: refuse every one, naming all files.
    private mutating func refuseDuplicateIDs() {
        let byID = Dictionary(grouping: models, by: \.id).filter { $0.value.count > 1 }
        guard !byID.isEmpty else { return }
        for model in models where byID[model.id] != nil {
            let others = byID[model.id]!.map(\.pluginPath).filter { $0 != model.pluginPath }
            let elsewhere = others.isEmpty ? "more than once in this plugin" : "also by " + others.joined(separator: ", ")
            problems.append(PluginProblem(.error, path: model.pluginPath,
                "model id '\(model.id)' is defined \(elsewhere); all of them are refused",
                modelID: model.id, modelName: model.name))
        }
        models.removeAll { byID[$0.id] != nil }
    }

    /// Different ids sharing a name stay loaded, but the name alone cannot pick one.
    private mutating func warnAboutSharedNames() {
        for (name, group) in Dictionary(grouping: models, by: \.name) where group.count > 1 {
            let list = group.map { "\($0.id) (\($0.pluginPath))" }.joined(separator: ", ")
            problems.append(PluginProblem(.warning, path: group[0].pluginPath,
                "model name '\(name)' is used by \(list); select these models by id", modelName: name))
        }
    }

    // MARK: Lookup

    /// The model whose id or name is `key` (an id wins). An unknown key lists the known names.
    public func model(named key: String) throws(HostError) -> ModelEntry {
        if let byID = models.first(where: { $0.id == key }) { return byID }
        let byName = models.filter { $0.name == key }
        if byName.count == 1 { return byName[0] }
        if byName.count > 1 {
            let ids = byName.map { "\($0.id) (\($0.pluginPath))" }.joined(separator: ", ")
            throw HostError(displaySafe("model name '\(key)' is ambiguous: \(ids); use the id"))
        }
        if let refused = problems.first(where: { $0.modelID == key || $0.modelName == key }) {
            throw HostError(displaySafe("model '\(key)' was refused: \(refused.path): \(refused.message)"))
        }
        if models.isEmpty {
            let searched = searchedDirectories.map(\.path).joined(separator: ", ")
            throw HostError("unknown model '\(key)': no models found (searched \(searched.isEmpty ? "nothing" : searched))")
        }
        let known = models.map(\.name).sorted().joined(separator: ", ")
        throw HostError(displaySafe("unknown model '\(key)'; known models: \(known)"))
    }

    /// A new instance of the model `key` (id or name) from a JSON config.
    public func instantiate(_ key: String, config: String = "{}") throws(HostError) -> PluginBackbone {
        try PluginBackbone(model: model(named: key), config: config)
    }

    /// Problems about the file at `path`.
    public func problems(forFile path: String) -> [PluginProblem] {
        problems.filter { $0.path == path }
    }
}
