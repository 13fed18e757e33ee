// MARK: - Extension tables with NULL functions, and the numerical checks' messages
import Foundation
import MAMLCore
import Testing
@testable import MAMLHost
@testable import MAMLConformance

/// The catalog of one extension fixture file.
private func extensionCatalog(_ file: String) throws -> (PluginCatalog, path: String) {
    let path = try extensionFixtures() + "/" + file
    return (PluginCatalog.load(directories: [], files: [path]), path)
}

/// Model `name` ("affine" or "linsum") of an extension fixture, in this process.
private func extensionModel(_ name: String, file: String = "libext.so") throws -> PluginBackbone {
    let (catalog, _) = try extensionCatalog(file)
    return try catalog.instantiate(name + extensionTag(file), config: "{}")
}

@Suite("Extension tables")
struct ExtensionTableTests {
    // Before: a maml.hvp/1 table with hvp NULL (or too short to hold it) was taken as "no exact
    // HVP" (check: "skip: no maml.hvp/1", training fell back to finite differences without a
    // word); an ops table with a NULL function was only refused by `ops`/`call`.
    @Test("a NULL function, or a struct_size too short to hold it, refuses the instance naming the extension and the field",
          arguments: nullFunctionVariants.map(\.file))
    func nullFunctionRefused(file: String) throws {
        let variant = try #require(nullFunctionVariants.first { $0.file == file })
        let (catalog, path) = try extensionCatalog(file)
        #expect(catalog.problems.isEmpty, "the descriptors are fine: \(catalog.problems)")
        let tag = extensionTag(file)
        for model in ["affine", "linsum"] {
            let error = #expect(throws: HostError.self) { try catalog.instantiate(model + tag, config: "{}") }
            let prefix = "model '\(model)\(tag)' (org.test.\(model)\(tag), plugin \(path)): \(variant.refusal)"
            #expect(error?.message.hasPrefix(prefix) == true, "\(String(describing: error))")
        }
    }

    @Test("the good extension fixture loads with all four extensions, its exact HVP, its VJP and its layout")
    func goodTablesLoad() throws {
        for model in ["affine", "linsum"] {
            let b = try extensionModel(model)
            #expect(b.providesHVP && b.hvpFunction != nil)
            #expect(b.providesVJP && b.vjpFunction != nil)
            #expect(b.offeredExtensions == ["maml.hvp/1", "maml.layout/1", "maml.ops/1", "maml.vjp/1"])
            #expect(b.layout?.count == 2)
            #expect(try PluginOps(backbone: b).operations.map(\.name) == ["flops"])
        }
    }

