// MARK: - maml-host --version: the package's version and the plugin ABI it speaks
import MAMLPluginABI

enum Version {
    /// The maml-zoo package version (bumped by hand when a release is cut).
    static let package = "0.1.0"
    /// The plugin ABI this host speaks (maml_plugin.h): plugins of the same major load.
    static let abi = "\(MAML_ABI_MAJOR).\(MAML_ABI_MINOR)"
    /// What --version prints.
    static let line = "maml-host \(package) (maml-zoo), plugin ABI \(abi)"
}
