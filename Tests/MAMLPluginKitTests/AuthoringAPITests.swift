import Testing
import MAMLPluginABI
@testable import MAMLPluginKit

// MARK: - Test-local models (never the MLP plugin target)

/// A linear model y = w.x + b with switches that make it misbehave on purpose.
final class ToyModel: PluginModel {
    static let info = ModelInfo(
        id: "test.toy", name: "toy", version: "0.1.0", family: "test", summary: "linear toy",
        configSchema: #"""
        {"type":"object","properties":{
          "scale":{"type":"number","minimum":0,"default":1},
          "explode":{"type":"boolean","default":false},
          "refuse":{"type":"boolean","default":false},
          "classes":{"type":"integer","minimum":0,"default":0}}}
        """#)
    static let ops = [
        PluginOp(name: "twice", help: "2n if the instance is a toy", signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     modelInstance(m, as: ToyModel.self) == nil ? 0 : 2 * n
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]
    let explode: Bool, classes: Int, scale: Float
    init(config: JSONObject) throws(PluginError) {
        if try config.requireBool("refuse") { throw PluginError(.unsupported, "toy refuses this config") }
        explode = try config.requireBool("explode")
        classes = try config.requireInt("classes")
        scale = Float(try config.requireNumber("scale"))
    }
    var parameterCount: Int { 3 }
    var inputShape: [Int] { [2] }
    var outputShape: [Int] { [classes > 0 ? classes : 1] }
    var lossKind: PluginLossKind { classes > 0 ? .softmaxCrossEntropy : .mse }
    var layout: [LayoutTensor] { [LayoutTensor(name: "w", offset: 0, shape: [2], role: "body"),
                                  LayoutTensor(name: "b", offset: 2, shape: [1], role: "head")] }
    var providesHVP: Bool { true }
    var providesVJP: Bool { true }
    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) {
        for i in 0..<3 { params[i] = Float(seed) + Float(i) }
    }
    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        for r in 0..<batch.n { output[r] = scale * (params[0] * batch.x[2 * r] + params[1] * batch.x[2 * r + 1] + params[2]) }
        if explode { output[batch.n - 1] = .infinity }
    }
    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        if let grad { for i in 0..<3 { grad[i] = params[i] } ; if explode { grad[1] = .nan } }
        return explode && grad == nil ? .nan : 0.5
    }
    func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        for i in 0..<3 { output[i] = 2 * v[i] }
        if explode { output[2] = -.infinity }
    }
    /// d/dw of sum_r u_r scale (w . x_r + b): scale sum_r u_r x_r, and scale sum_r u_r for b.
    func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
             grad: UnsafeMutablePointer<Float>) throws(PluginError) {
        grad.update(repeating: 0, count: 3)
        for r in 0..<batch.n {
            grad[0] += scale * outputGrad[r] * batch.x[2 * r]
            grad[1] += scale * outputGrad[r] * batch.x[2 * r + 1]
            grad[2] += scale * outputGrad[r]
        }
        if explode { grad[0] = .nan }
    }
}

/// Minimal: no HVP, no layout, no ops; layout tensors optional.
final class PlainModel: PluginModel {
    static let info = ModelInfo(id: "test.plain", name: "plain", version: "1.0.0", family: "test",
                                summary: "plain", configSchema: "{\"type\":\"object\",\"properties\":{}}")
    init(config: JSONObject) throws(PluginError) {}
    var parameterCount: Int { 1 }
    var inputShape: [Int] { [1] }
    var outputShape: [Int] { [1] }
    var lossKind: PluginLossKind { .mse }
    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) { params[0] = .nan }
    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {}
    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float { 0 }
}

/// A model whose layout leaves a gap: create must refuse it.
final class BadLayoutModel: PluginModel {
    static let info = ModelInfo(id: "test.bad", name: "bad", version: "1.0.0", family: "test",
                                summary: "bad", configSchema: "{\"type\":\"object\",\"properties\":{}}")
    init(config: JSONObject) throws(PluginError) {}
    var parameterCount: Int { 4 }
    var inputShape: [Int] { [1] }
    var outputShape: [Int] { [1] }
    var lossKind: PluginLossKind { .mse }
    var layout: [LayoutTensor] { [LayoutTensor(name: "a", offset: 0, shape: [2], role: "body"),
                                  LayoutTensor(name: "b", offset: 3, shape: [1], role: "head")] }
    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) {}
    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {}
    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float { 0 }
}

let testRegistry = PluginRegistry(pluginID: "test.plugin", version: "0.0.1", models: [
    ModelDescriptor(ToyModel.self) { ToyModel.create($0, $1, $2, $3) },
    ModelDescriptor(PlainModel.self) { PlainModel.create($0, $1, $2, $3) },
    ModelDescriptor(BadLayoutModel.self) { BadLayoutModel.create($0, $1, $2, $3) },
])

// MARK: - Helpers

/// An instance created through the descriptor's C function pointers, destroyed with it.
final class Instance {
    let desc: maml_model_desc
    let m: OpaquePointer?
    init(_ index: Int, _ config: String?) throws {
        desc = testRegistry.models[index].pointer.pointee
        let (status, m, message) = Self.create(desc, config)
        guard status == MAML_OK, let m else { throw PluginError(.internal, "create failed: \(message)") }
        self.m = m
    }
    deinit { desc.destroy(m) }

    static func create(_ desc: maml_model_desc, _ config: String?, errLen: Int = 512) -> (Int32, OpaquePointer?, String) {
        var out: OpaquePointer? = nil
        var err = [CChar](repeating: 0x7F, count: max(errLen, 1))
        let status: Int32 = err.withUnsafeMutableBufferPointer { e in
            if let config { return config.withCString { desc.create($0, &out, e.baseAddress, errLen) } }
            return desc.create(nil, &out, e.baseAddress, errLen)
        }
        return (status, out, errLen > 0 ? String(cString: err) : "")
    }
    var lastError: String { String(cString: desc.last_error(m)!) }

    /// loss_grad on an MSE batch of n examples with every pointer overridable.
    func lossGrad(n: UInt64 = 2, structSize: Int = MemoryLayout<maml_batch>.size, nullParams: Bool = false,
                  nullX: Bool = false, nullY: Bool = false, labels: [Int32]? = nil, nullLoss: Bool = false,
                  withGrad: Bool = true) -> (Int32, Float, [Float]) {
        let params: [Float] = [1, 2, 3], x: [Float] = [1, 2, 3, 4], y: [Float] = [0, 0]
        var grad = [Float](repeating: 0, count: 3), loss: Float = -1
        let status = params.withUnsafeBufferPointer { pp in x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in
            (labels ?? []).withUnsafeBufferPointer { lp in grad.withUnsafeMutableBufferPointer { gp in
                var batch = maml_batch(struct_size: UInt32(structSize), n: n, x: nullX ? nil : xp.baseAddress,
                                       y_float: nullY ? nil : yp.baseAddress, y_class: labels == nil ? nil : lp.baseAddress)
                return withUnsafeMutablePointer(to: &loss) { lossPointer in
                    desc.loss_grad(m, nullParams ? nil : pp.baseAddress, &batch, nullLoss ? nil : lossPointer,
                                   withGrad ? gp.baseAddress : nil)
                }
            } }
        } } }
        return (status, loss, grad)
    }
}

/// Calls body with a batch of n examples over x and y (kept alive for the call).
func withBatch<R>(n: UInt64, x: [Float], y: [Float]?, _ body: (inout maml_batch) -> R) -> R {
    x.withUnsafeBufferPointer { xp in (y ?? []).withUnsafeBufferPointer { yp in
        var batch = maml_batch(struct_size: UInt32(MemoryLayout<maml_batch>.size), n: n, x: xp.baseAddress,
                               y_float: y == nil ? nil : yp.baseAddress, y_class: nil)
        return body(&batch)
    } }
}

// MARK: - Tests

@Suite struct AuthoringAPITests {
    @Test func registryAndDescriptorsDescribeTheModels() throws {
        #expect(swiftToolchain == "swift-6.3.1")
        let r = try #require(testRegistry.entry(hostMajor: 1, hostMinor: 0, host: nil)).pointee
        #expect(r.struct_size == UInt32(MemoryLayout<maml_registry>.size))
        #expect(r.abi.major == 1 && r.abi.minor == 1 && r.requires_minor == 0)   // ABI 1.1; served to 1.0 hosts too
        #expect(String(cString: r.built_with) == "swift-6.3.1")
        #expect(String(cString: r.plugin_id) == "test.plugin")
        #expect(r.model_count == 3)
        let d = try #require(r.model_at(0)).pointee
        #expect(String(cString: d.id) == "test.toy" && String(cString: d.name) == "toy")
        #expect(String(cString: d.family) == "test" && String(cString: d.version) == "0.1.0")
        #expect(try ConfigSchema(json: String(cString: d.config_schema)).property("scale") != nil)
        #expect(r.model_at(1) != nil && r.model_at(3) == nil && r.model_at(.max) == nil)
        #expect(testRegistry.entry(hostMajor: 1, hostMinor: 0, host: nil) == testRegistry.entry(hostMajor: 1, hostMinor: 5, host: nil))
    }

    @Test func entryRefusesOtherMajorAndLogsWhy() {
        final class Log { var lines: [String] = [] }
        let log = Log()
        var host = maml_host_api(struct_size: UInt32(MemoryLayout<maml_host_api>.size),
                                 abi: maml_abi_version(major: 2, minor: 0),
                                 log: { ctx, level, msg in
                                     Unmanaged<Log>.fromOpaque(ctx!).takeUnretainedValue().lines.append("\(level) \(String(cString: msg!))")
                                 }, log_ctx: Unmanaged.passUnretained(log).toOpaque())
        #expect(testRegistry.entry(hostMajor: 2, hostMinor: 0, host: &host) == nil)
        #expect(log.lines == ["3 test.plugin: built for plugin ABI 1.1, host speaks 2.0"])
    }

    @Test func createReportsConfigErrorsWithStatusAndMessage() {
        let desc = testRegistry.models[0].pointer.pointee
        let (status, m, message) = Instance.create(desc, #"{"scale": -1}"#)
        #expect(status == MAML_ERR_INVALID_ARGUMENT && m == nil)
        #expect(message == #"config key "scale": -1 is below the minimum 0"#)
        let (s2, _, m2) = Instance.create(desc, #"{"scale": "#)
        #expect(s2 == MAML_ERR_INVALID_ARGUMENT && m2.hasPrefix("config is not valid JSON: line 1, column 11"))
        // The model's own thrown error keeps its status.
        let (s3, _, m3) = Instance.create(desc, #"{"refuse": true}"#)
        #expect(s3 == MAML_ERR_UNSUPPORTED && m3 == "toy refuses this config")
        // Messages are truncated to err_len, NUL-terminated.
        let (s4, _, m4) = Instance.create(desc, #"{"scale": -1}"#, errLen: 8)
        #expect(s4 == MAML_ERR_INVALID_ARGUMENT && m4 == "config ")
        // NULL out.
        let s5 = desc.create(nil, nil, nil, 0)
        #expect(s5 == MAML_ERR_INVALID_ARGUMENT)
        // Invalid UTF-8.
        var out: OpaquePointer? = nil
        let bad: [CChar] = [0x7B, CChar(bitPattern: 0xFF), 0x7D, 0]
        #expect(desc.create(bad, &out, nil, 0) == MAML_ERR_INVALID_ARGUMENT && out == nil)
        // A model whose layout is inconsistent is an internal error, not a crash.
        let (s6, _, m6) = Instance.create(testRegistry.models[2].pointer.pointee, nil)
        #expect(s6 == MAML_ERR_INTERNAL && m6.contains("layout tensor b starts at 3, expected 2"))
    }

    @Test func instanceFunctionsReportShapesAndKinds() throws {
        let toy = try Instance(0, nil)
        #expect(toy.desc.param_count(toy.m) == 3)
        let s = toy.desc.input_shape(toy.m)
        #expect(s.rank == 1 && s.dims.0 == 2 && s.dims.1 == 0)
        #expect(toy.desc.loss_kind(toy.m) == MAML_LOSS_MSE)
        let ce = try Instance(0, #"{"classes": 4}"#)
        #expect(ce.desc.loss_kind(ce.m) == MAML_LOSS_SOFTMAX_CE && ce.desc.output_shape(ce.m).dims.0 == 4)
        #expect(toy.lastError == "")
        #expect(toy.desc.param_count(nil) == 0 && String(cString: toy.desc.last_error(nil)!) == "the maml_model instance is NULL")
        var p = [Float](repeating: 0, count: 3)
        #expect(toy.desc.init_params(toy.m, 5, &p) == MAML_OK && p == [5, 6, 7])
        #expect(toy.desc.init_params(toy.m, 5, nil) == MAML_ERR_INVALID_ARGUMENT && toy.lastError == "init_params: params is NULL")
    }

    @Test func lossGradRefusesBadPointersAndSizes() throws {
        let toy = try Instance(0, nil)
        #expect(toy.lossGrad().0 == MAML_OK)
        let cases: [((Instance) -> (Int32, Float, [Float]), String)] = [
            ({ $0.lossGrad(nullParams: true) }, "loss_grad: params is NULL"),
            ({ $0.lossGrad(n: 0) }, "loss_grad: batch n is 0; a batch needs at least 1 example"),
            ({ $0.lossGrad(nullX: true) }, "loss_grad: batch x is NULL"),
            ({ $0.lossGrad(nullY: true) }, "loss_grad: batch y_float is NULL; this model's loss is MSE and needs float targets"),
            ({ $0.lossGrad(nullLoss: true) }, "loss_grad: loss is NULL"),
            ({ $0.lossGrad(structSize: 24) }, "loss_grad: batch struct_size is 24, expected at least 40 (maml_batch of ABI 1.0)"),
        ]
        for (call, message) in cases {
            #expect(call(toy).0 == MAML_ERR_INVALID_ARGUMENT)
            #expect(toy.lastError == message)
        }
        var loss: Float = 0
        #expect(toy.desc.loss_grad(toy.m, [1, 2, 3], nil, &loss, nil) == MAML_ERR_INVALID_ARGUMENT && toy.lastError == "loss_grad: batch is NULL")
        #expect(toy.desc.loss_grad(nil, [1, 2, 3], nil, &loss, nil) == MAML_ERR_INVALID_ARGUMENT)
        // Cross-entropy: labels required and in range.
        let ce = try Instance(0, #"{"classes": 3}"#)
        #expect(ce.lossGrad(nullY: true).0 == MAML_ERR_INVALID_ARGUMENT)
        #expect(ce.lastError.hasPrefix("loss_grad: batch y_class is NULL"))
        #expect(ce.lossGrad(labels: [0, 3]).0 == MAML_ERR_SHAPE_MISMATCH)
        #expect(ce.lastError == "loss_grad: label 3 of example 1 is outside [0, 3) for this model's 3 classes")
        #expect(ce.lossGrad(labels: [2, 0]).0 == MAML_OK)
    }

    @Test func nonFiniteResultsAreNumericalErrors() throws {
        let bad = try Instance(0, #"{"explode": true}"#)
        let (status, _, _) = bad.lossGrad()
        #expect(status == MAML_ERR_NUMERICAL && bad.lastError == "loss_grad: gradient element 1 is nan (loss 0.5)")
        #expect(bad.lossGrad(withGrad: false).0 == MAML_ERR_NUMERICAL && bad.lastError == "loss_grad: the loss is nan")
        var out = [Float](repeating: 0, count: 2)
        let x: [Float] = [1, 2, 3, 4]
        #expect(withBatch(n: 2, x: x, y: nil) { bad.desc.forward(bad.m, [1, 2, 3], &$0, &out) } == MAML_ERR_NUMERICAL)
        #expect(bad.lastError == "forward: output 1 of 2 is inf")
        let plain = try Instance(1, nil)
        var p: [Float] = [0]
        #expect(plain.desc.init_params(plain.m, 1, &p) == MAML_ERR_NUMERICAL && plain.lastError == "init_params: parameter 0 is nan")
        // A healthy forward needs no targets.
        let toy = try Instance(0, #"{"scale": 2}"#)
        #expect(withBatch(n: 2, x: x, y: nil) { toy.desc.forward(toy.m, [1, 2, 3], &$0, &out) } == MAML_OK && out == [16, 28])
        #expect(withBatch(n: 2, x: x, y: nil) { toy.desc.forward(toy.m, [1, 2, 3], &$0, nil) } == MAML_ERR_INVALID_ARGUMENT)
        #expect(toy.lastError == "forward: out is NULL")
    }

    @Test func extensionsAreOfferedOnlyWhenProvided() throws {
        let toy = try Instance(0, nil), plain = try Instance(1, nil)
        for id in [MAML_EXT_HVP, MAML_EXT_LAYOUT, MAML_EXT_OPS, MAML_EXT_VJP] {
            #expect(toy.desc.get_extension(toy.m, id) != nil, "\(id)")
            #expect(plain.desc.get_extension(plain.m, id) == nil, "\(id)")
        }
        #expect(toy.desc.get_extension(toy.m, "maml.hvp/2") == nil && toy.desc.get_extension(toy.m, "maml.hvp") == nil)
        #expect(toy.desc.get_extension(toy.m, nil) == nil)

        // HVP: checks, aliasing, non-finite.
        let hvp = toy.desc.get_extension(toy.m, MAML_EXT_HVP)!.assumingMemoryBound(to: maml_ext_hvp.self).pointee
        #expect(hvp.struct_size == UInt32(MemoryLayout<maml_ext_hvp>.size))
        let x: [Float] = [1, 2, 3, 4], y: [Float] = [0, 0]
        var v: [Float] = [1, 2, 3], out = [Float](repeating: 0, count: 3)
        #expect(withBatch(n: 2, x: x, y: y) { hvp.hvp(toy.m, [0, 0, 0], &$0, v, &out) } == MAML_OK && out == [2, 4, 6])
        #expect(withBatch(n: 2, x: x, y: y) { hvp.hvp(toy.m, [0, 0, 0], &$0, nil, &out) } == MAML_ERR_INVALID_ARGUMENT)
        #expect(toy.lastError == "hvp: v is NULL")
        #expect(withBatch(n: 2, x: x, y: nil) { hvp.hvp(toy.m, [0, 0, 0], &$0, v, &out) } == MAML_ERR_INVALID_ARGUMENT)
        #expect(toy.lastError.hasPrefix("hvp: batch y_float is NULL"))
        let aliased = v.withUnsafeMutableBufferPointer { vp in
            withBatch(n: 2, x: x, y: y) { hvp.hvp(toy.m, [0, 0, 0], &$0, vp.baseAddress, vp.baseAddress) }
        }
        #expect(aliased == MAML_ERR_INVALID_ARGUMENT && toy.lastError == "hvp: v and out overlap; they must not alias")
        let bad = try Instance(0, #"{"explode": true}"#)
        #expect(withBatch(n: 2, x: x, y: y) { hvp.hvp(bad.m, [0, 0, 0], &$0, v, &out) } == MAML_ERR_NUMERICAL)
        #expect(bad.lastError == "hvp: product element 2 is -inf")

        // Layout.
        let layout = toy.desc.get_extension(toy.m, MAML_EXT_LAYOUT)!.assumingMemoryBound(to: maml_ext_layout.self).pointee
        #expect(layout.tensor_count(toy.m) == 2)
        let b = try #require(layout.tensor_at(toy.m, 1)).pointee
        #expect(String(cString: b.name) == "b" && b.offset == 2 && b.shape.rank == 1 && String(cString: b.role) == "head")
        #expect(layout.tensor_at(toy.m, 2) == nil)

        // Ops: call through the type-erased pointer with the real signature.
        let ops = toy.desc.get_extension(toy.m, MAML_EXT_OPS)!.assumingMemoryBound(to: maml_ext_ops.self).pointee
        #expect(ops.op_count(toy.m) == 1)
        let op = try #require(ops.op_at(toy.m, 0)).pointee
        #expect(String(cString: op.name) == "twice" && String(cString: op.signature) == "u64(u64)")
        let fn = unsafeBitCast(op.fn, to: (@convention(c) (OpaquePointer?, UInt64) -> UInt64).self)
        #expect(fn(toy.m, 21) == 42 && fn(plain.m, 21) == 0)
        #expect(ops.op_at(toy.m, 1) == nil)
    }

    @Test func vjpTableChecksItsArgumentsAndResults() throws {
        let toy = try Instance(0, #"{"scale": 2}"#)
        let vjp = toy.desc.get_extension(toy.m, MAML_EXT_VJP)!.assumingMemoryBound(to: maml_ext_vjp.self).pointee
        #expect(vjp.struct_size == UInt32(MemoryLayout<maml_ext_vjp>.size))
        let x: [Float] = [1, 2, 3, 4], u: [Float] = [1, -1]
        var out = [Float](repeating: .nan, count: 3)
        // No targets needed: 2 * (1 * [1, 2] - 1 * [3, 4]) and 2 * (1 - 1).
        #expect(withBatch(n: 2, x: x, y: nil) { vjp.vjp(toy.m, [0, 0, 0], &$0, u, &out) } == MAML_OK && out == [-4, -4, 0])
        #expect(withBatch(n: 2, x: x, y: nil) { vjp.vjp(toy.m, [0, 0, 0], &$0, nil, &out) } == MAML_ERR_INVALID_ARGUMENT)
        #expect(toy.lastError == "vjp: output_grad is NULL")
        #expect(withBatch(n: 2, x: x, y: nil) { vjp.vjp(toy.m, [0, 0, 0], &$0, u, nil) } == MAML_ERR_INVALID_ARGUMENT)
        #expect(toy.lastError == "vjp: grad_out is NULL")
        #expect(withBatch(n: 0, x: x, y: nil) { vjp.vjp(toy.m, [0, 0, 0], &$0, u, &out) } == MAML_ERR_INVALID_ARGUMENT)
        // output_grad (2 floats) overlapping grad_out (3 floats).
        var shared: [Float] = [1, -1, 0, 0]
        let aliased = shared.withUnsafeMutableBufferPointer { sp in
            withBatch(n: 2, x: x, y: nil) { vjp.vjp(toy.m, [0, 0, 0], &$0, sp.baseAddress! + 1, sp.baseAddress) }
        }
        #expect(aliased == MAML_ERR_INVALID_ARGUMENT && toy.lastError == "vjp: output_grad and grad_out overlap; they must not alias")
        let bad = try Instance(0, #"{"explode": true}"#)
        #expect(withBatch(n: 2, x: x, y: nil) { vjp.vjp(bad.m, [0, 0, 0], &$0, u, &out) } == MAML_ERR_NUMERICAL)
        #expect(bad.lastError == "vjp: product element 0 is nan")
        // A model without it offers no table, and the protocol's default refuses.
        let plain = try Instance(1, nil)
        #expect(plain.desc.get_extension(plain.m, MAML_EXT_VJP) == nil)
        let model = try PlainModel(config: JSONObject())
        #expect(!model.providesVJP)
        #expect(throws: PluginError(.unsupported, "plain does not provide vector-Jacobian products")) {
            try x.withUnsafeBufferPointer { xp in
                try model.vjp(params: [0], batch: PluginBatch(n: 1, x: xp.baseAddress!), outputGrad: [1], grad: &out)
            }
        }
    }
}
