import Testing
@testable import MAMLSchema

// MARK: - Config schema: parsing the schema, validating configs, defaults

@Suite struct ConfigSchemaTests {
    static let schemaText = """
    {"type": "object", "properties": {
      "input": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 4, "default": [1]},
      "hidden": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65536}, "default": [40, 40],
                 "description": "hidden widths"},
      "output": {"type": "integer", "minimum": 1, "maximum": 65536, "default": 1},
      "activation": {"type": "string", "enum": ["relu", "tanh"], "default": "relu"},
      "lr": {"type": "number", "minimum": 0},
      "bias": {"type": "boolean", "default": true}
    }, "examples": [{"lr": 0.1}]}
    """
    let schema: ConfigSchema
    init() throws { schema = try ConfigSchema(json: Self.schemaText) }

    func message(_ config: String?) -> String? {
        do { _ = try schema.validate(config); return nil } catch { return error.message }
    }

    @Test func fillsDefaultsInSchemaOrder() throws {
        let r = try schema.validate(#"{"lr": 0.5, "activation": "tanh"}"#)
        #expect(r.keys == ["input", "hidden", "output", "activation", "lr", "bias"])
        #expect(r["hidden"] == .array([.number(40), .number(40)]))
        #expect(r["activation"] == .string("tanh"))
        #expect(r["lr"] == .number(0.5))
        #expect(r["bias"] == .bool(true))
        #expect(schema.defaults.keys == ["input", "hidden", "output", "activation", "bias"])
        #expect(schema.examples.count == 1 && schema.examples[0]["output"] == .number(1))
        #expect(schema.property("hidden")?.typeDescription == "array of integer")
        #expect(schema.property("hidden")?.description == "hidden widths")
    }

    @Test func emptyAndNilConfigMeanAllDefaults() throws {
        let noRequired = try ConfigSchema(json: #"{"type":"object","properties":{"a":{"type":"integer","default":2}}}"#)
        #expect(try noRequired.validate(nil)["a"] == .number(2))
        #expect(try noRequired.validate("  ")["a"] == .number(2))
        #expect(try noRequired.validate("{}")["a"] == .number(2))
    }

    @Test func everyConfigErrorNamesKeyValueAndExpectation() {
        #expect(message(#"{"lr":1,"activation":"sigmoid"}"#) == #"config key "activation": "sigmoid" is not one of "relu", "tanh""#)
        #expect(message(#"{"lr":1,"hidden":[3,0]}"#) == #"config key "hidden"[1]: 0 is below the minimum 1"#)
        #expect(message(#"{"lr":1,"output":70000}"#) == #"config key "output": 70000 is above the maximum 65536"#)
        #expect(message(#"{"lr":1,"hiden":[3]}"#) == #"unknown config key "hiden" (known: activation, bias, hidden, input, lr, output)"#)
        #expect(message(#"{"lr":1,"output":"3"}"#) == #"config key "output": "3" is a string, expected an integer"#)
        #expect(message(#"{"lr":1,"output":2.5}"#) == #"config key "output": 2.5 is not an integer"#)
        #expect(message(#"{"lr":1,"bias":1}"#) == #"config key "bias": 1 is a number, expected a boolean"#)
        #expect(message(#"{"lr":1,"input":[]}"#) == #"config key "input": [] has 0 items, expected at least 1"#)
        #expect(message(#"{"lr":1,"input":[1,1,1,1,1]}"#) == #"config key "input": [1,1,1,1,1] has 5 items, expected at most 4"#)
        #expect(message(#"{"lr":1,"hidden":40}"#) == #"config key "hidden": 40 is a number, expected an array"#)
        #expect(message(#"{"lr":1,"hidden":["a"]}"#) == #"config key "hidden"[0]: "a" is a string, expected an integer"#)
        #expect(message(#"{}"#) == #"missing config key "lr" (a number)"#)
        #expect(message(#"[1]"#) == "config must be a JSON object, found an array [1]")
        #expect(message(#"{"lr":}"#) == "config is not valid JSON: line 1, column 7: expected a JSON value, found '}'")
    }

    @Test func acceptsIntegralNumbersAsIntegers() throws {
        #expect(try schema.validate(#"{"lr":1,"output":3.0}"#)["output"] == .number(3))
    }

    @Test(arguments: [
        (#"[]"#, "config schema must be a JSON object, found an array"),
        (#"{"type":"array","properties":{}}"#, #"config schema: "type" must be "object", found "array""#),
        (#"{"type":"object"}"#, #"config schema: "properties" must be an object, found nothing"#),
        (#"{"type":"object","properties":{},"additionalProperties":true}"#, #"config schema: "additionalProperties" may only be false, found true"#),
        (#"{"type":"object","properties":{},"patternProperties":{}}"#, #"config schema: unknown schema keyword "patternProperties" (known: $schema, additionalProperties, description, examples, properties, title, type)"#),
        (#"{"type":"object","properties":{"a":{"type":"float"}}}"#, #"config schema property "a": "type" must be one of "integer", "number", "string", "boolean", "array", found "float""#),
        (#"{"type":"object","properties":{"a":{"type":"array"}}}"#, #"config schema property "a": an array needs "items""#),
        (#"{"type":"object","properties":{"a":{"type":"string","minimum":1}}}"#, #"config schema property "a": "minimum" applies only to integer or number"#),
        (#"{"type":"object","properties":{"a":{"type":"integer","default":0,"minimum":1}}}"#, #"config schema property "a" default: 0 is below the minimum 1"#),
        (#"{"type":"object","properties":{"a":{"type":"string","enum":["x",1]}}}"#, #"config schema property "a" enum value: 1 is a number, expected a string"#),
        (#"{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer","default":1}}}}"#, #"config schema property "a" items: unknown schema keyword "default" (known: description, enum, items, maxItems, maximum, minItems, minimum, type)"#),
        (#"{"type":"object","properties":{"a":{"type":"integer","default":1}},"examples":[{"b":1}]}"#, #"config schema: examples[0] is invalid: unknown config key "b" (known: a)"#),
        (#"{"type":"object","properties":{"a":{"type":"integer","task":"classes"}}}"#, #"config schema property "a": "task" must be one of "input-shape", "output-size", "loss", found "classes""#),
        (#"{"type":"object","properties":{"a":{"type":"integer","task":"input-shape"}}}"#, #"config schema property "a": "task": "input-shape" needs an array of integer, found integer"#),
        (#"{"type":"object","properties":{"a":{"type":"array","items":{"type":"number"},"task":"input-shape"}}}"#, #"config schema property "a": "task": "input-shape" needs an array of integer, found array of number"#),
        (#"{"type":"object","properties":{"a":{"type":"string","task":"output-size"}}}"#, #"config schema property "a": "task": "output-size" needs an integer, found string"#),
        (#"{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer","task":"loss"}}}}"#, #"config schema property "a" items: unknown schema keyword "task" (known: description, enum, items, maxItems, maximum, minItems, minimum, type)"#),
    ])
    func refusesMalformedSchemas(text: String, expected: String) {
        do {
            _ = try ConfigSchema(json: text)
            Issue.record("accepted malformed schema \(text)")
        } catch {
            #expect(error.message == expected)
        }
    }
}

// MARK: - Keys taken from the task (the "task" keyword)

@Suite struct ConfigTaskRoleTests {
    let schema = try! ConfigSchema(json: """
    {"type": "object", "properties": {
      "input": {"type": "array", "task": "input-shape", "items": {"type": "integer", "minimum": 1}, "maxItems": 2, "default": [20, 1]},
      "hidden": {"type": "integer", "default": 40},
      "classes": {"type": "integer", "task": "output-size", "minimum": 1, "default": 1},
      "loss": {"type": "string", "task": "loss", "enum": ["mse", "softmax-ce"], "default": "mse"}
    }}
    """)
    let glyphRows = TaskValues(inputShape: [28, 28], outputShape: [5], loss: "softmax-ce")

    @Test func rolesAreParsed() {
        #expect(schema.property("input")?.task == .inputShape)
        #expect(schema.property("classes")?.task == .outputSize)
        #expect(schema.property("loss")?.task == .loss)
        #expect(schema.property("hidden")?.task == nil)
    }

    @Test func absentKeysComeFromTheTaskAndGivenOnesWin() throws {
        let all = try schema.validate(try schema.filling(#"{"hidden": 8}"#, from: glyphRows))
        #expect(all["input"] == .array([.number(28), .number(28)]))
        #expect(all["classes"] == .number(5) && all["loss"] == .string("softmax-ce") && all["hidden"] == .number(8))
        // A value the user gives is never replaced, even when it does not fit the task.
        let given = try schema.validate(try schema.filling(#"{"input": [3, 1], "loss": "mse"}"#, from: glyphRows))
        #expect(given["input"] == .array([.number(3), .number(1)]) && given["loss"] == .string("mse"))
        #expect(given["classes"] == .number(5))
        // The output size is the last dimension: [length, targets] per-step outputs give targets.
        let perStep = TaskValues(inputShape: [7, 1], outputShape: [7, 1], loss: "mse")
        #expect(try schema.validate(try schema.filling(nil, from: perStep))["classes"] == .number(1))
        #expect(try schema.validate(try schema.filling("  ", from: perStep))["input"] == .array([.number(7), .number(1)]))
    }

    @Test func aTaskValueThatDoesNotFitNamesItsOrigin() {
        let image = TaskValues(inputShape: [1, 28, 28], outputShape: [5], loss: "softmax-ce")
        #expect(throws: ConfigError(message: #"config key "input" (from the task's input shape): [1,28,28] has 3 items, expected at most 2"#)) {
            try schema.filling("{}", from: image)
        }
        #expect(throws: ConfigError(message: #"config must be a JSON object, found an array [1]"#)) {
            try schema.filling("[1]", from: image)
        }
    }
}
