// MARK: - maml-host ops / maml-host call
import ArgumentParser
import MAMLHost
import MAMLSchema

/// Lists a model's plugin-declared operations ("maml.ops/1").
struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a model's plugin-declared operations (maml.ops/1): name, signature, help.")

    @OptionGroup var plugins: PluginOptions
    @Argument(help: "Model name or id.") var model: String
    @Option(help: ArgumentHelp("Config of the instance to ask (default: all defaults).", valueName: "JSON"))
    var config = "{}"
    @Flag(help: "One JSON object on stdout instead of a table.") var json = false

    func run() throws {
        let backbone = try plugins.catalog(quiet: json).instantiate(model, config: config)
        let ops = try PluginOps(backbone: backbone)
        if json {
            let list = ops.operations.map { op in
                jsonObject(["name": .string(op.name), "signature": .string(op.signature.description),
                             "result": .string(op.signature.result.rawValue),
                             "parameters": .array(op.signature.parameters.map { .string($0.rawValue) }),
                             "help": .string(op.help)])
            }
            print(jsonObject(["model": .string(backbone.model.id), "ops": .array(list)]).serialized())
            return
        }
        guard !ops.operations.isEmpty else {
            print("\(displaySafe(backbone.model.name)) declares no operations (no maml.ops/1)")
            return
        }
        var table = Table("NAME", "SIGNATURE", "HELP")
        for op in ops.operations { table.add(op.name, op.signature.description, op.help) }
        print(table.render())
    }
}

/// Calls one plugin-declared operation with arguments parsed by its signature.
struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a model's plugin-declared operation and print the result.",
        discussion: """
            Arguments are parsed by the op's signature: integers in decimal (range-checked), \
            floats as 1.5 / -2e-3 / inf / nan, str as given, ptr only as null or 0. \
            Negative numbers may be given directly; put -- before arguments that look like options. \
            A void result prints nothing. See docs/cli.md.
            """)

    @OptionGroup var plugins: PluginOptions
    @Option(help: ArgumentHelp("Config of the instance to call (default: all defaults).", valueName: "JSON"))
    var config = "{}"
    @Argument(help: "Model name or id.") var model: String
    @Argument(help: "Operation name (see `maml-host ops MODEL`).") var op: String
    // allUnrecognized: "-5" is a value here, not an unknown option.
    @Argument(parsing: .allUnrecognized, help: "The op's arguments, in signature order.") var arguments: [String] = []

    func run() throws {
        let ops = try PluginOps(backbone: plugins.catalog().instantiate(model, config: config))
        // The parser keeps the "--" terminator in the list; the first one is not a value.
        var values = arguments
        if let end = values.firstIndex(of: "--") { values.remove(at: end) }
        let result = try ops.call(op, parsing: values)
        // The op's output as it is, for a pipe or a file; on a terminal with control characters escaped.
        if result != .void { print(HostOutput.isTerminal ? displaySafe(result.text, keepingLineBreaks: true) : result.text) }
    }
}
