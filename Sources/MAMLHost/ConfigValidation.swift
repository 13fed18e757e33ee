import Foundation

// MARK: - Config and schema validation: the single call site for MAMLPluginKit
//
// TODO(merge): replace both bodies with MAMLPluginKit's JSON parser and
// config-schema validator. Until then they only check that the JSON parses
// and is an object; the plugin's own create() still validates keys and ranges.

/// Checks `config` against the model's JSON `schema`; returns the config JSON to pass to `create`.
/// An empty or blank config means `{}`.
func validateConfig(schema: String, config: String) throws -> String {
    let trimmed = config.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty { return "{}" }
    try parseJSONObject(trimmed, what: "config")
    return trimmed
}

/// Checks that a descriptor's `config_schema` is a JSON object.
func validateSchema(_ schema: String) throws {
    try parseJSONObject(schema, what: "config_schema")
}

// MARK: - Minimal JSON check

private func parseJSONObject(_ text: String, what: String) throws {
    let value: Any
    do {
        value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    } catch {
        throw HostError("\(what) is not valid JSON: \(excerpt(text))")
    }
    guard value is [String: Any] else {
        throw HostError("\(what) must be a JSON object, got \(excerpt(text))")
    }
}

/// A short quotation of the offending text for messages.
func excerpt(_ text: String, limit: Int = 60) -> String {
    text.count <= limit ? "'\(text)'" : "'\(text.prefix(limit))...'"
}