    @Test("check fails create-defaults naming the extension and the field, for both models; hvp is not 'skip: no maml.hvp/1'",
          arguments: ["libexthvpnull.so", "libexttensoratnull.so", "libextopatnull.so"])
    func checkFailsNullFunction(file: String) throws {
        let variant = try #require(nullFunctionVariants.first { $0.file == file })
        let path = try extensionFixtures() + "/" + file
        let run = try CheckRun([path], timeout: 30)
        #expect(run.termination == .exited(1), "\(run.stdout)\n\(run.stderr)")
        let tag = extensionTag(file)
        #expect(Set(run.failures.map(\.check)) == ["create-defaults"], "\(run.failures)")
        #expect(Set(run.failures.compactMap(\.model)) == ["org.test.affine\(tag)", "org.test.linsum\(tag)"])
        for detail in run.detail("create-defaults") { #expect(detail.contains(variant.refusal), "\(detail)") }
        for detail in run.detail("hvp") {
            #expect(detail == "skipped: create-defaults failed", "\(detail)")
        }
    }

    @Test("train refuses a model whose maml.hvp/1 has hvp NULL before any work, instead of falling back to finite differences")
    func trainRefusesNullHVP() throws {
        let directory = try extensionFixtures()
        let scratch = NSTemporaryDirectory() + "maml-ext-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let output = scratch + "/out.ckpt"
        let run = try runChild(mamlHostExecutable,
                               ["train", "--plugin-dir", directory, "--trust-file", scratch + "/none.lock",
                                "--model", "affine-hvpnull", "--iterations", "1", "--output", output],
                               environment: ["XDG_CACHE_HOME": scratch + "/cache", "MAML_PLUGIN_PATH": ""], timeout: 120)
        #expect(run.termination != .exited(0), "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("model 'affine-hvpnull' (org.test.affine-hvpnull, plugin \(directory)/libexthvpnull.so): maml.hvp/1: hvp is NULL"),
                "\(run.stderr)")
        #expect(!run.stderr.contains("finite difference"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    // MARK: the gradient check names the element of a localised error

    @Test("a gradient wrong in one element names the tensor and index, keeping the directional summary")
    func gradientErrorLocalised() throws {
        let b = try extensionModel("affine", file: "libextgradone.so")
        let theta = try b.initial(seed: 0)
        let verdict = try checkGradient(b, theta: theta, data: CheckData(backbone: b, n: 8, seed: 1), seed: 2)
        let failure = try #require(verdict.failure)
        #expect(failure.hasPrefix("gradient of layer1.bias[3] is "), "\(failure)")
        #expect(failure.contains(", finite differences say "), "\(failure)")
        #expect(failure.contains("(parameter 18; along "), "\(failure)")
        #expect(failure.contains(" every other parameter agrees); "), "\(failure)")
        #expect(failure.contains(": derivative from the gradient "), "the directional summary stays: \(failure)")
        #expect(!failure.contains("off by a factor"), "one element, not a factor: \(failure)")
        // The element's values: the plugin's gradient is half what finite differences find.
        let data = CheckData(backbone: b, n: 8, seed: 1)
        let (_, g) = try b.lossGrad(theta, data)
        let exact = try extensionModel("affine")
        let (_, right) = try exact.lossGrad(theta, data)
        #expect(failure.hasPrefix("gradient of layer1.bias[3] is \(sci(Double(g[18]))), finite differences say "), "\(failure)")
        let said = try #require(failure.range(of: "finite differences say "), "\(failure)")
        let estimate = try #require(Double(failure[said.upperBound...].prefix { $0 != " " }))
        #expect(abs(estimate - Double(right[18])) <= 0.01 * abs(Double(right[18])), "\(estimate) vs \(right[18])")
        #expect(abs(Double(g[18]) - 0.5 * Double(right[18])) <= 1e-6)
    }

    @Test("without a layout, the element of a localised error is named by its index")
    func gradientErrorLocalisedWithoutLayout() throws {
        let b = try extensionModel("affine", file: "libextgradonenolayout.so")
        #expect(b.layout == nil)
        let theta = try b.initial(seed: 0)
        let verdict = try checkGradient(b, theta: theta, data: CheckData(backbone: b, n: 8, seed: 1), seed: 2)
        let failure = try #require(verdict.failure)
        #expect(failure.hasPrefix("gradient of parameter 18 is "), "\(failure)")
        #expect(failure.contains("(along "), "\(failure)")
    }

    @Test("a gradient wrong in every element of one tensor names the tensor, not an element")
    func gradientErrorInOneTensor() throws {
        let b = try extensionModel("affine", file: "libextgradtensor.so")
        let theta = try b.initial(seed: 0)
        let verdict = try checkGradient(b, theta: theta, data: CheckData(backbone: b, n: 8, seed: 1), seed: 2)
        let failure = try #require(verdict.failure)
        #expect(failure.hasPrefix("the error lies in tensor 'layer1.bias' (head): along "), "\(failure)")
        #expect(failure.contains("and the other tensors agree; "), "\(failure)")
        #expect(!failure.contains("gradient of ") && !failure.contains("off by a factor"), "\(failure)")
    }

    @Test("an error spread over every element names no element: a scaled or negated gradient keeps its global message",
          arguments: ["libgradscale.so", "libgradscale2.so", "libgradsign.so"])
    func spreadErrorNotLocalised(file: String) throws {
        let fixtures = try fixtures()
        let catalog = PluginCatalog.load(directories: [], files: [fixtures.broken + "/" + file])
        let expected = ["libgradscale.so": "off by a factor 1.05", "libgradscale2.so": "off by a factor 1.02",
                        "libgradsign.so": "the gradient has the wrong sign"][file]!
        for name in ["linreg", "logreg"] {
            let id = try #require(catalog.models.first { $0.id.hasPrefix("org.test.\(name)") }?.id)
            let b = try PluginBackbone(model: try catalog.model(named: id), config: "{\"inputs\": 4}")
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: 8, seed: 1)
            let failure = try #require(try checkGradient(b, theta: theta, data: data, seed: 2).failure)
            #expect(failure.contains(expected), "\(failure)")
            #expect(!failure.contains("gradient of ") && !failure.contains("the error lies in"), "\(failure)")
        }
    }

