// MARK: - The checker's finite-difference verdicts, on the fixture models in process
import MAMLCore
import Testing
@testable import MAMLHost
@testable import MAMLConformance

/// A model of a broken variant (or of the good plugin when `file` is nil), loaded in this process.
/// Only variants that return normally are loaded here (no crash, hang or buffer overrun).
private func model(_ name: String, file: String? = nil) throws -> PluginBackbone {
    let fixtures = try fixtures()
    let path = file.map { fixtures.broken + "/" + $0 } ?? fixtures.corpusFile("libgood.so")
    let catalog = PluginCatalog.load(directories: [], files: [path])
    let id = catalog.models.first { $0.id.hasPrefix("org.test.\(name)") }?.id ?? name
    return try PluginBackbone(model: try catalog.model(named: id), config: "{\"inputs\": 4}")
}

/// Parameters, data and the gradient check's verdict for one model.
private func gradientVerdict(_ b: PluginBackbone) throws -> (worst: Double, agreed: Int, inconclusive: Int, unchecked: Int, failure: String?) {
    let theta = try b.initial(seed: 0)
    return try checkGradient(b, theta: theta, data: CheckData(backbone: b, n: 8, seed: 1), seed: 2)
}

private func hvpVerdicts(_ b: PluginBackbone) throws -> [HVPVerdict] {
    try checkHVP(b, theta: try b.initial(seed: 0), data: CheckData(backbone: b, n: 8, seed: 1), seed: 4)
}

@Suite("Conformance numerics")
struct ConformanceNumericsTests {
    @Test("exact gradients agree in every direction", arguments: ["linreg", "logreg"])
    func exactGradientAgrees(name: String) throws {
        let verdict = try gradientVerdict(try model(name))
        #expect(verdict.failure == nil)
        // Along the gradient, 3 random directions, one per layout tensor (weight, bias).
        #expect(verdict.agreed + verdict.inconclusive == 6)
        #expect(verdict.agreed >= 4)
        #expect(verdict.worst < 1)
    }

    @Test("a negated gradient is named as a sign error", arguments: ["linreg", "logreg"])
    func negatedGradientFails(name: String) throws {
        let failure = try #require(try gradientVerdict(try model(name, file: "libgradsign.so")).failure)
        #expect(failure.hasPrefix("along the gradient:"))
        #expect(failure.contains("the gradient has the wrong sign"), "\(failure)")
    }

    /// 2% is the smallest error the check promises to catch (1% tolerance plus at most 0.5% noise).
    @Test("a gradient 5% or 2% too large fails, with the factor",
          arguments: ["linreg", "logreg"], [("libgradscale.so", "1.05"), ("libgradscale2.so", "1.02")])
    func scaledGradientFails(name: String, variant: (file: String, factor: String)) throws {
        let failure = try #require(try gradientVerdict(try model(name, file: variant.file)).failure)
        #expect(failure.contains("off by a factor \(variant.factor)"), "\(failure)")
    }

    @Test("an exact HVP agrees; a halved HVP disagrees in every direction", arguments: ["linreg", "logreg"])
    func exactAndHalvedHVP(name: String) throws {
        let good = try hvpVerdicts(try model(name))
        #expect(good.count == 3)
        for verdict in good {
            guard case .agrees(let relative) = verdict else { Issue.record("\(verdict)"); continue }
            #expect(relative < 1e-2)
        }
        let bad = try hvpVerdicts(try model(name, file: "libhvpwrong.so"))
        #expect(bad.count == 3)
        for verdict in bad {
            guard case .disagrees(let why) = verdict else { Issue.record("\(verdict)"); continue }
            #expect(why.contains("norm ratio 0.5"))
        }
    }

    @Test("head directions and symmetry: an exact HVP passes, a halved one fails its first head direction")
    func headStageOnLinearModels() throws {
        for name in ["linreg", "logreg"] {   // every tensor of the fixture is "head": a linear model has no body
            let b = try model(name)
            let theta = try b.initial(seed: 0), data = CheckData(backbone: b, n: 8, seed: 1)
            let good = try #require(try checkHVPThroughHead(b, theta: theta, data: data, seed: 6))
            #expect(good.failure == nil && good.agreed.count == 3 && good.inconclusive == 0)
            #expect(good.headPairs == 9 && good.randomPairs == 3)
            #expect(good.worstAsymmetry < 1e-4, "exact products of a symmetric H: only rounding")
            let halved = try model(name, file: "libhvpwrong.so")
            let bad = try #require(try checkHVPThroughHead(halved, theta: theta, data: data, seed: 6))
            #expect(bad.failure?.hasPrefix("head direction 1 (it moves only the layout's \"head\" tensors") == true)
            #expect(bad.failure?.contains("norm ratio 0.5") == true, "\(bad.failure ?? "")")
        }
    }

