// MARK: - Prototypical Networks (Snell, Swersky, Zemel 2017)
// (implemented once the maml.vjp/1 extension lands; MetaPlan refuses backbones without it)

extension MetaLearner {
    func protoNet(_ backbone: any Backbone, _ parameters: UnsafeBufferPointer<Float>, _ task: TaskBuffer,
                  _ ws: MetaWorkspace, _ output: UnsafeMutableBufferPointer<Float>) throws(TaskFault) -> Float {
        throw .backbone(BackboneError(.unsupported, "protonet is not built yet"), "protonet")
    }
}
