// MARK: - maml-host list
import ArgumentParser
import MAMLHost
import MAMLSchema

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the models of every plugin found, and the plugins that failed to load.")

    @OptionGroup var plugins: PluginOptions
    @Flag(help: "One JSON object on stdout instead of a table.") var json = false

    func run() throws {
        let catalog = plugins.catalog(quiet: json)
        if json {
            let models = catalog.models.map { m in
                jsonObject(["id": .string(m.id), "name": .string(m.name), "family": .string(m.family),
                             "version": .string(m.version), "summary": .string(m.summary), "file": .string(m.pluginPath),
                             "built_with": .string(m.builtWith)])
            }
            let problems = catalog.problems.map { p in
                jsonObject(["file": .string(p.path), "severity": .string(p.severity == .error ? "error" : "warning"),
                             "message": .string(p.message)])
            }
            let scan = jsonObject(["scanned": .number(Double(catalog.scansRun)), "cached": .number(Double(catalog.scansCached))])
            print(jsonObject(["models": .array(models), "problems": .array(problems), "scan": scan]).serialized())
            return
        }
        guard !catalog.models.isEmpty else {
            print("no models found; searched: " + catalog.searchedDirectories.map(\.path).joined(separator: ", "))
            return
        }
        var table = Table("ID", "NAME", "FAMILY", "VERSION", "FILE")
        for m in catalog.models.sorted(by: { $0.name < $1.name }) {
            table.add(m.id, m.name, m.family, m.version, m.pluginPath)
        }
        print(table.render())
    }
}
