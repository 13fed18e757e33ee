import MAMLPluginKit

// MARK: - ConvNetwork's config: the plugin's JSON schema and its resolution
//
// "channels" is an array in the schema (the schema subset has one type per key):
// [c] means c filters in every block, or one entry per block.

extension ConvNetwork.Config {
    /// A config from a JSON object already validated against `ConvNetwork.configSchema`
    /// (every key present); refuses what the schema cannot express, naming the key.
    public init(resolved config: JSONObject) throws(PluginError) {
        let input = try config.requireIntArray("input")
        let blocks = try config.requireInt("blocks")
        let channels = try config.requireIntArray("channels")
        guard channels.count == 1 || channels.count == blocks else {
            throw PluginError(.invalidArgument, "config key \"channels\": \(channels) has \(channels.count) entries, expected 1 (the same for every block) or \(blocks) (one per block, as \"blocks\")")
        }
        let downsampleName = try config.requireString("downsample"), normName = try config.requireString("norm")
        guard let downsample = ConvNetwork.Downsample(rawValue: downsampleName),
              let norm = ConvNetwork.Norm(rawValue: normName) else {
            throw PluginError(.internal, "config: downsample \"\(downsampleName)\" or norm \"\(normName)\" not understood after validation")
        }
        self.init(input: input, channels: channels.count == 1 ? Array(repeating: channels[0], count: blocks) : channels,
                  kernel: try config.requireInt("kernel"), downsample: downsample, norm: norm,
                  classes: try config.requireInt("classes"),
                  loss: try config.requireString("loss") == "mse" ? .mse : .softmaxCrossEntropy)
    }
}

extension ConvNetwork {
    /// The plugin config schema (JSON): keys input, blocks, channels, kernel, downsample, norm, classes, loss.
    public static let configSchema = """
{
  "type": "object",
  "title": "cnn",
  "description": "blocks of [conv k x k, same padding; batch norm; ReLU; 2x2 max-pool or stride-2 conv], then a linear head. Batch norm uses the statistics of the batch given (transductive, as MAML), eps 1e-5; a batch of 1 is allowed (statistics over positions). Every block keeps its conv bias (zero gradient under batch norm).",
  "properties": {
    "input": {"type": "array", "task": "input-shape", "items": {"type": "integer", "minimum": 1, "maximum": 4096},
              "minItems": 3, "maxItems": 3, "default": [1, 28, 28],
              "description": "[channels, height, width] of one image: [1,28,28] Omniglot, [3,84,84] MiniImageNet"},
    "blocks": {"type": "integer", "minimum": 1, "maximum": 16, "default": 4,
               "description": "number of conv blocks"},
    "channels": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 4096},
                 "minItems": 1, "maxItems": 16, "default": [64],
                 "description": "filters per block: [c] for every block, or one entry per block"},
    "kernel": {"type": "integer", "minimum": 1, "maximum": 15, "default": 3,
               "description": "odd convolution kernel size; padding kernel/2 (same)"},
    "downsample": {"type": "string", "enum": ["maxpool", "stride"], "default": "maxpool",
                   "description": "maxpool: 2x2 max-pool after ReLU; stride: stride-2 convolutions"},
    "norm": {"type": "string", "enum": ["none", "batch"], "default": "batch",
             "description": "batch: batch norm with batch statistics and learned scale and shift"},
    "classes": {"type": "integer", "task": "output-size", "minimum": 1, "maximum": 65536, "default": 5,
                "description": "outputs: classes (softmax-ce, at least 2) or regression targets (mse)"},
    "loss": {"type": "string", "task": "loss", "enum": ["softmax-ce", "mse"], "default": "softmax-ce",
             "description": "softmax-ce: labels; mse: float targets"}
  },
  "additionalProperties": false,
  "examples": [
    {},
    {"input": [3, 84, 84], "channels": [32]},
    {"downsample": "stride", "norm": "none", "classes": 20}
  ]
}
"""
}