    @Test("parameter names: tensor[i, j] in row-major order, or the index without a layout")
    func parameterNames() {
        let layout = [LayoutTensor(name: "w", offset: 0, shape: [5, 3], role: "head"),
                      LayoutTensor(name: "b", offset: 15, shape: [5], role: "head")]
        #expect(parameterName(0, layout: layout) == "w[0, 0]")
        #expect(parameterName(7, layout: layout) == "w[2, 1]")
        #expect(parameterName(18, layout: layout) == "b[3]")
        #expect(parameterName(18, layout: []) == "parameter 18")
    }

    @Test("check fails gradient alone, naming layer1.bias[3]")
    func checkNamesTheElement() throws {
        let run = try CheckRun([try extensionFixtures() + "/libextgradone.so"], timeout: 30)
        #expect(run.termination == .exited(1))
        // linsum fails forward-loss by design (its loss is not the MSE of its outputs).
        let failures = run.failures.filter { $0.model != "org.test.linsum-gradone" }
        #expect(failures.map(\.check) == ["gradient"], "\(run.failures)")
        let detail = try #require(run.checks.first { $0["check"] as? String == "gradient" && $0["model"] as? String == "org.test.affine-gradone" }?["detail"] as? String)
        #expect(detail.hasPrefix("gradient of layer1.bias[3] is "), "\(detail)")
    }

    // MARK: a zero Hessian is not a kink

    @Test("a loss linear in the parameters: H v and the finite differences are both 0, the HVP check agrees")
    func zeroHessianAgrees() throws {
        let b = try extensionModel("linsum")
        let theta = try b.initial(seed: 0), data = CheckData(backbone: b, n: 8, seed: 1)
        let verdicts = try checkHVP(b, theta: theta, data: data, seed: 4)
        #expect(verdicts.count == 3)
        for verdict in verdicts {
            guard case .zeroCurvature(let norm) = verdict else { Issue.record("\(verdict)"); continue }
            #expect(norm == 0)
        }
        // A non-zero product for that loss is wrong, and said so.
        let wrong = try extensionModel("linsum", file: "libextlinhvpwrong.so")
        for verdict in try checkHVP(wrong, theta: theta, data: data, seed: 4) {
            guard case .disagrees(let why) = verdict else { Issue.record("\(verdict)"); continue }
            #expect(why.contains("from finite differences of gradients 0"), "\(why)")
        }
    }

    @Test("check: the linear model's HVP passes as a zero Hessian, never 'inconclusive (kinks)'; the affine model's agrees")
    func checkZeroHessian() throws {
        let run = try CheckRun([try extensionFixtures() + "/libext.so"], timeout: 30)
        func result(_ model: String, _ check: String) -> (String?, String?) {
            let row = run.checks.first { $0["check"] as? String == check && $0["model"] as? String == model }
            return (row?["result"] as? String, row?["detail"] as? String)
        }
        let (linear, linearDetail) = result("org.test.linsum", "hvp")
        #expect(linear == "pass", "\(String(describing: linearDetail))")
        #expect(linearDetail?.hasPrefix("zero Hessian: exact HVP matches") == true, "\(String(describing: linearDetail))")
        #expect(linearDetail?.contains("kink") == false)
        let (affine, affineDetail) = result("org.test.affine", "hvp")
        #expect(affine == "pass" && affineDetail?.hasPrefix("3 directions agree") == true, "\(String(describing: affineDetail))")
        // The only failure is by design: linsum's loss is not the MSE of its outputs.
        #expect(run.failures.map(\.check) == ["forward-loss"] && run.failures.map(\.model) == ["org.test.linsum"],
                "\(run.failures)")

        let wrong = try CheckRun([try extensionFixtures() + "/libextlinhvpwrong.so"], timeout: 30)
        #expect(wrong.failures.contains { $0.check == "hvp" && $0.model == "org.test.linsum-linhvpwrong" }, "\(wrong.failures)")
    }
}
