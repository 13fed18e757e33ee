import MAMLPluginABI
import MAMLSchema
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Loading one plugin file
//
// dlopen(RTLD_NOW | RTLD_LOCAL) by absolute path, dlerror() copied at once,
// never dlclose (Swift images cannot be unloaded safely). The entry is called
// with the host's ABI version and a host API table; the registry and every
// descriptor are validated before anything of theirs is called again. A bad
// descriptor is skipped alone; its siblings still load.

/// What loading one file gave.
package enum LoadOutcome {
    /// The file is a plugin: its info, its valid models, problems with the rest.
    case loaded(PluginInfo, [ModelEntry], [PluginProblem])
    /// Not a plugin, and not worth mentioning (no entry symbol in the executable's directory).
    case ignored
    /// Refused as a whole.
    case refused(PluginProblem)
}

/// Sizes of the v1 structs: a plugin may write larger ones, never smaller.
let registrySizeV1 = MemoryLayout<maml_registry>.size
let descriptorSizeV1 = MemoryLayout<maml_model_desc>.size
/// More models than this in one registry means model_count is garbage.
let maxModelsPerPlugin: UInt32 = 4096

/// Loads and validates the plugin at `candidate.path`, dlopen()ing `loadPath` (default: that path;
/// the trust policy passes /proc/self/fd/N for a file it verified through descriptor N).
package func loadPlugin(_ candidate: PluginCandidate, loadPath: String? = nil) -> LoadOutcome {
    let path = candidate.path
    func refuse(_ message: String) -> LoadOutcome { .refused(PluginProblem(.error, path: path, message)) }

    // MARK: dlopen and the entry symbol
    _ = dlerror()
    guard let handle = dlopen(loadPath ?? path, RTLD_NOW | RTLD_LOCAL) else {
        var reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
        if let loadPath, loadPath != path { reason = reason.replacing(loadPath, with: path) }
        return refuse("cannot load: \(reason)")
    }
    // `handle` is deliberately never closed.
    _ = dlerror()
    // (dlsym on a handle also searches the file's dependencies; a library that
    // merely links a plugin would show up as a duplicate of it. Telling them
    // apart needs dladdr, which Glibc's Swift module does not expose.)
    guard let symbol = dlsym(handle, MAML_ENTRY_SYMBOL) else {
        return candidate.origin == .executable
            ? .ignored : refuse("not a maml plugin (no \(MAML_ENTRY_SYMBOL) symbol)")
    }
    let entry = unsafeBitCast(symbol, to: maml_entry_fn.self)

    // MARK: Registry negotiation
    let hostMajor = UInt32(MAML_ABI_MAJOR), hostMinor = UInt32(MAML_ABI_MINOR)
    guard let registry = entry(hostMajor, hostMinor, hostAPI(forPluginAt: path)) else {
        return refuse("\(MAML_ENTRY_SYMBOL) returned no registry; it may have logged why")
    }
    // struct_size and abi lead every registry of every major version: check the
    // version first, so a plugin for another major is named as such.
    let raw = UnsafeRawPointer(registry)
    let size = Int(raw.load(as: UInt32.self))
    let abiOffset = MemoryLayout<maml_registry>.offset(of: \.abi)!
    if size >= abiOffset + MemoryLayout<maml_abi_version>.size {
        let abi = raw.load(fromByteOffset: abiOffset, as: maml_abi_version.self)
        guard abi.major == hostMajor else {
            return refuse("built for plugin ABI \(abi.major).\(abi.minor), this host speaks \(hostMajor).\(hostMinor)")
        }
    }
    guard size >= registrySizeV1 else {
        return refuse("registry struct_size is \(size) bytes, shorter than the ABI 1.0 registry (\(registrySizeV1) bytes)")
    }
    let r = registry.pointee
    guard r.requires_minor <= hostMinor else {
        return refuse("requires plugin ABI \(hostMajor).\(r.requires_minor) or newer, this host speaks \(hostMajor).\(hostMinor)")
    }
    let pluginID: String, pluginVersion: String, builtWith: String
    do {
        pluginID = try readString(r.plugin_id, "registry plugin_id")
        pluginVersion = try readString(r.plugin_version, "registry plugin_version")
        builtWith = try readString(r.built_with, "registry built_with")
    } catch { return refuse(error.message) }
    let hostToolchain = swiftToolchain
    if builtWith.hasPrefix("swift-") && builtWith != hostToolchain {
        return refuse("built with \(builtWith), this host is \(hostToolchain); Swift is not ABI-stable on Linux: rebuild the plugin with this toolchain")
    }
    guard let modelAt = r.model_at else { return refuse("registry model_at is NULL") }
    guard r.model_count <= maxModelsPerPlugin else {
        return refuse("registry model_count is \(r.model_count), more than \(maxModelsPerPlugin): the registry looks corrupt")
    }

    // MARK: Descriptors, each on its own
    let info = PluginInfo(path: path, pluginID: pluginID, pluginVersion: pluginVersion, builtWith: builtWith,
                          abiMajor: r.abi.major, abiMinor: r.abi.minor, modelIDs: [])
    var models: [ModelEntry] = []
    var problems: [PluginProblem] = []
    for index in 0..<r.model_count {
        switch validateDescriptor(modelAt(index), index: index, plugin: info) {
        case .success(let model): models.append(model)
        case .failure(let problem): problems.append(problem)
        }
    }
    if r.model_count == 0 {
        problems.append(PluginProblem(.warning, path: path, "registry offers no models"))
    }
    var loaded = info
    loaded.modelIDs = models.map(\.id)
    return .loaded(loaded, models, problems)
}

