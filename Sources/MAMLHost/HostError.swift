// MARK: - Errors and problems reported by the host

/// A host failure: an unknown model, a refused plugin, a failed create, a bad layout.
public struct HostError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Something wrong with a search directory, a plugin file or one of its models,
/// found while building a catalog. A problem never stops other plugins loading.
public struct PluginProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case warning, error }
    public var severity: Severity
    /// The plugin file or search directory the problem is about (absolute).
    public var path: String
    /// The model concerned, when the problem is about one model and its id/name could be read.
    public var modelID: String?
    public var modelName: String?
    /// What is wrong, without the path (see `description` for the full line).
    public var message: String

    public init(_ severity: Severity, path: String, _ message: String,
                modelID: String? = nil, modelName: String? = nil) {
        self.severity = severity; self.path = path; self.message = message
        self.modelID = modelID; self.modelName = modelName
    }

    /// "error: /dir/libx.so: built for plugin ABI 2.0, this host speaks 1.0": one line, control
    /// characters of the path or of plugin text in the message escaped (`displaySafe`).
    public var description: String { displaySafe("\(severity.rawValue): \(path): \(message)") }
}
