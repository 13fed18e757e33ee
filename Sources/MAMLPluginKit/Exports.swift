import MAMLPluginABI
import Synchronization

// MARK: - Descriptors, registry and entry point for Swift plugins
//
// A complete plugin:
//
//     import MAMLPluginABI
//     import MAMLPluginKit
//
//     let registry = PluginRegistry(pluginID: "org.example.plugins.mine", version: "1.0.0", models: [
//         ModelDescriptor(MyModel.self) { MyModel.create($0, $1, $2, $3) },
//     ])
//
//     @_cdecl("maml_plugin_registry")
//     public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
//                                    _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
//         registry.entry(hostMajor: major, hostMinor: minor, host: host)
//     }
//
// Why the closure: maml_model_desc.create has no context argument, so each model type
// needs its own C function, and Swift can only form one from a closure that names the
// concrete type. Descriptors, registries and their strings live for the whole process.

/// The C signature of maml_model_desc.create.
public typealias CreateFunction = @convention(c) (
    UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<CChar>?, Int
) -> maml_status

extension PluginModel {
    /// The create function of this model type; use as `{ MyModel.create($0, $1, $2, $3) }`.
    public static func create(_ configJSON: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                              _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int) -> maml_status {
        createInstance(Self.self, configJSON, out, err, errLen)
    }
}

/// Validates the config against M's schema, builds an M and hands the host an instance.
/// Every failure is a status plus a message in err[0..<errLen] (truncated, NUL-terminated).
public func createInstance<M: PluginModel>(_ type: M.Type, _ configJSON: UnsafePointer<CChar>?,
                                           _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                           _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int) -> maml_status {
    func fail(_ status: PluginError.Status, _ message: String) -> maml_status {
        if let err, errLen > 0 { copyCString(message, into: err, capacity: errLen) }
        return status.rawValue
    }
    guard let out else { return fail(.invalidArgument, "create: out is NULL") }
    out.pointee = nil
    var text: String? = nil
    if let configJSON {
        guard let s = String(validatingCString: configJSON) else {
            return fail(.invalidArgument, "config is not valid UTF-8")
        }
        text = s
    }
    let schema: ConfigSchema
    do throws(ConfigSchemaError) { schema = try ConfigSchema(json: M.info.configSchema) } catch {
        return fail(.internal, "model \(M.info.id): \(error.message)")
    }
    let config: JSONObject
    do throws(ConfigError) { config = try schema.validate(text) } catch { return fail(.invalidArgument, error.message) }
    do throws(PluginError) {
        let box = try InstanceBox(model: try M(config: config), modelType: M.self)
        out.pointee = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
        if let err, errLen > 0 { err[0] = 0 }
        return MAML_OK
    } catch {
        return fail(error.status, error.message)
    }
}

/// A model type's maml_model_desc, built once and kept for the process.
public struct ModelDescriptor: @unchecked Sendable {
    /// The C descriptor (process lifetime).
    public let pointer: UnsafePointer<maml_model_desc>
    /// The Swift type it describes.
    public let modelType: any PluginModel.Type

    /// `create` must be `{ M.create($0, $1, $2, $3) }` for the same M.
    public init<M: PluginModel>(_ type: M.Type, create: CreateFunction) {
        let info = M.info
        func s(_ text: String) -> UnsafePointer<CChar> { UnsafePointer(makeCString(text)) }
        pointer = UnsafePointer(leak(maml_model_desc(
            struct_size: UInt32(MemoryLayout<maml_model_desc>.size),
            id: s(info.id), name: s(info.name), version: s(info.version), family: s(info.family),
            summary: s(info.summary), config_schema: s(info.configSchema),
            create: create, destroy: Thunks.destroy, param_count: Thunks.paramCount,
            input_shape: Thunks.inputShape, output_shape: Thunks.outputShape, loss_kind: Thunks.lossKind,
            init_params: Thunks.initParams, forward: Thunks.forward, loss_grad: Thunks.lossGrad,
            last_error: Thunks.lastError, get_extension: Thunks.getExtension)))
        modelType = type
    }
}

/// A plugin's maml_registry (process lifetime) and its entry-point logic.
public struct PluginRegistry: @unchecked Sendable {
    /// The C registry, or nil if this process already made `maxRegistries` registries.
    public let pointer: UnsafePointer<maml_registry>?
    public let models: [ModelDescriptor]

