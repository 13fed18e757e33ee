// MARK: - Config schema (the JSON-Schema subset of maml_model_desc.config_schema)
//
// A model's config is a JSON object whose keys are described by its schema:
//
//   {
//     "type": "object",                       required, always "object"
//     "properties": {                         required ({} if the model takes no config)
//       KEY: {
//         "type": "integer" | "number" | "string" | "boolean" | "array",   required
//         "items": { ...a property schema without "default"... },  required for "array"
//         "enum": [v, ...],                   allowed values (of the property's type)
//         "minimum": x, "maximum": y,         inclusive bounds, for integer / number
//         "minItems": n, "maxItems": n,       length bounds, for array
//         "default": v,                       the value when the key is absent; a key
//                                             without a default is required
//         "description": "...",               one line for `maml-host info`
//         "task": "input-shape" | "output-size" | "loss"
//                                             when the key is absent, the host sets it from
//                                             the task the model is trained on (see TaskRole)
//       }, ...
//     },
//     "additionalProperties": false,          optional; only false is allowed
//     "title": "...", "description": "...",   optional, free text
//     "examples": [ {config}, ... ]           optional; each must validate
//   }
//
// Unknown keys are refused both in the schema (a typo there is a plugin bug) and in
// configs (additionalProperties is always false). "integer" accepts any JSON number
// with an integral value (3 and 3.0), as JSON Schema does. Defaults and examples are
// checked against the schema when it is parsed.
//
// Validation resolves a config: the result has every schema key, in schema order,
// with the given value or the default. Errors name the key, the value found and
// what was expected:
//   config key "activation": "sigmoid" is not one of "relu", "tanh"
//   config key "hidden"[1]: 0 is below the minimum 1
//   unknown config key "hiden" (known: activation, hidden, input, loss, output)

/// The schema of one config value.
public struct PropertySchema: Equatable, Sendable {
    /// The JSON type a value must have.
    public enum ValueType: String, Sendable, CaseIterable {
        case integer, number, string, boolean, array

        var phrase: String {
            switch self {
            case .integer: return "an integer"
            case .number: return "a number"
            case .string: return "a string"
            case .boolean: return "a boolean"
            case .array: return "an array"
            }
        }
    }

    public var type: ValueType
    /// Allowed values, or nil for any value of the type.
    public var enumValues: [JSONValue]?
    public var minimum: Double?
    public var maximum: Double?
    public var minItems: Int?
    public var maxItems: Int?
    /// The value used when the key is absent; nil makes the key required.
    public var defaultValue: JSONValue?
    public var description: String?
    /// What the host sets this key to from the task when a config leaves it out (top-level keys only).
    public var task: TaskRole?
    /// The schema of the elements of an array (stored in a 0-or-1 array: structs cannot nest directly).
    public var items: PropertySchema? { itemStorage.first }
    var itemStorage: [PropertySchema] = []

    /// A short type description for `maml-host info`: "integer", "array of integer", ...
    public var typeDescription: String {
        if let items { return "array of \(items.typeDescription)" }
        return type.rawValue
    }
}

/// A value a config key may take from the task the model is trained on (the property keyword
/// "task"). The host fills such a key only when the user's config leaves it out, before
/// validation, so one model config fits every task of a family: the RNN reads sequences of the
/// task's length, the CNN has as many classes as the task has ways. An explicit value wins (and
/// the host's shape check then names both shapes if it does not fit).
public enum TaskRole: String, Sendable, CaseIterable {
    /// The shape of one input example, an array of integers: [length, features], [channels, height, width].
    case inputShape = "input-shape"
    /// The last dimension of one example's output, an integer: classes, or regression targets per prediction.
    case outputSize = "output-size"
    /// The task's loss, a string: "mse" or "softmax-ce".
    case loss

    /// The property type a key with this role must have.
    var valueType: PropertySchema.ValueType {
        switch self {
        case .inputShape: return .array
        case .outputSize: return .integer
        case .loss: return .string
        }
    }

    /// How a message names the value's origin.
    var phrase: String {
        switch self {
        case .inputShape: return "the task's input shape"
        case .outputSize: return "the task's output size"
        case .loss: return "the task's loss"
        }
    }
}

