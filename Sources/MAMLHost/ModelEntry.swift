import MAMLPluginABI

// MARK: - What a catalog holds

/// One loaded plugin file and what its registry says about itself.
public struct PluginInfo: Sendable, Equatable {
    /// Absolute path of the file as found.
    public var path: String
    public var pluginID: String
    public var pluginVersion: String
    /// The toolchain that built it ("c", "swift-6.3.1", ...).
    public var builtWith: String
    /// The plugin ABI it was built against.
    public var abiMajor: UInt32
    public var abiMinor: UInt32
    /// Ids of the models it offered that passed validation (duplicates may still be refused later).
    public var modelIDs: [String]
}

/// A validated model descriptor, ready to instantiate with `PluginBackbone`.
/// Sendable because descriptors are plugin-owned, live for the process and are
/// callable from any thread (ABI rule), and plugins are never unloaded.
public struct ModelEntry: @unchecked Sendable, CustomStringConvertible {
    /// Stable reverse-DNS id ("org.mamlzoo.mlp").
    public let id: String
    /// Short name users type ("mlp").
    public let name: String
    public let version: String
    public let family: String
    public let summary: String
    /// JSON schema of the config object (checked to be a JSON object at load).
    public let configSchema: String
    /// The plugin file it came from, and that plugin's identity.
    public let pluginPath: String
    public let pluginID: String
    public let pluginVersion: String
    public let builtWith: String
    /// The plugin's descriptor (struct_size checked to cover ABI v1, every function non-NULL).
    public let descriptor: UnsafePointer<maml_model_desc>

    /// "mlp 1.0.0 (org.mamlzoo.mlp) from /path/libmaml_mlp.so"
    public var description: String { "\(name) \(version) (\(id)) from \(pluginPath)" }
}
