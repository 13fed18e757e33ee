// MARK: - What the config fuzzer does with one input (the plugin kit's JSON readers)
//
// Shared by the libFuzzer target fuzz-config (Tests/fuzz/Sources/fuzz-config links to this
// file; Tests/fuzz/fuzz.sh builds it) and the normal test suite (JSONMutationTests).

#if canImport(MAMLSchema)
import MAMLSchema
#endif

/// A schema that uses every feature a config can meet: each type, items, enum, bounds,
/// defaults, a required key, examples.
let fuzzSchema = try! ConfigSchema(json: """
{"type": "object", "title": "fuzz", "properties": {
  "n": {"type": "integer", "minimum": 1, "maximum": 65536, "default": 3},
  "x": {"type": "number", "minimum": -1e6, "maximum": 1e6, "default": 0.5},
  "s": {"type": "string", "enum": ["relu", "tanh"], "default": "relu"},
  "b": {"type": "boolean", "default": false},
  "a": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}, "minItems": 0, "maxItems": 4,
        "default": [1, 2]},
  "required": {"type": "string"}
}, "additionalProperties": false, "examples": [{"required": "yes"}]}
""")

/// Reads `text` with JSONValue.parse, as a schema, and as a config of `fuzzSchema`. Returns a
/// broken promise (text a reader accepted whose serialisation does not read back as the same
/// value), or nil. Errors thrown by the readers are the expected refusals.
func exerciseJSON(_ text: String) -> String? {
    if let value = try? JSONValue.parse(text) {
        for pretty in [false, true] {
            let printed = value.serialized(pretty: pretty)
            guard let again = try? JSONValue.parse(printed), again == value else {
                return "round trip (pretty: \(pretty)) of \(text.debugDescription) printed \(printed.debugDescription)"
            }
        }
        _ = try? ConfigSchema(value)
        if let resolved = try? fuzzSchema.validate(config: value) {
            // A resolved config is valid by construction: it must validate again unchanged.
            guard (try? fuzzSchema.validate(config: .object(resolved))) == resolved else {
                return "resolved config \(JSONValue.object(resolved)) does not validate to itself"
            }
        }
    }
    _ = try? fuzzSchema.validate(text)
    return nil
}
