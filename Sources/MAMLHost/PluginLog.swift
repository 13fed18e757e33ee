import MAMLPluginABI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Plugin log messages and the host's sink
//
// Plugins log through maml_host_api.log. Each plugin file gets its own
// process-lifetime host API table whose log_ctx is that file's path, so every
// message arrives tagged with the plugin that sent it.

/// Severity of a plugin's log message (MAML_LOG_*).
public enum PluginLogLevel: Int32, Sendable, Comparable, CustomStringConvertible {
    case debug = 0, info = 1, warn = 2, error = 3
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["debug", "info", "warn", "error"][Int(rawValue)] }
}

/// One message a plugin logged, copied out of the plugin's buffer.
public struct PluginLogMessage: Sendable, CustomStringConvertible {
    public var level: PluginLogLevel
    /// Absolute path of the plugin file that logged it.
    public var pluginPath: String
    public var text: String
    /// The plugin's file name, the prefix of `description`.
    public var pluginFile: String { pluginPath.split(separator: "/").last.map(String.init) ?? pluginPath }
    /// "libmlp.so: warn: message", control characters escaped (one line whatever the plugin sent).
    public var description: String { "\(displaySafe(pluginFile)): \(level): \(displaySafe(text))" }

    /// A message as a plugin sent it through maml_host_api.log: the text capped at
    /// `pluginTextLimit` bytes, an unknown level shown as `warn` with the level it had.
    package init(pluginPath: String, rawLevel: Int32, text: UnsafePointer<CChar>) {
        let capped = decodeLenient(text, limit: pluginTextLimit)
        if let known = PluginLogLevel(rawValue: rawLevel) {
            self.init(level: known, pluginPath: pluginPath, text: capped)
        } else {
            self.init(level: .warn, pluginPath: pluginPath, text: "(unknown log level \(rawLevel)) " + capped)
        }
    }

    public init(level: PluginLogLevel, pluginPath: String, text: String) {
        self.level = level; self.pluginPath = pluginPath; self.text = text
    }
}

/// Where plugin log messages go. Thread-safe; the default writes info and above to stderr.
public enum PluginLog {
    /// A sink receives messages from any thread, possibly concurrently.
    public typealias Sink = @Sendable (PluginLogMessage) -> Void

    /// Writes messages at `info` and above to standard error, one line each.
    public static let standardErrorSink: Sink = { message in
        guard message.level >= .info else { return }
        let line = "maml-host: " + message.description + "\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }

    private static let sink = Mutex<Sink>(standardErrorSink)

    /// Replaces the sink for all plugins, including ones already loaded.
    public static func setSink(_ newSink: @escaping Sink) {
        sink.withLock { $0 = newSink }
    }

    /// Delivers one message to the current sink (called outside the lock, so a sink may log or swap sinks).
    static func emit(_ message: PluginLogMessage) {
        let current = sink.withLock { $0 }
        current(message)
    }
}

// MARK: - The host API table handed to each plugin

/// The process-lifetime host API table for the plugin at `path` (one per path, never freed).
package func hostAPI(forPluginAt path: String) -> UnsafePointer<maml_host_api> {
    let address = hostTables.withLock { tables -> Int in
        if let existing = tables[path] { return existing }
        let table = UnsafeMutablePointer<maml_host_api>.allocate(capacity: 1)
        table.initialize(to: maml_host_api(
            struct_size: UInt32(MemoryLayout<maml_host_api>.size),
            abi: maml_abi_version(major: UInt32(MAML_ABI_MAJOR), minor: UInt32(MAML_ABI_MINOR)),
            log: { context, level, text in
                guard let context, let text else { return }
                PluginLog.emit(PluginLogMessage(
                    pluginPath: String(cString: context.assumingMemoryBound(to: CChar.self)), rawLevel: level, text: text))
            },
            log_ctx: UnsafeMutableRawPointer(strdup(path))))
        let address = Int(bitPattern: table)
        tables[path] = address
        return address
    }
    return UnsafePointer(bitPattern: address)!
}

/// A C string as UTF-8, repairing invalid bytes rather than dropping the message.
package func decodeLenient(_ text: UnsafePointer<CChar>) -> String {
    let bytes = UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self)
    return String(decoding: UnsafeBufferPointer(start: bytes, count: strlen(text)), as: UTF8.self)
}

/// Host API tables by plugin path, stored as addresses (they live for the process).
private let hostTables = Mutex<[String: Int]>([:])