    @Test("the ReLU fixture: every random HVP direction is inconclusive; head directions settle")
    func kinkedFixture() throws {
        let path = try fixtures().kinked + "/libkinked.so"
        let entry = try PluginCatalog.load(directories: [], files: [path]).model(named: "org.test.kinked")
        let b = try PluginBackbone(model: entry, config: "{}")
        let theta = try b.initial(seed: 0), data = CheckData(backbone: b, n: 8, seed: 1)
        let verdicts = try checkHVP(b, theta: theta, data: data, seed: 4)
        #expect(verdicts.count == 3 && verdicts.allSatisfy(\.isInconclusive), "\(verdicts)")
        let head = try #require(try checkHVPThroughHead(b, theta: theta, data: data, seed: 6))
        #expect(head.failure == nil && head.agreed.count == 3, "\(head)")
        #expect(head.agreed.allSatisfy { $0 < 1e-2 })
    }

    @Test("the measured float32 noise bound is at least 4 ulps of the loss and small for a linear model")
    func lossNoiseBound() throws {
        let b = try model("linreg")
        let theta = try b.initial(seed: 0)
        let data = CheckData(backbone: b, n: 8, seed: 1)
        let (loss, g) = try b.lossGrad(theta, data)
        let u = testDirections(theta: theta, gradient: g, layout: b.layout, seed: 2)[1].u
        let noise = try lossNoise(b, theta: theta, loss: loss, along: u, data: data)
        #expect(noise >= 4 * 0x1p-24 * Double(abs(loss)))
        #expect(noise < 1e-4 * Double(abs(loss)))
    }

    // MARK: pure helpers

    @Test("parameter scales: |theta_i| + rms(theta), floored at 1e-3")
    func scales() {
        let s = parameterScales([3, -4, 0, 0])   // rms = sqrt(25 / 4) = 2.5
        #expect(s == [5.5, 6.5, 2.5, 2.5])
        #expect(parameterScales([0, 0]) == [1e-3, 1e-3])
    }

    @Test("directions: the scaled gradient first, 3 random, one per layout tensor; max |u_i / s_i| = 1")
    func directions() {
        let theta: [Float] = [1, -2, 0.5, 0, 3]
        let gradient: [Float] = [0.1, 0, -0.3, 0.2, 0]
        let layout = [LayoutTensor(name: "w", offset: 0, shape: [3], role: "head"),
                      LayoutTensor(name: "b", offset: 3, shape: [2], role: "head")]
        let d = testDirections(theta: theta, gradient: gradient, layout: layout, seed: 9)
        #expect(d.map(\.name) == ["along the gradient", "random direction 1", "random direction 2", "random direction 3",
                                  "random direction in tensor 'w'", "random direction in tensor 'b'"])
        let s = parameterScales(theta)
        for (_, u) in d {
            #expect(abs(zip(u, s).map { abs($0 / $1) }.max()! - 1) < 1e-12)
        }
        // Along the gradient: u_i / s_i proportional to g_i s_i, so zero where g is.
        #expect(d[0].u[1] == 0 && d[0].u[4] == 0 && d[0].u[2] < 0)
        // A tensor direction stays inside its tensor.
        #expect(d[5].u[0..<3].allSatisfy { $0 == 0 } && d[5].u[3...].contains { $0 != 0 })
        // A zero gradient gives no gradient direction; no layout, no tensor directions.
        #expect(testDirections(theta: theta, gradient: [0, 0, 0, 0, 0], layout: nil, seed: 9).count == 3)
        #expect(d[1].u == testDirections(theta: theta, gradient: gradient, layout: layout, seed: 9)[1].u, "seeded")
    }

    @Test("reference losses: MSE over all n*k outputs, softmax CE averaged over examples")
    func referenceLosses() {
        let x = [Float](repeating: 0, count: 2)
        let y: [Float] = [1, 0, 0, 2]
        let mseData = CheckData(n: 2, inputCount: 1, outputCount: 2, x: x, y: y, labels: nil)
        // Squared errors (0, 1, 4, 0): mean over 4 outputs.
        #expect(referenceLoss(outputs: [1, 1, 2, 2], data: mseData, kind: .mse) == 5.0 / 4)
        let ceData = CheckData(n: 2, inputCount: 1, outputCount: 2, x: x, y: nil, labels: [0, 1])
        let ce = referenceLoss(outputs: [0, 0, 1000, 0], data: ceData, kind: .softmaxCrossEntropy)
        // log 2 for the first example, 1000 for the second (stable at a large logit).
        #expect(abs(ce - (0.6931471805599453 + 1000) / 2) < 1e-9)
    }

    @Test("sci formats short numbers for messages")
    func sciFormat() {
        #expect(sci(0) == "0")
        #expect(sci(0.5) == "0.5")
        #expect(sci(1.23456) == "1.235")
        #expect(sci(-1) == "-1")
        #expect(sci(2.26e-4) == "2.26e-04")
        #expect(sci(123456) == "1.23e+05")
        #expect(sci(.nan) == "nan" && sci(.infinity) == "inf" && sci(-.infinity) == "-inf")
    }
}
