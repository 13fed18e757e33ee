import Foundation
import MAMLCore
import MAMLPluginABI
import Testing
@testable import MAMLHost
@testable import MAMLConformance

// MARK: - "maml.vjp/1" (ABI 1.1) through the host: the adapter, a 1.0 plugin, the check, the bundled plugins

/// vjp through the Backbone protocol on a batch of n examples of `x`, without targets unless given.
func vectorJacobian(_ b: any Backbone, params: [Float], x: [Float], n: Int, u: [Float],
                    y: [Float]? = nil, labels: [Int32]? = nil) throws -> [Float] {
    var out = [Float](repeating: .nan, count: b.parameterCount)
    try x.withUnsafeBufferPointer { xb in
        try (y ?? []).withUnsafeBufferPointer { yb in
            try (labels ?? []).withUnsafeBufferPointer { lb in
                let batch = Batch(n: n, x: xb.baseAddress!, yFloat: y == nil ? nil : yb.baseAddress,
                                  yClass: labels == nil ? nil : lb.baseAddress)
                try params.withUnsafeBufferPointer { p in
                    try u.withUnsafeBufferPointer { ub in
                        try out.withUnsafeMutableBufferPointer { try b.vjp(params: p, batch: batch, outputGrad: ub, grad: $0) }
                    }
                }
            }
        }
    }
    return out
}

/// forward's outputs and loss_grad's gradient through the Backbone protocol.
func outputsAndGradient(_ b: any Backbone, params: [Float], x: [Float], n: Int, y: [Float], labels: [Int32])
    throws -> (outputs: [Float], gradient: [Float]) {
    var out = [Float](repeating: .nan, count: n * b.outputElements), g = [Float](repeating: .nan, count: b.parameterCount)
    try x.withUnsafeBufferPointer { xb in
        try y.withUnsafeBufferPointer { yb in
            try labels.withUnsafeBufferPointer { lb in
                let batch = Batch(n: n, x: xb.baseAddress!, yFloat: yb.baseAddress, yClass: lb.baseAddress)
                try params.withUnsafeBufferPointer { p in
                    try out.withUnsafeMutableBufferPointer { try b.forward(params: p, batch: batch, output: $0) }
                    _ = try g.withUnsafeMutableBufferPointer { try b.lossGrad(params: p, batch: batch, grad: $0) }
                }
            }
        }
    }
    return (out, g)
}

/// d loss / d outputs of the ABI's losses (MSE: 2 (z - y) / (n k); CE: (softmax(z) - onehot) / n), in Double.
func lossOutputGradient(_ z: [Float], y: [Float], labels: [Int32], n: Int, k: Int, kind: LossKind) -> [Float] {
    var u = [Float](repeating: 0, count: n * k)
    for e in 0..<n {
        let row = z[(e * k)..<((e + 1) * k)].map(Double.init)
        switch kind {
        case .mse:
            for j in 0..<k { u[e * k + j] = Float(2 * (row[j] - Double(y[e * k + j])) / Double(n * k)) }
        case .softmaxCrossEntropy:
            let top = row.max()!, sum = row.reduce(0.0) { $0 + exp($1 - top) }
            for j in 0..<k { u[e * k + j] = Float((exp(row[j] - top) / sum - (j == Int(labels[e]) ? 1 : 0)) / Double(n)) }
        }
    }
    return u
}

