// MARK: - One evaluation task's fine-tuning, traced (the MAML paper's Figure 2)
//
// The evaluator reports a task's query loss after each step count; a picture of
// adaptation needs the model's predictions on inputs of the caller's choosing (a
// fine grid) after those steps, and the support points it fine-tuned on. This
// replays evaluation task i exactly as `Evaluator.evaluate` does (same random
// stream, same inner step), so the plotted task is the one the table scored.

/// What one task's fine-tuning looked like.
public struct AdaptationTrace: Sendable {
    /// The support set: inputs (support count x input elements) and float targets (empty for labels).
    public var supportX: [Float]
    public var supportY: [Float]
    /// Step counts, as the evaluation config lists them, and for each the model's outputs on the
    /// traced inputs (nil from the step where fine-tuning diverged on).
    public var steps: [Int]
    public var predictions: [[Float]?]
}

extension Evaluator {
    /// Fine-tunes from `parameters` on evaluation task `task` with `shots` support examples and
    /// records the model's outputs on `inputs` (a multiple of the input size) after each of the
    /// config's step counts. Runs on the first worker's instance.
    public func traceAdaptation(task: Int, shots: Int, parameters: [Float],
                                inputs: [Float]) throws(MAMLError) -> AdaptationTrace {
        guard parameters.count == plan.metaCount else {
            throw .incompatible("tracing \(parameters.count) meta-parameters on a model with \(plan.metaCount)")
        }
        guard shots >= 1, shots <= config.shots.max()!, task >= 0,
              inputs.count % max(backbone.inputElements, 1) == 0 else {
            throw .invalidConfig("trace of task \(task) with K = \(shots) on \(inputs.count) inputs: expected "
                                 + "K in 1...\(config.shots.max()!) and whole examples")
        }
        return try parameters.withUnsafeBufferPointer { p throws(MAMLError) in
            try workers[0].trace(task: task, shots: shots, parameters: p, config: config, inputs: inputs)
        }
    }
}

extension EvalWorker {
    func trace(task i: Int, shots: Int, parameters: UnsafeBufferPointer<Float>, config: EvaluationConfig,
               inputs: [Float]) throws(MAMLError) -> AdaptationTrace {
        let n = backbone.parameterCount, ni = backbone.inputElements, no = backbone.outputElements
        var rng = RandomGenerator(seed: config.seed, stream: config.stream, iteration: 0, task: i)
        try family.sample(split: config.split, supportShots: shots, queryShots: config.queryShots,
                          rng: &rng, into: task)
        copyVector(parameters.baseAddress!, to: theta.base, count: n)
        m.base.update(repeating: 0, count: m.count); v.base.update(repeating: 0, count: v.count)
        var trace = AdaptationTrace(
            supportX: Array(UnsafeBufferPointer(start: task.supportX, count: shots * ni)),
            supportY: task.supportY.map { Array(UnsafeBufferPointer(start: $0, count: shots * no)) } ?? [],
            steps: config.steps, predictions: Array(repeating: nil, count: config.steps.count))
        let count = inputs.count / max(ni, 1)
        var output = [Float](repeating: 0, count: count * no)
        do throws(TaskFault) {
            for step in 0...(config.steps.max() ?? 0) {
                if config.steps.contains(step) {
                    try forward(inputs, count: count, into: &output)
                    for (s, want) in config.steps.enumerated() where want == step { trace.predictions[s] = output }
                }
                if step < config.steps.max()! {
                    _ = try lossGrad(backbone, theta.base, task.support, gradient.base, n, .support(step: step))
                    adapt(step: step, start: parameters.baseAddress!)
                }
            }
        } catch where error.isDivergence {
            // Fine-tuning blew up: the later step counts have no prediction (as evaluation counts them diverged).
        } catch {
            throw error.error(at: "traced evaluation task \(i), K = \(shots)")
        }
        return trace
    }

    /// The model's outputs at `theta` for `count` examples of `inputs`.
    private func forward(_ inputs: [Float], count: Int, into output: inout [Float]) throws(TaskFault) {
        let n = backbone.parameterCount
        // Targets are not used by a forward pass, but a batch of an MSE model carries them (zeros here).
        let targets = [Float](repeating: 0, count: count * backbone.outputElements)
        let result: Result<Void, BackboneError> = inputs.withUnsafeBufferPointer { x in
            targets.withUnsafeBufferPointer { y in
                output.withUnsafeMutableBufferPointer { out in
                    Result { () throws(BackboneError) in
                        try backbone.forward(params: UnsafeBufferPointer(start: theta.base, count: n),
                                             batch: Batch(n: count, x: x.baseAddress!, yFloat: y.baseAddress!), output: out)
                    }
                }
            }
        }
        if case .failure(let error) = result { throw .backbone(error, "forward on the traced inputs") }
    }
}
