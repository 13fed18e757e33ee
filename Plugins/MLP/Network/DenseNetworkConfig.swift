import MAMLPluginKit

// MARK: - DenseNetwork's config: the MLP plugin's JSON schema, its resolution and limits
//
// "input" is the task's input shape; its elements are flattened into the first layer.
// The sizes are [input elements, hidden..., output].

extension DenseNetwork {
    /// The shape of the network, as the MLP plugin's config gives it.
    public struct Config: Equatable, Sendable {
        /// One example's input shape (flattened).
        public var input: [Int]
        /// Widths of the hidden layers, first to last.
        public var hidden: [Int]
        /// Outputs (MSE) or classes (softmax-ce).
        public var output: Int
        public var activation: Activation
        public var loss: Loss

        /// Defaults are the schema's: the MAML paper's sinusoid regressor [1, 40, 40, 1], relu, MSE.
        public init(input: [Int] = [1], hidden: [Int] = [40, 40], output: Int = 1,
                    activation: Activation = .relu, loss: Loss = .mse) {
            self.input = input; self.hidden = hidden; self.output = output
            self.activation = activation; self.loss = loss
        }
    }

    /// Builds the network; a config that cannot work is refused with a message naming the key.
    public convenience init(_ config: Config) throws(PluginError) {
        let outputs = config.output
        if config.loss == .softmaxCrossEntropy && outputs < 2 {
            throw PluginError(.invalidArgument, "config key \"output\": \(outputs) classes is too few for \"softmax-ce\" (expected at least 2)")
        }
        // Each dimension may be up to 65536 and there may be 4: the product can overflow Int.
        var inputs = 1, overflow = false
        for d in config.input {
            let (p, o) = inputs.multipliedReportingOverflow(by: d)
            inputs = p; overflow = overflow || o
        }
        guard !overflow, inputs <= 1 << 24 else {
            let count = overflow ? "more than \(Int.max)" : "\(inputs)"
            throw PluginError(.invalidArgument, "config key \"input\": \(config.input) has \(count) elements, expected at most \(1 << 24)")
        }
        let sizes = [inputs] + config.hidden + [outputs]
        var params = 0
        for l in 0..<(sizes.count - 1) { params += sizes[l + 1] * (sizes[l] + 1) }
        guard params <= 1 << 28 else {
            throw PluginError(.invalidArgument, "config: \(sizes) gives \(params) parameters, more than the \(1 << 28) allowed")
        }
        self.init(sizes: sizes, activation: config.activation, loss: config.loss, inputShape: config.input)
    }
}

extension DenseNetwork.Config {
    /// A config from a JSON object already validated against `DenseNetwork.configSchema`
    /// (every key present).
    public init(resolved config: JSONObject) throws(PluginError) {
        let input = try config.requireIntArray("input")
        let hidden = try config.requireIntArray("hidden")
        let output = try config.requireInt("output")
        guard let activation = DenseNetwork.Activation(rawValue: try config.requireString("activation")),
              let loss = DenseNetwork.Loss(rawValue: try config.requireString("loss")) else {
            throw PluginError(.internal, "config: activation or loss not understood after validation")
        }
        self.init(input: input, hidden: hidden, output: output, activation: activation, loss: loss)
    }
}

extension DenseNetwork {
    /// The plugin config schema (JSON): keys input, hidden, output, activation, loss.
    public static let configSchema = """
{
  "type": "object",
  "title": "mlp",
  "properties": {
    "input": {"type": "array", "task": "input-shape", "items": {"type": "integer", "minimum": 1, "maximum": 65536},
              "minItems": 1, "maxItems": 4, "default": [1],
              "description": "shape of one input example; inputs are flattened"},
    "hidden": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65536},
               "minItems": 0, "maxItems": 64, "default": [40, 40],
               "description": "widths of the hidden layers, first to last"},
    "output": {"type": "integer", "task": "output-size", "minimum": 1, "maximum": 65536, "default": 1,
               "description": "outputs (MSE) or classes (softmax-ce)"},
    "activation": {"type": "string", "enum": ["relu", "tanh"], "default": "relu",
                   "description": "nonlinearity between layers"},
    "loss": {"type": "string", "task": "loss", "enum": ["mse", "softmax-ce"], "default": "mse",
             "description": "mse: regression on float targets; softmax-ce: classification on labels"}
  },
  "additionalProperties": false,
  "examples": [
    {},
    {"hidden": [64, 64], "output": 5, "activation": "tanh", "loss": "softmax-ce"},
    {"input": [1, 28, 28], "hidden": [256, 128], "output": 5, "loss": "softmax-ce"}
  ]
}
"""
}
