import MAMLPluginABI
import MAMLPluginKit
import RNNNetwork

// MARK: - libmaml_rnn.so: the registry and the one exported symbol
//
// The model (RNNModel) and its network (RecurrentNetwork) are in Plugins/RNN/Network.

let rnnRegistry = PluginRegistry(pluginID: "org.mamlzoo.plugins.rnn", version: "1.0.0", models: [
    ModelDescriptor(RNNModel.self) { RNNModel.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol.
@_cdecl("maml_plugin_registry")
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    rnnRegistry.entry(hostMajor: major, hostMinor: minor, host: host)
}