@Suite("maml.vjp/1")
struct VJPTests {
    @Test("the good fixture: d s / d params = sum over examples of u_e x_e^T, without targets; with u = dL/dz it is loss_grad's gradient",
          arguments: ["linreg", "logreg"])
    func fixtureVJP(name: String) throws {
        let b = try makeBackbone(name, config: #"{"inputs": 4}"#)
        #expect(b.providesVJP && b.vjpFunction != nil)
        let d = 4, k = b.outputElements, n = 5
        let reference = LinearReference(inputs: d, outputs: k, crossEntropy: b.lossKind == .softmaxCrossEntropy)
        let data = ReferenceData.random(n: n, model: reference, seed: 21)
        let params = randomVector(b.parameterCount, seed: 22), u = randomVector(n * k, seed: 23, scale: 2)
        let x = data.xFloat
        var expected = [Double](repeating: 0, count: b.parameterCount)
        for e in 0..<n { for j in 0..<k {
            for i in 0..<d { expected[j * d + i] += Double(u[e * k + j]) * Double(x[e * d + i]) }
            expected[k * d + j] += Double(u[e * k + j])
        } }
        let got = try vectorJacobian(b, params: params, x: x, n: n, u: u)
        #expect(maxRelativeError(got, expected) < 1e-6)

        let (z, gradient) = try outputsAndGradient(b, params: params, x: x, n: n, y: data.yFloat, labels: data.labels)
        let seed = lossOutputGradient(z, y: data.yFloat, labels: data.labels, n: n, k: k, kind: b.lossKind)
        #expect(maxRelativeError(try vectorJacobian(b, params: params, x: x, n: n, u: seed), gradient) < 1e-6)
    }

    @Test("a plugin of ABI 1.0 (registry minor 0) loads on this 1.1 host and trains, without maml.vjp/1")
    func abi10PluginLoads() throws {
        #expect(MAML_ABI_MAJOR == 1 && MAML_ABI_MINOR == 1)
        let (catalog, fixtures) = try corpusCatalog()
        let path = fixtures.corpusFile("libv10.so")
        #expect(catalog.problems(forFile: path).isEmpty)
        let plugin = try #require(catalog.plugins.first { $0.path == path })
        #expect(plugin.abiMajor == 1 && plugin.abiMinor == 0)
        let b = try catalog.instantiate("linreg-v10", config: "{}")
        #expect(!b.providesVJP && b.vjpFunction == nil && b.providesHVP)
        #expect(b.offeredExtensions == ["maml.hvp/1", "maml.layout/1", "maml.ops/1"])
        let params = [Float](repeating: 0.1, count: b.parameterCount), x: [Float] = [1, 2, 3]
        let error = #expect(throws: BackboneError.self) {
            _ = try vectorJacobian(b, params: params, x: x, n: 1, u: [1, 1])
        }
        #expect(error == BackboneError(.unsupported, "linreg-v10: no vector-Jacobian product (maml.vjp/1)"))
        // Everything of 1.0 works as before.
        let (_, gradient) = try outputsAndGradient(b, params: params, x: x, n: 1, y: [0, 0], labels: [])
        #expect(gradient.allSatisfy(\.isFinite) && gradient.contains { $0 != 0 })
    }

    @Test("check on the 1.0 plugin: vjp is skipped with 'no maml.vjp/1', every other check passes")
    func checkSkipsVJPOfABI10Plugin() throws {
        let run = try CheckRun([try fixtures().corpusFile("libv10.so")], timeout: 30)
        #expect(run.termination == .exited(0), "\(run.stdout)\n\(run.stderr)")
        #expect(run.failures.isEmpty, "\(run.failures)")
        let vjp = run.checks.filter { $0["check"] as? String == "vjp" }
        #expect(vjp.count == 2)
        for check in vjp {
            #expect(check["result"] as? String == "skip")
            #expect((check["detail"] as? String)?.hasPrefix("no maml.vjp/1") == true, "\(check)")
        }
        #expect(run.detail("entry").first?.hasPrefix("ABI 1.0, ") == true, "\(run.detail("entry"))")
    }

