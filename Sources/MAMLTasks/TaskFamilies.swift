// MARK: - Task families by name
//
// The one place that maps the names users type (`--task sinusoid`) and that
// checkpoints record to task families. A new family is one line here.

import MAMLCore

/// The task family names `makeTaskFamily` knows, in display order.
public let taskFamilyNames = ["sinusoid", "glyphs", "omniglot", "image-folder", "sine-sequences", "glyph-rows"]

/// The family called `name`, configured from a JSON object (`"{}"` for its defaults).
/// Unknown names and bad configs are errors naming the problem and what is accepted.
public func makeTaskFamily(name: String, config: String = "{}") throws(MAMLError) -> any TaskFamily {
    let unknownTask = MAMLError.invalidConfig("unknown task \"\(name)\" (known: \(taskFamilyNames.joined(separator: ", ")))")
    guard taskFamilyNames.contains(name) else { throw unknownTask }
    // Blank (spaces and tabs only) means the defaults.
    let blank = config.unicodeScalars.allSatisfy { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }
    let text = blank ? "{}" : config
    let value: JSONValue
    do throws(JSONParseError) { value = try JSONValue.parse(text) } catch {
        throw .invalidConfig("task \"\(name)\" config is not valid JSON: \(error)")
    }
    guard case .object(let object) = value else {
        throw .invalidConfig("task \"\(name)\" config must be a JSON object, found \(value.kindDescription) \(value.excerpt)")
    }
    /// A config value read from the object; its problems are the task's.
    func read<T>(_ make: (JSONObject) throws(FamilyConfigError) -> T) throws(MAMLError) -> T {
        do { return try make(object) } catch { throw .invalidConfig("task \"\(name)\" config: \(error.message)") }
    }
    switch name {
    case "sinusoid":
        let known = ["amplitude", "phase", "x"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidConfig("unknown task config key \"\(unknown)\" for \(name) (known: \(known.joined(separator: ", ")))")
        }
        return try read(SinusoidTasks.init(json:))
    case "glyphs": return try GlyphTasks(config: read(GlyphConfig.init(json:)))
    case "omniglot": return try OmniglotTasks(config: read(OmniglotConfig.init(json:)))
    case "image-folder": return try ImageFolderTasks(config: read(ImageFolderConfig.init(json:)))
    case "sine-sequences": return try read(SineSequenceTasks.init(json:))
    case "glyph-rows": return try GlyphRowTasks(config: read(GlyphConfig.init(json:)))
    default: throw unknownTask
    }
}
