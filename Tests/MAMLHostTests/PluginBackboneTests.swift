import MAMLCore
import MAMLPluginABI
import Testing
@testable import MAMLHost

// MARK: - The adapter through the good C plugin, and through the broken ones

/// A model instance from the corpus.
func makeBackbone(_ name: String, config: String = "{}") throws -> PluginBackbone {
    let (catalog, _) = try corpusCatalog()
    return try catalog.instantiate(name, config: config)
}

/// Loss, gradient and HVP of `backbone` at `params` on `data`, through the Backbone protocol.
struct Evaluation {
    var loss: Float
    var gradient: [Float]
    var hvp: [Float]
}

func evaluate(_ backbone: any Backbone, params: [Float], data: ReferenceData, vector: [Float]) throws -> Evaluation {
    let x = data.xFloat, y = data.yFloat, labels = data.labels
    var gradient = [Float](repeating: 0, count: params.count)
    var product = [Float](repeating: 0, count: params.count)
    let loss = try x.withUnsafeBufferPointer { xb in
        try y.withUnsafeBufferPointer { yb in
            try labels.withUnsafeBufferPointer { lb in
                let batch = Batch(n: data.n, x: xb.baseAddress!, yFloat: yb.baseAddress, yClass: lb.baseAddress)
                return try params.withUnsafeBufferPointer { p in
                    try vector.withUnsafeBufferPointer { v in
                        try product.withUnsafeMutableBufferPointer { out in
                            try backbone.hvp(params: p, batch: batch, v: v, output: out)
                        }
                        return try gradient.withUnsafeMutableBufferPointer { g in
                            try backbone.lossGrad(params: p, batch: batch, grad: g)
                        }
                    }
                }
            }
        }
    }
    return Evaluation(loss: loss, gradient: gradient, hvp: product)
}

/// Runs `body` with a batch of `data` (and scratch params of the right size).
func withBatch<R>(_ data: ReferenceData, _ body: (Batch) throws -> R) rethrows -> R {
    let x = data.xFloat, y = data.yFloat, labels = data.labels
    return try x.withUnsafeBufferPointer { xb in
        try y.withUnsafeBufferPointer { yb in
            try labels.withUnsafeBufferPointer { lb in
                try body(Batch(n: data.n, x: xb.baseAddress!, yFloat: yb.baseAddress, yClass: lb.baseAddress))
            }
        }
    }
}

@Suite("PluginBackbone")
struct PluginBackboneTests {
    @Test("geometry, layout, extensions and ops of the good linear model")
    func geometry() throws {
        let backbone = try makeBackbone("linreg", config: #"{"inputs": 4, "outputs": 2}"#)
        #expect(backbone.parameterCount == 10)
        #expect(backbone.inputShape == [4] && backbone.outputShape == [2] && backbone.lossKind == .mse)
        #expect(backbone.layout == [LayoutTensor(name: "weight", offset: 0, shape: [2, 4], role: "head"),
                                    LayoutTensor(name: "bias", offset: 8, shape: [2], role: "head")])
        #expect(backbone.providesHVP && backbone.providesVJP)
        #expect(backbone.offeredExtensions == ["maml.hvp/1", "maml.layout/1", "maml.ops/1", "maml.vjp/1"])
        #expect(backbone.extensionTable("maml.nothing/1") == nil)
        // The raw ops table is usable as-is: call flops(batch = 5) = 2 * 5 * k * d.
        let ops = try #require(backbone.opsExtension).pointee
        #expect(ops.op_count!(backbone.instance) == 18) // flops first, then OpsCallTests' ops
        let op = try #require(ops.op_at!(backbone.instance, 0)).pointee
        #expect(String(cString: op.name) == "flops" && String(cString: op.signature) == "u64(u64)")
        typealias Flops = @convention(c) (OpaquePointer?, UInt64) -> UInt64
        #expect(unsafeBitCast(op.fn, to: Flops.self)(backbone.instance, 5) == 80)