/// What a task offers to keys with a `TaskRole`.
public struct TaskValues: Sendable {
    public var inputShape: [Int]
    public var outputShape: [Int]
    /// "mse" or "softmax-ce".
    public var loss: String
    public init(inputShape: [Int], outputShape: [Int], loss: String) {
        self.inputShape = inputShape; self.outputShape = outputShape; self.loss = loss
    }

    func value(for role: TaskRole) -> JSONValue {
        switch role {
        case .inputShape: return .array(inputShape.map { .number(Double($0)) })
        case .outputSize: return .number(Double(outputShape.last ?? 1))
        case .loss: return .string(loss)
        }
    }
}

/// One named key of a config schema.
public struct ConfigProperty: Equatable, Sendable {
    public var name: String
    public var schema: PropertySchema
}

/// A schema that is itself malformed (a plugin bug), with what is wrong and where.
public struct ConfigSchemaError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A config that does not satisfy its schema, naming the key, the value and what was expected.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A parsed config schema: validates configs and fills in defaults.
public struct ConfigSchema: Equatable, Sendable {
    /// The keys in schema order.
    public let properties: [ConfigProperty]
    /// The schema's "examples" (each already validated and resolved).
    public private(set) var examples: [JSONObject]
    public let title: String?
    public let description: String?

    /// Parses and checks a schema from JSON text.
    public init(json: String) throws(ConfigSchemaError) {
        let value: JSONValue
        do throws(JSONParseError) { value = try JSONValue.parse(json) } catch {
            throw ConfigSchemaError(message: "config schema is not valid JSON: \(error)")
        }
        try self.init(value)
    }

    /// Parses and checks a schema from a JSON value.
    public init(_ value: JSONValue) throws(ConfigSchemaError) {
        guard let root = value.objectValue else {
            throw ConfigSchemaError(message: "config schema must be a JSON object, found \(value.kindDescription)")
        }
        try Self.refuseUnknown(root, allowed: ["type", "properties", "examples", "additionalProperties",
                                               "title", "description", "$schema"], at: "config schema")
        guard root["type"] == .string("object") else {
            throw ConfigSchemaError(message: "config schema: \"type\" must be \"object\", found \(Self.show(root["type"]))")
        }
        if let extra = root["additionalProperties"], extra != .bool(false) {
            throw ConfigSchemaError(message: "config schema: \"additionalProperties\" may only be false, found \(Self.show(extra))")
        }
        guard let props = root["properties"]?.objectValue else {
            throw ConfigSchemaError(message: "config schema: \"properties\" must be an object, found \(Self.show(root["properties"]))")
        }
        var properties: [ConfigProperty] = []
        for (name, spec) in props.members {
            properties.append(ConfigProperty(
                name: name, schema: try Self.parseProperty(spec, at: "config schema property \"\(name)\"",
                                                           allowDefault: true)))
        }
        self.properties = properties
        title = root["title"]?.stringValue
        description = root["description"]?.stringValue
        examples = []
        var resolvedExamples: [JSONObject] = []  // validate() needs a fully initialised self
        if let ex = root["examples"] {
            guard let list = ex.arrayValue else {
                throw ConfigSchemaError(message: "config schema: \"examples\" must be an array, found \(ex.kindDescription)")
            }
            for (i, example) in list.enumerated() {
                do throws(ConfigError) { resolvedExamples.append(try validate(config: example)) } catch {
                    throw ConfigSchemaError(message: "config schema: examples[\(i)] is invalid: \(error.message)")
                }
            }
        }
        examples = resolvedExamples
    }

    /// The schema of one key, or nil if the key is unknown.
    public func property(_ name: String) -> PropertySchema? {
        properties.first(where: { $0.name == name })?.schema
    }

    /// Every key that has a default, with it, in schema order.
    public var defaults: JSONObject {
        JSONObject(properties.compactMap { p in p.schema.defaultValue.map { (p.name, $0) } })
    }

    // MARK: Validation

    /// Validates config JSON text (nil or "" mean {}) and returns it resolved: every key
    /// in schema order, absent ones at their defaults.
    public func validate(_ configJSON: String?) throws(ConfigError) -> JSONObject {
        guard let text = configJSON, text.contains(where: { !$0.isWhitespace }) else {
            return try validate(config: .object(JSONObject()))
        }
        let value: JSONValue
        do throws(JSONParseError) { value = try JSONValue.parse(text) } catch {
            throw ConfigError(message: "config is not valid JSON: \(error)")
        }
        return try validate(config: value)
    }

