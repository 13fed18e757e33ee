@_exported import MAMLSchema   // JSON, ConfigSchema, SplitMix64: every plugin author needs them

// MARK: - MAMLPluginKit: the authoring kit for backbone plugins written in Swift
//
// For anyone writing a maml-zoo backbone in Swift, in this package or in their own
// (docs/examples/swift): write the model as a class, register it, export one function;
// the kit is the C ABI side and the numerics toolbox, nothing model-specific.
//
//   PluginModel.swift    the protocol a model implements (identity, config -> instance,
//                        loss, gradient, optional HVP and VJP, layout, ops), PluginError,
//                        PluginBatch, reading a resolved config
//   NetworkModel.swift   NetworkPluginModel: a whole PluginModel (HVP and VJP included)
//                        from an ExactNetwork
//   Exports.swift        ModelDescriptor, PluginRegistry and the registry entry point
//   Thunks.swift,        the C functions behind a maml_model *: argument checks,
//   InstanceBox.swift    errors to status + last_error, non-finite result checks
//   Kernels.swift        GEMM (OpenBLAS, and the C small-shape kernels of MAMLKernels)
//                        and vector helpers
//   LossHead.swift       the ABI's losses (MSE, softmax cross-entropy) on raw outputs:
//                        value, gradient and Hessian times a direction
//   MAMLSchema           re-exported: JSON, the config-schema subset, SplitMix64
//
// The bundled backbones are not in the kit: each is in Plugins/<Name>/Network (the
// network and its model class) with a thin Plugins/<Name>/Entry target (the .so).