    /// How many registries one image can make (model_at has no context: one C thunk per slot).
    public static let maxRegistries = 16

    public init(pluginID: String, version: String, requiresMinor: UInt32 = 0, models: [ModelDescriptor]) {
        self.models = models
        let slot = registrySlots.next.wrappingAdd(1, ordering: .relaxed).oldValue
        guard slot < PluginRegistry.maxRegistries else { pointer = nil; return }
        let table = UnsafeMutablePointer<UnsafePointer<maml_model_desc>>.allocate(capacity: max(models.count, 1))
        for (i, d) in models.enumerated() { (table + i).initialize(to: d.pointer) }
        registrySlots.tables[slot] = (models.count, UnsafePointer(table))
        pointer = UnsafePointer(leak(maml_registry(
            struct_size: UInt32(MemoryLayout<maml_registry>.size),
            abi: maml_abi_version(major: UInt32(MAML_ABI_MAJOR), minor: UInt32(MAML_ABI_MINOR)),
            requires_minor: requiresMinor,
            plugin_id: UnsafePointer(makeCString(pluginID)), plugin_version: UnsafePointer(makeCString(version)),
            built_with: UnsafePointer(makeCString(swiftToolchain)),
            model_count: UInt32(models.count), model_at: modelAtThunks[slot])))
    }

    /// The body of maml_plugin_registry: the registry, or NULL (with a log line) for a
    /// host of another ABI major or an older minor than `requires_minor`.
    public func entry(hostMajor: UInt32, hostMinor: UInt32, host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
        guard let pointer else {
            log(host, MAML_LOG_ERROR, "plugin kit: too many registries in one image (max \(PluginRegistry.maxRegistries))")
            return nil
        }
        let r = pointer.pointee
        if hostMajor != UInt32(MAML_ABI_MAJOR) {
            log(host, MAML_LOG_ERROR, "\(String(cString: r.plugin_id)): built for plugin ABI \(MAML_ABI_MAJOR).\(MAML_ABI_MINOR), host speaks \(hostMajor).\(hostMinor)")
            return nil
        }
        if hostMinor < r.requires_minor {
            log(host, MAML_LOG_ERROR, "\(String(cString: r.plugin_id)): needs plugin ABI \(MAML_ABI_MAJOR).\(r.requires_minor) or newer, host speaks \(hostMajor).\(hostMinor)")
            return nil
        }
        return pointer
    }

    private func log(_ host: UnsafePointer<maml_host_api>?, _ level: Int32, _ message: String) {
        guard let host, host.pointee.struct_size >= UInt32(MemoryLayout<maml_host_api>.size),
              let logFn = host.pointee.log else { return }
        message.withCString { logFn(host.pointee.log_ctx, level, $0) }
    }
}

// MARK: - Registry slots (model_at has no context argument)

private final class RegistrySlots: @unchecked Sendable {
    let next = Atomic<Int>(0)
    /// Written once per slot before its registry pointer exists; read-only afterwards.
    let tables = UnsafeMutablePointer<(count: Int, descriptors: UnsafePointer<UnsafePointer<maml_model_desc>>)>
        .allocate(capacity: PluginRegistry.maxRegistries)
}
private let registrySlots = RegistrySlots()

@inline(__always)
private func modelAt(_ slot: Int, _ index: UInt32) -> UnsafePointer<maml_model_desc>? {
    let t = registrySlots.tables[slot]
    return Int(index) < t.count ? t.descriptors[Int(index)] : nil
}

private typealias ModelAtFunction = @convention(c) (UInt32) -> UnsafePointer<maml_model_desc>?
private let modelAtThunks: [ModelAtFunction] = [
    { modelAt(0, $0) }, { modelAt(1, $0) }, { modelAt(2, $0) }, { modelAt(3, $0) },
    { modelAt(4, $0) }, { modelAt(5, $0) }, { modelAt(6, $0) }, { modelAt(7, $0) },
    { modelAt(8, $0) }, { modelAt(9, $0) }, { modelAt(10, $0) }, { modelAt(11, $0) },
    { modelAt(12, $0) }, { modelAt(13, $0) }, { modelAt(14, $0) }, { modelAt(15, $0) },
]