    /// Validates a parsed config and returns it resolved (see `validate(_:)`).
    public func validate(config: JSONValue) throws(ConfigError) -> JSONObject {
        guard let object = config.objectValue else {
            throw ConfigError(message: "config must be a JSON object, found \(config.kindDescription) \(Self.show(config))")
        }
        for key in object.keys where property(key) == nil {
            let known = properties.map(\.name).sorted()
            throw ConfigError(message: known.isEmpty
                ? "unknown config key \"\(key)\" (this model takes no config keys)"
                : "unknown config key \"\(key)\" (known: \(known.joined(separator: ", ")))")
        }
        var resolved = JSONObject()
        for p in properties {
            if let given = object[p.name] {
                try Self.check(given, against: p.schema, path: "config key \"\(p.name)\"")
                resolved[p.name] = given
            } else if let d = p.schema.defaultValue {
                resolved[p.name] = d
            } else {
                let about = p.schema.description.map { ": \($0)" } ?? ""
                throw ConfigError(message: "missing config key \"\(p.name)\" (\(p.schema.type.phrase)\(about))")
            }
        }
        return resolved
    }

    /// Config JSON text (nil or "" mean {}) with every key that has a task role and is absent set
    /// from `task`; each value set is checked against its key's schema here, so an error says where
    /// it came from: config key "input" (from the task's input shape): [1,28,28] has 3 items, ...
    public func filling(_ configJSON: String?, from task: TaskValues) throws(ConfigError) -> String {
        var object = JSONObject()
        if let text = configJSON, text.contains(where: { !$0.isWhitespace }) {
            let value: JSONValue
            do throws(JSONParseError) { value = try JSONValue.parse(text) } catch {
                throw ConfigError(message: "config is not valid JSON: \(error)")
            }
            guard let given = value.objectValue else {
                throw ConfigError(message: "config must be a JSON object, found \(value.kindDescription) \(Self.show(value))")
            }
            object = given
        }
        for p in properties where object[p.name] == nil {
            guard let role = p.schema.task else { continue }
            let value = task.value(for: role)
            try Self.check(value, against: p.schema, path: "config key \"\(p.name)\" (from \(role.phrase))")
            object[p.name] = value
        }
        return JSONValue.object(object).serialized()
    }

    static func check(_ value: JSONValue, against schema: PropertySchema, path: String) throws(ConfigError) {
        func fail(_ what: String) -> ConfigError { ConfigError(message: "\(path): \(show(value)) \(what)") }
        switch (schema.type, value) {
        case (.integer, .number), (.integer, .numberText):
            guard value.integerValue != nil else { throw fail("is not an integer") }
        case (.number, .number), (.number, .numberText), (.string, .string), (.boolean, .bool), (.array, .array): break
        default: throw fail("is \(value.kindDescription), expected \(schema.type.phrase)")
        }
        if let allowed = schema.enumValues, !allowed.contains(value) {
            throw fail("is not one of \(allowed.map { show($0) }.joined(separator: ", "))")
        }
        if let x = value.numberValue {
            if let lo = schema.minimum, x < lo { throw fail("is below the minimum \(JSONValue.format(lo))") }
            if let hi = schema.maximum, x > hi { throw fail("is above the maximum \(JSONValue.format(hi))") }
        }
        if let elements = value.arrayValue {
            if let lo = schema.minItems, elements.count < lo {
                throw fail("has \(elements.count) item\(elements.count == 1 ? "" : "s"), expected at least \(lo)")
            }
            if let hi = schema.maxItems, elements.count > hi {
                throw fail("has \(elements.count) item\(elements.count == 1 ? "" : "s"), expected at most \(hi)")
            }
            if let items = schema.items {
                for (i, e) in elements.enumerated() { try check(e, against: items, path: "\(path)[\(i)]") }
            }
        }
    }

    /// A value for a message: compact JSON, shortened past 40 characters.
    static func show(_ value: JSONValue?) -> String {
        value?.excerpt ?? "nothing"
    }

