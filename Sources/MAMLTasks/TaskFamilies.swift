// MARK: - Task families by name
//
// The one place that maps the names users type (`--task sinusoid`) and that
// checkpoints record to task families. A new family is one line here.

import MAMLCore
import Foundation   // JSONDecoder for family configs (never on the hot path)

/// The task family names `makeTaskFamily` knows, in display order.
public let taskFamilyNames = ["sinusoid", "glyphs", "omniglot", "sine-sequences", "glyph-rows"]

/// The family called `name`, configured from a JSON object (`"{}"` for its defaults).
/// Unknown names and bad configs are errors naming the problem and what is accepted.
public func makeTaskFamily(name: String, config: String = "{}") throws(MAMLError) -> any TaskFamily {
    /// `known`: the keys to allow, for decoders that would ignore others (image family
    /// configs check their own keys, FamilyConfigDecoding.swift).
    func decode<F: Decodable>(_ type: F.Type, keys known: [String]? = nil) throws(MAMLError) -> F {
        let text = config.trimmingCharacters(in: .whitespaces).isEmpty ? "{}" : config
        // JSONDecoder ignores keys it does not know; a misspelt key must not be silently dropped.
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw .invalidConfig("task \"\(name)\" config must be a JSON object, got \(text)")
        }
        if let known, let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidConfig("unknown task config key \"\(unknown)\" for \(name) (known: \(known.joined(separator: ", ")))")
        }
        do { return try JSONDecoder().decode(F.self, from: Data(text.utf8)) }
        catch let DecodingError.dataCorrupted(context) {
            throw .invalidConfig("task \"\(name)\" config: \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .invalidConfig("task \"\(name)\" config: \(context.debugDescription)")
        } catch {
            throw .invalidConfig("task \"\(name)\" config \(text): \(error)")
        }
    }
    switch name {
    case "sinusoid": return try decode(SinusoidTasks.self, keys: ["amplitude", "phase", "x"])
    case "glyphs": return try GlyphTasks(config: decode(GlyphConfig.self))
    case "omniglot": return try OmniglotTasks(config: decode(OmniglotConfig.self))
    case "sine-sequences": return try decode(SineSequenceTasks.self)
    case "glyph-rows": return try GlyphRowTasks(config: decode(GlyphConfig.self))
    default:
        throw .invalidConfig("unknown task \"\(name)\" (known: \(taskFamilyNames.joined(separator: ", ")))")
    }
}
