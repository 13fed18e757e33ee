import MAMLSchema

// MARK: - Config and schema validation
//
// The host validates a user's config against the model's schema before
// create(), with the same validator Swift plugins use (MAMLSchema's
// ConfigSchema), so every plugin, whatever its language, gets the same clear
// messages ("config key "hidden"[1]: 0 is below the minimum 1"). The plugin's
// create() still validates: it is the authority on its own config.

/// Checks `config` against the model's JSON `schema`; returns the resolved config (every key,
/// defaults filled, schema order) to pass to `create`. An empty or blank config means `{}`.
func validateConfig(schema: String, config: String) throws(HostError) -> String {
    do {
        return JSONValue.object(try ConfigSchema(json: schema).validate(config)).serialized()
    } catch let error as ConfigError {
        throw HostError(error.message)
    } catch {
        throw HostError("config_schema: \(error)")
    }
}

/// Checks that a descriptor's `config_schema` is a schema the host understands.
func validateSchema(_ schema: String) throws(HostError) {
    do throws(ConfigSchemaError) { _ = try ConfigSchema(json: schema) }
    catch { throw HostError("config_schema is not a valid schema: \(error.message)") }
}

/// `config` with every key the model's schema marks with a task role (`"task"`) and the user left
/// out set from the task the model is about to be trained or evaluated on; an error names the
/// key, the value and where it came from.
public func fillConfig(schema: String, config: String, from task: TaskValues) throws(HostError) -> String {
    do { return try ConfigSchema(json: schema).filling(config, from: task) }
    catch let error as ConfigError { throw HostError(error.message) }
    catch { throw HostError("config_schema: \(error)") }
}