    // MARK: Parsing property schemas

    static func refuseUnknown(_ object: JSONObject, allowed: Set<String>, at place: String) throws(ConfigSchemaError) {
        for key in object.keys where !allowed.contains(key) {
            throw ConfigSchemaError(message: "\(place): unknown schema keyword \"\(key)\" (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    static func parseProperty(_ value: JSONValue, at place: String, allowDefault: Bool) throws(ConfigSchemaError) -> PropertySchema {
        guard let spec = value.objectValue else {
            throw ConfigSchemaError(message: "\(place) must be an object, found \(value.kindDescription)")
        }
        var allowed: Set<String> = ["type", "items", "enum", "minimum", "maximum", "minItems", "maxItems", "description"]
        if allowDefault { allowed.formUnion(["default", "task"]) }
        try refuseUnknown(spec, allowed: allowed, at: place)
        guard let typeName = spec["type"]?.stringValue, let type = PropertySchema.ValueType(rawValue: typeName) else {
            throw ConfigSchemaError(message: "\(place): \"type\" must be one of \(PropertySchema.ValueType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), found \(show(spec["type"]))")
        }
        var schema = PropertySchema(type: type)
        func number(_ key: String) throws(ConfigSchemaError) -> Double? {
            guard let v = spec[key] else { return nil }
            guard type == .integer || type == .number else {
                throw ConfigSchemaError(message: "\(place): \"\(key)\" applies only to integer or number")
            }
            guard let x = v.numberValue else { throw ConfigSchemaError(message: "\(place): \"\(key)\" must be a number") }
            return x
        }
        func count(_ key: String) throws(ConfigSchemaError) -> Int? {
            guard let v = spec[key] else { return nil }
            guard type == .array else { throw ConfigSchemaError(message: "\(place): \"\(key)\" applies only to array") }
            guard let n = v.integerValue, n >= 0 else {
                throw ConfigSchemaError(message: "\(place): \"\(key)\" must be a non-negative integer")
            }
            return n
        }
        schema.minimum = try number("minimum")
        schema.maximum = try number("maximum")
        schema.minItems = try count("minItems")
        schema.maxItems = try count("maxItems")
        if let d = spec["description"] {
            guard let text = d.stringValue else { throw ConfigSchemaError(message: "\(place): \"description\" must be a string") }
            schema.description = text
        }
        if let items = spec["items"] {
            guard type == .array else { throw ConfigSchemaError(message: "\(place): \"items\" applies only to array") }
            schema.itemStorage = [try parseProperty(items, at: "\(place) items", allowDefault: false)]
        } else if type == .array {
            throw ConfigSchemaError(message: "\(place): an array needs \"items\"")
        }
        if let e = spec["enum"] {
            guard let values = e.arrayValue, !values.isEmpty else {
                throw ConfigSchemaError(message: "\(place): \"enum\" must be a non-empty array")
            }
            let bare = PropertySchema(type: type, itemStorage: schema.itemStorage)
            for v in values {
                do throws(ConfigError) { try check(v, against: bare, path: "\(place) enum value") } catch {
                    throw ConfigSchemaError(message: error.message)
                }
            }
            schema.enumValues = values
        }
        if let t = spec["task"] {
            let roles = TaskRole.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            guard let name = t.stringValue, let role = TaskRole(rawValue: name) else {
                throw ConfigSchemaError(message: "\(place): \"task\" must be one of \(roles), found \(show(t))")
            }
            guard type == role.valueType, role != .inputShape || schema.items?.type == .integer else {
                let want = role == .inputShape ? "an array of integer" : role.valueType.phrase
                throw ConfigSchemaError(message: "\(place): \"task\": \"\(name)\" needs \(want), found \(schema.typeDescription)")
            }
            schema.task = role
        }
        if let d = spec["default"] {
            do throws(ConfigError) { try check(d, against: schema, path: "\(place) default") } catch {
                throw ConfigSchemaError(message: error.message)
            }
            schema.defaultValue = d
        }
        return schema
    }
}

extension PropertySchema {
    init(type: ValueType, itemStorage: [PropertySchema] = []) {
        self.type = type
        self.itemStorage = itemStorage
    }
}
