// MARK: - maml-host info
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLSchema

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model: descriptor, config schema with defaults, shapes, parameter layout, extensions.")

    @OptionGroup var plugins: PluginOptions
    @Argument(help: "Model name or id.") var model: String
    @Option(help: ArgumentHelp("Config to instantiate for shapes and layout (default: all defaults).", valueName: "JSON"))
    var config = "{}"

    func run() throws {
        let entry = try plugins.catalog().model(named: model)
        let backbone = try PluginBackbone(model: entry, config: config)   // a bad config fails before any output
        // Plugin text, escaped: a name or summary cannot add lines or act on the terminal.
        let s = { (text: String) in displaySafe(text) }
        print("""
            \(s(entry.name))  \(s(entry.id)) \(s(entry.version))  (family \(s(entry.family)))
            \(s(entry.summary))
            plugin: \(s(entry.pluginPath)) (\(s(entry.pluginID)) \(s(entry.pluginVersion)), built with \(s(entry.builtWith)))

            config (JSON object; keys and defaults):
            """)
        let schema = try ConfigSchema(json: entry.configSchema)
        var keys = Table("KEY", "TYPE", "DEFAULT", "ALLOWED", "DESCRIPTION")
        for p in schema.properties {
            keys.add(p.name, p.schema.typeDescription, p.schema.defaultValue?.serialized() ?? "(required)",
                     allowed(p.schema), (p.schema.description ?? "") + fromTask(p.schema.task))
        }
        print(keys.render())
        if !schema.examples.isEmpty {
            print("\nexamples:")
            for e in schema.examples { print("  " + displaySafe(JSONValue.object(e).serialized())) }
        }

        print("""

            instance (\(backbone.config)):
              parameters:    \(backbone.parameterCount)
              input shape:   \(backbone.inputShape)   output shape: \(backbone.outputShape)
              loss:          \(backbone.lossKind.rawValue)
              extensions:    \(backbone.offeredExtensions.isEmpty ? "none" : backbone.offeredExtensions.joined(separator: ", "))
              hessian-vector products: \(backbone.providesHVP ? "exact (maml.hvp/1)" : "finite differences of gradients (no maml.hvp/1)")
              vector-Jacobian products: \(backbone.providesVJP ? "exact (maml.vjp/1)" : "none (no maml.vjp/1)")
            """)
        if let layout = backbone.layout {
            print("\nparameter layout:")
            var t = Table("TENSOR", "SHAPE", "OFFSET", "COUNT", "ROLE")
            for tensor in layout {
                t.add(tensor.name, tensor.shape.map(String.init).joined(separator: "x"), String(tensor.offset),
                      String(tensor.count), tensor.role)
            }
            print(t.render())
        } else {
            print("\nparameter layout: not given (no maml.layout/1)")
        }
    }

    /// Where train, eval and bench take the key from when a config leaves it out.
    private func fromTask(_ role: TaskRole?) -> String {
        guard let role else { return "" }
        return " [when absent: from the task's \(role.rawValue.replacingOccurrences(of: "-", with: " "))]"
    }

    private func allowed(_ s: PropertySchema) -> String {
        let item = s.items ?? s
        if let values = item.enumValues { return values.map { $0.serialized() }.joined(separator: " | ") }
        switch (item.minimum, item.maximum) {
        case let (lo?, hi?): return "\(fmt(lo, 0))...\(fmt(hi, 0))"
        case let (lo?, nil): return ">= \(fmt(lo, 0))"
        case let (nil, hi?): return "<= \(fmt(hi, 0))"
        default: return ""
        }
    }
}
