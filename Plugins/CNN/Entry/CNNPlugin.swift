import MAMLPluginABI
import MAMLPluginKit
import CNNNetwork

// MARK: - libmaml_cnn.so: the registry and the one exported symbol
//
// The model (CNNModel) and its network (ConvNetwork) are in Plugins/CNN/Network.

let cnnRegistry = PluginRegistry(pluginID: "org.mamlzoo.plugins.cnn", version: "1.0.0", models: [
    ModelDescriptor(CNNModel.self) { CNNModel.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol.
@_cdecl("maml_plugin_registry")
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    cnnRegistry.entry(hostMajor: major, hostMinor: minor, host: host)
}