        let logreg = try makeBackbone("logreg", config: "") // "" means defaults: 3 inputs, 3 classes
        #expect(logreg.parameterCount == 12 && logreg.lossKind == .softmaxCrossEntropy)
    }

    @Test("loss, gradient and HVP match a double reference and central finite differences",
          arguments: [("linreg", #"{"inputs": 5, "outputs": 3}"#, false),
                      ("logreg", #"{"inputs": 4, "classes": 5}"#, true)])
    func numericsMatchReference(name: String, config: String, crossEntropy: Bool) throws {
        let backbone = try makeBackbone(name, config: config)
        let reference = LinearReference(inputs: backbone.inputShape[0], outputs: backbone.outputShape[0],
                                        crossEntropy: crossEntropy)
        #expect(reference.parameterCount == backbone.parameterCount)
        for seed in UInt64(1)...3 {
            let data = ReferenceData.random(n: 7, model: reference, seed: seed)
            var rng = SplitMix(seed &* 77)
            let p = (0..<reference.parameterCount).map { _ in rng.float(in: -1...1) }
            let v = (0..<reference.parameterCount).map { _ in rng.float(in: -1...1) }
            let got = try evaluate(backbone, params: p.map(Float.init), data: data, vector: v.map(Float.init))

            // The reference against finite differences of itself (double precision).
            let refGrad = reference.gradient(p, data), refHVP = reference.hvp(p, data, v)
            #expect(maxRelativeError(refGrad, centralDifference({ reference.loss($0, data) }, at: p)) < 1e-8)
            #expect(maxRelativeError(refHVP, centralDirectional({ reference.gradient($0, data) }, at: p, along: v)) < 1e-8)

            // The plugin against the reference: float32 results of double arithmetic.
            #expect(abs(Double(got.loss) - reference.loss(p, data)) <= 1e-6 * (1 + reference.loss(p, data)))
            #expect(maxRelativeError(got.gradient, refGrad) < 1e-6)
            #expect(maxRelativeError(got.hvp, refHVP) < 1e-6)

            // The plugin's HVP against central differences of the plugin's own gradient (float32).
            let h: Float = 1e-2
            let plus = try evaluate(backbone, params: zip(p, v).map { Float($0) + h * Float($1) }, data: data,
                                    vector: v.map(Float.init))
            let minus = try evaluate(backbone, params: zip(p, v).map { Float($0) - h * Float($1) }, data: data,
                                     vector: v.map(Float.init))
            let fd = zip(plus.gradient, minus.gradient).map { ($0 - $1) / (2 * h) }
            #expect(maxRelativeError(got.hvp, fd) < 2e-3)
        }
    }

    @Test("forward gives the logits; init_params is a pure function of the seed")
    func forwardAndInit() throws {
        let backbone = try makeBackbone("logreg")
        let reference = LinearReference(inputs: 3, outputs: 3, crossEntropy: true)
        let data = ReferenceData.random(n: 4, model: reference, seed: 9)
        var a = [Float](repeating: 0, count: 12), b = a, c = a
        try a.withUnsafeMutableBufferPointer { try backbone.initParameters(seed: 42, into: $0) }
        try b.withUnsafeMutableBufferPointer { try backbone.initParameters(seed: 42, into: $0) }
        try c.withUnsafeMutableBufferPointer { try backbone.initParameters(seed: 43, into: $0) }
        #expect(a == b && a != c && a.contains { $0 != 0 })

        var output = [Float](repeating: 0, count: 4 * 3)
        try withBatch(data) { batch in
            try a.withUnsafeBufferPointer { p in
                try output.withUnsafeMutableBufferPointer { try backbone.forward(params: p, batch: batch, output: $0) }
            }
        }
        let expected = (0..<4).flatMap { reference.logits(a.map(Double.init), data.example($0, 3)) }
        #expect(maxRelativeError(output, expected) < 1e-6)
    }

    @Test("a config the schema refuses never reaches create; the message names model and key")
    func badConfigRefusedBySchema() throws {
        let unknownKey = #expect(throws: HostError.self) { try makeBackbone("linreg", config: #"{"bogus": 1}"#) }
        #expect(unknownKey?.message.hasPrefix("model 'linreg' (org.test.linreg, plugin /") == true)
        #expect(unknownKey?.message.hasSuffix(#"invalid config: unknown config key "bogus" (known: inputs, outputs)"#) == true)
        let range = #expect(throws: HostError.self) { try makeBackbone("linreg", config: #"{"outputs": 17}"#) }
        #expect(range?.message.contains(#"config key "outputs": 17 is above the maximum 16"#) == true)
        let notJSON = #expect(throws: HostError.self) { try makeBackbone("linreg", config: "{inputs: 3") }
        #expect(notJSON?.message.contains("invalid config: config is not valid JSON") == true)
    }

    @Test("a config the schema allows but create refuses gives the plugin's own message")
    func badConfigRefusedByCreate() throws {
        let error = #expect(throws: HostError.self) { try makeBackbone("logreg", config: #"{"classes": 1}"#) }
        #expect(error?.message.hasPrefix("model 'logreg' (org.test.logreg, plugin /") == true)
        #expect(error?.message.hasSuffix("create failed (MAML_ERR_INVALID_ARGUMENT): config key 'classes' must be in 2...16, got 1") == true)
    }

    @Test("the resolved config, defaults filled in, is what the instance reports")
    func resolvedConfig() throws {
        let backbone = try makeBackbone("linreg", config: #"{"outputs": 4}"#)
        #expect(backbone.config == #"{"inputs":3,"outputs":4}"#)
    }

    @Test("non-finite results with MAML_OK are caught by the adapter as numerical errors")
    func nonFiniteCaught() throws {
        let backbone = try makeBackbone("linreg-nan")
        let data = ReferenceData.random(n: 3, model: LinearReference(inputs: 3, outputs: 2, crossEntropy: false), seed: 1)
        let params = [Float](repeating: 0.1, count: backbone.parameterCount)
        var gradient = params, out = params
        withBatch(data) { batch in
            params.withUnsafeBufferPointer { p in
                let noGradient = #expect(throws: BackboneError.self) {
                    _ = try backbone.lossGrad(params: p, batch: batch, grad: nil)
                }
                #expect(noGradient?.kind == .numerical)
                #expect(noGradient?.message.contains("non-finite loss (nan) with MAML_OK") == true)
                let withGradient = #expect(throws: BackboneError.self) {
                    _ = try gradient.withUnsafeMutableBufferPointer {
                        try backbone.lossGrad(params: p, batch: batch, grad: $0)
                    }
                }
                #expect(withGradient?.kind == .numerical && withGradient?.message.contains("non-finite gradient") == true)
                let hvp = #expect(throws: BackboneError.self) {
                    try out.withUnsafeMutableBufferPointer {
                        try backbone.hvp(params: p, batch: batch, v: p, output: $0)
                    }
                }
                #expect(hvp?.message.contains("non-finite Hessian-vector product") == true)
            }
        }
    }

    @Test("error statuses carry the plugin's message, or say it gave none")
    func errorStatuses() throws {
        let backbone = try makeBackbone("linreg-fail")
        let data = ReferenceData.random(n: 2, model: LinearReference(inputs: 3, outputs: 2, crossEntropy: false), seed: 2)
        var params = [Float](repeating: 0, count: backbone.parameterCount)
        var output = [Float](repeating: 0, count: 2 * 2)
        let initError = #expect(throws: BackboneError.self) {
            try params.withUnsafeMutableBufferPointer { try backbone.initParameters(seed: 1, into: $0) }
        }
        #expect(initError == BackboneError(.internal, "linreg-fail: init_params returned unknown status 99: init_params: deliberate unknown status"))
        withBatch(data) { batch in
            params.withUnsafeBufferPointer { p in
                let lossError = #expect(throws: BackboneError.self) {
                    _ = try backbone.lossGrad(params: p, batch: batch, grad: nil)
                }
                #expect(lossError == BackboneError(.shapeMismatch, "linreg-fail: loss_grad: fixture: x does not fit (deliberate failure)"))
                let forwardError = #expect(throws: BackboneError.self) {
                    try output.withUnsafeMutableBufferPointer { try backbone.forward(params: p, batch: batch, output: $0) }
                }
                #expect(forwardError == BackboneError(.internal, "linreg-fail: forward: plugin gave no message"))
            }
        }
    }

    @Test("the adapter checks buffer sizes and targets before calling the plugin")
    func hostSideChecks() throws {
        let backbone = try makeBackbone("linreg")
        let data = ReferenceData.random(n: 2, model: LinearReference(inputs: 3, outputs: 2, crossEntropy: false), seed: 3)
        let short = [Float](repeating: 0, count: 3)
        withBatch(data) { batch in
            short.withUnsafeBufferPointer { p in
                let error = #expect(throws: BackboneError.self) {
                    _ = try backbone.lossGrad(params: p, batch: batch, grad: nil)
                }
                #expect(error == BackboneError(.invalidArgument, "linreg: params has 3 floats, expected 8"))
            }
            var noTargets = batch
            noTargets.yFloat = nil
            let params = [Float](repeating: 0, count: 8)
            params.withUnsafeBufferPointer { p in
                let error = #expect(throws: BackboneError.self) {
                    _ = try backbone.lossGrad(params: p, batch: noTargets, grad: nil)
                }
                #expect(error?.message == "linreg: MSE model needs float targets (batch.y is nil)")
            }
        }
    }

    @Test("bad geometry from a plugin is a create-time error naming the problem", arguments: [
        ("linreg-badlayout", "layout tensor 'bias' [5, 7) overlaps 'weight' [0, 6)"),
        ("linreg-badshape", "output_shape has rank 0, expected 1...4"),
        ("linreg-badloss", "loss_kind 7 is not MAML_LOSS_MSE (1) or MAML_LOSS_SOFTMAX_CE (2)"),
    ])
    func badGeometry(name: String, message: String) throws {
        let error = #expect(throws: HostError.self) { try makeBackbone(name) }
        #expect(error?.message.hasSuffix(message) == true, "\(String(describing: error))")
        #expect(error?.message.hasPrefix("model '\(name)'") == true)
    }

    @Test("without maml.hvp/1 there is no exact HVP, and asking for one is unsupported; a table too short for hvp is refused")
    func missingExtensions() throws {
        for name in ["linreg-noext"] {
            let backbone = try makeBackbone(name)
            #expect(!backbone.providesHVP)
            let params = [Float](repeating: 0, count: backbone.parameterCount)
            var out = params
            let data = ReferenceData.random(n: 1, model: LinearReference(inputs: 3, outputs: 2, crossEntropy: false), seed: 4)
            withBatch(data) { batch in
                params.withUnsafeBufferPointer { p in
                    let error = #expect(throws: BackboneError.self) {
                        try out.withUnsafeMutableBufferPointer {
                            try backbone.hvp(params: p, batch: batch, v: p, output: $0)
                        }
                    }
                    #expect(error?.kind == .unsupported)
                }
            }
        }
        let noExtensions = try makeBackbone("linreg-noext")
        #expect(noExtensions.layout == nil && noExtensions.offeredExtensions.isEmpty && noExtensions.opsExtension == nil)
        // Offered but unusable is a broken plugin, not a missing extension: refused at create.
        let error = #expect(throws: HostError.self) { try makeBackbone("linreg-shorthvp") }
        #expect(error?.message.hasSuffix("): maml.hvp/1: struct_size is 4 bytes, too small to hold hvp (maml_ext_hvp is 16 bytes): set it to sizeof(maml_ext_hvp), or return NULL from get_extension to offer no exact HVP") == true,
                "\(String(describing: error))")
    }

    @Test("allFinite spots NaN and infinities anywhere")
    func finiteCheck() {
        var values = [Float](repeating: 1.5, count: 37)
        #expect(values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: 37) })
        for bad in [Float.nan, .infinity, -.infinity, .signalingNaN] {
            for index in [0, 17, 36] {
                var copy = values
                copy[index] = bad
                #expect(!copy.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: 37) })
            }
        }
        values[3] = .greatestFiniteMagnitude; values[4] = -0.0; values[5] = .leastNonzeroMagnitude
        #expect(values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: 37) })
    }
}
