import MAMLPluginABI
import MAMLPluginKit
import MLPNetwork

// MARK: - libmaml_mlp.so: the registry and the one exported symbol
//
// The model (MLPModel) and its network (DenseNetwork) are in Plugins/MLP/Network.

let mlpRegistry = PluginRegistry(pluginID: "org.mamlzoo.plugins.mlp", version: "1.0.0", models: [
    ModelDescriptor(MLPModel.self) { MLPModel.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol.
@_cdecl("maml_plugin_registry")
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    mlpRegistry.entry(hostMajor: major, hostMinor: minor, host: host)
}