    @Test("the adapter: a non-finite product with MAML_OK is a numerical error; sizes and overlap are checked first")
    func adapterChecks() throws {
        let nan = try makeBackbone("linreg-nan")
        let params = [Float](repeating: 0.1, count: nan.parameterCount), x: [Float] = [1, 2, 3, 4, 5, 6]
        let numerical = #expect(throws: BackboneError.self) {
            _ = try vectorJacobian(nan, params: params, x: x, n: 2, u: [1, 2, 3, 4])
        }
        #expect(numerical?.kind == .numerical
                && numerical?.message.contains("non-finite vector-Jacobian product with MAML_OK") == true)

        let b = try makeBackbone("linreg")
        let short = #expect(throws: BackboneError.self) {
            _ = try vectorJacobian(b, params: params, x: x, n: 2, u: [1, 2, 3])
        }
        #expect(short == BackboneError(.invalidArgument, "linreg: VJP output gradient has 3 floats, expected 4"))
        var shared = [Float](repeating: 1, count: 12)
        let overlap = #expect(throws: BackboneError.self) {
            try x.withUnsafeBufferPointer { xb in
                try params.withUnsafeBufferPointer { p in
                    try shared.withUnsafeMutableBufferPointer { s in
                        try b.vjp(params: p, batch: Batch(n: 2, x: xb.baseAddress!),
                                  outputGrad: UnsafeBufferPointer(rebasing: s[0..<4]),
                                  grad: UnsafeMutableBufferPointer(rebasing: s[2..<10]))
                    }
                }
            }
        }
        #expect(overlap == BackboneError(.invalidArgument, "linreg: VJP output gradient and gradient overlap"))
    }

    @Test("the check's numerics: the good VJP agrees; a wrong one is caught and its tensor or element named")
    func conformanceNumerics() throws {
        let fixtures = try fixtures()
        func model(_ file: String, _ name: String) throws -> PluginBackbone {
            let catalog = PluginCatalog.load(directories: [], files: [file])
            let id = try #require(catalog.models.first { $0.id.hasPrefix("org.test.\(name)") }?.id)
            return try PluginBackbone(model: try catalog.model(named: id), config: "{}")
        }
        for name in ["linreg", "logreg"] {
            let good = try model(fixtures.corpusFile("libgood.so"), name)
            let theta = try good.initial(seed: 0), data = CheckData(backbone: good, n: 8, seed: 1)
            let verdict = try checkVJP(good, theta: theta, data: data, seed: 7)
            #expect(verdict.failure == nil && verdict.agreed >= 4, "\(verdict)")
            #expect(try checkVJPAgainstLossGrad(good, theta: theta, data: data).failure == nil)

            // The bias part of the VJP doubled: finite differences name the tensor, so does the chain rule.
            let wrong = try model(fixtures.broken + "/libvjpwrong.so", name)
            let failure = try #require(try checkVJP(wrong, theta: theta, data: data, seed: 7).failure)
            #expect(failure.hasPrefix("the error lies in tensor 'bias' (head): along "), "\(failure)")
            #expect(failure.contains(" from the VJP, ") && failure.contains("finite differences of s = u . forward"), "\(failure)")
            let chain = try #require(try checkVJPAgainstLossGrad(wrong, theta: theta, data: data).failure)
            #expect(chain.contains("the difference lies in tensor 'bias' (head), the other tensors agree"), "\(chain)")
        }
        // One element wrong: named with its index.
        let one = try model(try extensionFixtures() + "/libextvjpone.so", "affine")
        let theta = try one.initial(seed: 0)
        let failure = try #require(try checkVJP(one, theta: theta, data: CheckData(backbone: one, n: 8, seed: 1), seed: 7).failure)
        #expect(failure.hasPrefix("VJP of layer1.bias[3] is "), "\(failure)")
    }

    static let bundledConfigs: [(id: String, config: String, smooth: Bool)] = [
        ("org.mamlzoo.mlp", #"{"hidden": [6, 5], "activation": "tanh"}"#, true),
        ("org.mamlzoo.mlp", #"{"input": [3], "hidden": [7], "output": 4, "activation": "relu", "loss": "softmax-ce"}"#, false),
        ("org.mamlzoo.rnn", #"{"input": [5, 2], "hidden": 6, "head": "every", "classes": 2}"#, true),
        ("org.mamlzoo.rnn", #"{"input": [4, 3], "cell": "lstm", "hidden": 5, "head": "last", "classes": 2}"#, true),
        ("org.mamlzoo.cnn", #"{"input": [1, 8, 8], "blocks": 2, "channels": [3, 4], "classes": 3, "loss": "mse"}"#, false),
    ]

    @Test("bundled plugins through the host: with u = dL/dz the VJP is the gradient; smooth ones match finite differences of u . forward",
          arguments: 0..<bundledConfigs.count)
    func bundledPlugins(index: Int) throws {
        let (id, config, smooth) = Self.bundledConfigs[index]
        let b = try PluginCatalog.discover().instantiate(id, config: config)
        #expect(b.providesVJP && b.offeredExtensions.contains("maml.vjp/1"))
        let n = 4, d = b.inputElements, k = b.outputElements
        var params = [Float](repeating: 0, count: b.parameterCount)
        try params.withUnsafeMutableBufferPointer { try b.initParameters(seed: 3, into: $0) }
        let x = randomVector(n * d, seed: 31, scale: 1.5), y = randomVector(n * k, seed: 32)
        let labels = (0..<n).map { Int32($0 % k) }
        let (z, gradient) = try outputsAndGradient(b, params: params, x: x, n: n, y: y, labels: labels)
        let seed = lossOutputGradient(z, y: y, labels: labels, n: n, k: k, kind: b.lossKind)
        let chain = try vectorJacobian(b, params: params, x: x, n: n, u: seed)
        #expect(norm(zip(chain, gradient).map { $0 - $1 }) <= 1e-5 * max(norm(gradient), 1e-6), "VJP of dL/dz vs gradient")
        // Targets are ignored: the same product with them.
        #expect(try vectorJacobian(b, params: params, x: x, n: n, u: seed, y: y, labels: labels) == chain)

        guard smooth else { return }   // ReLU and max-pool kinks: the network tests use frozen patterns
        let u = randomVector(n * k, seed: 33)
        let product = try vectorJacobian(b, params: params, x: x, n: n, u: u)
        func s(_ p: [Float]) throws -> Double {
            dot(try outputsAndGradient(b, params: p, x: x, n: n, y: y, labels: labels).outputs, u)
        }
        for trial in 0..<3 {
            let v = randomVector(b.parameterCount, seed: 300 + UInt64(trial)), h: Float = 1e-3
            let fd = (try s(axpy(params, h, v)) - s(axpy(params, -h, v))) / (2 * Double(h))
            #expect(abs(fd - dot(product, v)) <= 2e-2 * max(abs(fd), 1e-2), "directional derivative \(dot(product, v)) vs FD \(fd)")
        }
    }
}