// MARK: - Descriptor validation

private func validateDescriptor(_ pointer: UnsafePointer<maml_model_desc>?, index: UInt32,
                                plugin: PluginInfo) -> Result<ModelEntry, PluginProblem> {
    let path = plugin.path
    guard let pointer else {
        return .failure(PluginProblem(.error, path: path, "model #\(index): model_at(\(index)) returned NULL"))
    }
    let size = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
    guard size >= descriptorSizeV1 else {
        return .failure(PluginProblem(.error, path: path,
            "model #\(index): descriptor struct_size is \(size) bytes, shorter than the ABI 1.0 descriptor (\(descriptorSizeV1) bytes)"))
    }
    let d = pointer.pointee
    // Read the id first so later messages can name the model.
    let id = try? readString(d.id, "id")
    let name = try? readString(d.name, "name")
    let label = id.map { "model #\(index) ('\($0)')" } ?? "model #\(index)"
    do {
        let id = try readString(d.id, "id")
        let name = try readString(d.name, "name")
        let version = try readString(d.version, "version")
        let family = try readString(d.family, "family", allowEmpty: true)
        let summary = try readString(d.summary, "summary", allowEmpty: true)
        let schema = try readString(d.config_schema, "config_schema")
        let functions: [(String, Bool)] = [
            ("create", d.create == nil), ("destroy", d.destroy == nil),
            ("param_count", d.param_count == nil), ("input_shape", d.input_shape == nil),
            ("output_shape", d.output_shape == nil), ("loss_kind", d.loss_kind == nil),
            ("init_params", d.init_params == nil), ("forward", d.forward == nil),
            ("loss_grad", d.loss_grad == nil), ("last_error", d.last_error == nil),
            ("get_extension", d.get_extension == nil),
        ]
        if let missing = functions.first(where: { $0.1 })?.0 {
            throw HostError("required function \(missing) is NULL")
        }
        try validateSchema(schema)
        return .success(ModelEntry(
            id: id, name: name, version: version, family: family, summary: summary, configSchema: schema,
            pluginPath: path, pluginID: plugin.pluginID, pluginVersion: plugin.pluginVersion,
            builtWith: plugin.builtWith, descriptor: pointer))
    } catch let error as HostError {
        return .failure(PluginProblem(.error, path: path, "\(label): \(error.message)",
                                      modelID: id, modelName: name))
    } catch {
        return .failure(PluginProblem(.error, path: path, "\(label): \(error)",
                                      modelID: id, modelName: name))
    }
}

// MARK: - Strings from the plugin

/// A plugin string: non-NULL, valid UTF-8 and (unless allowed) non-empty.
func readString(_ pointer: UnsafePointer<CChar>?, _ field: String,
                allowEmpty: Bool = false) throws(HostError) -> String {
    guard let pointer else { throw HostError("\(field) is NULL") }
    guard let text = String(validatingCString: pointer) else { throw HostError("\(field) is not valid UTF-8") }
    if text.isEmpty && !allowEmpty { throw HostError("\(field) is empty") }
    return text
}
