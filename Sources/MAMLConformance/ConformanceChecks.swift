import MAMLHost
import Foundation
import MAMLCore
import MAMLPluginABI
import MAMLSchema
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// MARK: - One conformance check, run inside a child process
//
// `maml-host _check-one FILE CHECK [--model ID]` calls `runConformanceCheck`
// and prints its result as one JSON line. Nothing here needs to survive the
// plugin: if it crashes or hangs, the parent reports the last step announced
// with `step(_:)` on stderr.

/// The result a child reports: outcome, detail, and for `registry` the model ids found.
public struct ChildCheckResult: Sendable {
    public var outcome: CheckOutcome
    public var detail: String
    public var models: [String] = []

    public var line: String {
        var members: [(String, JSONValue)] = [("result", .string(outcome.rawValue)), ("detail", .string(detail))]
        if !models.isEmpty { members.append(("models", .array(models.map(JSONValue.string)))) }
        return conformanceResultPrefix + JSONValue.object(JSONObject(members)).serialized()
    }
}

/// A check failed: the detail says what was expected and what happened.
struct CheckFailure: Error { var detail: String; init(_ detail: String) { self.detail = detail } }
/// A check that could not reach a verdict (reported as skipped, with the reason).
struct Inconclusive: Error { var detail: String; init(_ detail: String) { self.detail = detail } }

/// What the check is doing (set by `step`, read by `announceCall`; only the checking thread sets it).
nonisolated(unsafe) private var currentStep = ""
/// Steps are announced only inside a checking child (`runConformanceCheck`), not when
/// the numerical helpers run in another process (the tests).
nonisolated(unsafe) private var announcingSteps = false

/// Announces what the child is about to do, on stderr, unbuffered.
func step(_ text: String) {
    currentStep = text
    writeStep(text)
}

/// Announces one plugin call within the current step: "gradient against finite differences: loss_grad".
func announceCall(_ call: String) {
    writeStep(currentStep.isEmpty || currentStep == call ? call : currentStep + ": " + call)
}

private func writeStep(_ text: String) {
    guard announcingSteps else { return }
    let line = conformanceStepPrefix + text + "\n"
    line.withCString { _ = write(STDERR_FILENO, $0, strlen($0)) }
}

/// Runs `check` on the plugin at `path` (and model `modelID` for model checks).
public func runConformanceCheck(_ check: ConformanceCheck, pluginPath path: String,
                                modelID: String?, budget: Double = 60, defaultsOnly: Bool = false) -> ChildCheckResult {
    announcingSteps = true
    do {
        switch check {
        case .entry: return try checkEntry(path)
        case .registry: return try checkRegistry(path)
        default:
            guard let modelID else { throw CheckFailure("\(check.rawValue) needs a model id") }
            let subject = try CheckSubject(path: path, modelID: modelID, budget: budget, defaultsOnly: defaultsOnly)
            let detail: String
            switch check {
            case .createDefaults: detail = try subject.createDefaults()
            case .createExamples:
                guard subject.configs.count > 1 else {
                    return ChildCheckResult(outcome: .skip, detail: "the config schema has no \"examples\"")
                }
                detail = try subject.createExamples()
            case .invalidConfig: detail = try subject.invalidConfig()
            case .paramCount: detail = try subject.paramCount()
            case .initSeed: detail = try subject.initSeed()
            case .lossFinite: detail = try subject.lossFinite()
            case .gradient: detail = try subject.gradient()
            case .hvp:
                let b = try subject.backbone(subject.configs[0].json)
                guard b.providesHVP else {
                    return ChildCheckResult(outcome: .skip, detail: "no \(MAML_EXT_HVP); the host falls back to finite differences of gradients")
                }
                detail = try subject.hvp()
            case .batchDuplication: detail = try subject.batchDuplication()
            case .forwardLoss: detail = try subject.forwardLoss()
            case .vjp:
                let b = try subject.backbone(subject.configs[0].json)
                guard b.providesVJP else {
                    return ChildCheckResult(outcome: .skip, detail: "no \(MAML_EXT_VJP) (optional since ABI 1.1)")
                }
                detail = try subject.vjp()
            case .threads: detail = try subject.threads()
            case .buffers: detail = try subject.buffers()
            case .lastError: detail = try subject.lastError()
            case .entry, .registry: fatalError("handled above")
            }
            return ChildCheckResult(outcome: .pass, detail: detail)
        }
    } catch let failure as CheckFailure {
        return ChildCheckResult(outcome: .fail, detail: failure.detail)
    } catch let inconclusive as Inconclusive {
        return ChildCheckResult(outcome: .skip, detail: inconclusive.detail)
    } catch let error as BackboneError {
        return ChildCheckResult(outcome: .fail, detail: error.message)
    } catch let error as HostError {
        return ChildCheckResult(outcome: .fail, detail: error.message)
    } catch {
        return ChildCheckResult(outcome: .fail, detail: "\(error)")
    }
}

// MARK: - Plugin-level checks

private func checkEntry(_ path: String) throws -> ChildCheckResult {
    step("dlopen")
    _ = dlerror()
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
        throw CheckFailure("cannot load: " + (dlerror().map { String(cString: $0) } ?? "unknown dlopen error"))
    }
    step("dlsym(\(MAML_ENTRY_SYMBOL))")
    guard let symbol = dlsym(handle, MAML_ENTRY_SYMBOL) else {
        throw CheckFailure("no exported \(MAML_ENTRY_SYMBOL): export it with C linkage and MAML_EXPORT (check with: nm -D --defined-only \(path))")
    }
    let entry = unsafeBitCast(symbol, to: maml_entry_fn.self)
    step("\(MAML_ENTRY_SYMBOL)(\(MAML_ABI_MAJOR), \(MAML_ABI_MINOR), host)")
    let host = hostAPI(forPluginAt: path)
    guard let first = entry(UInt32(MAML_ABI_MAJOR), UInt32(MAML_ABI_MINOR), host) else {
        throw CheckFailure("\(MAML_ENTRY_SYMBOL)(\(MAML_ABI_MAJOR), \(MAML_ABI_MINOR), host) returned NULL: it must return its registry to a host of its own major version")
    }
    let raw = UnsafeRawPointer(first)
    let size = Int(raw.load(as: UInt32.self))
    let abiOffset = MemoryLayout<maml_registry>.offset(of: \.abi)!
    guard size >= abiOffset + MemoryLayout<maml_abi_version>.size else {
        throw CheckFailure("registry struct_size is \(size): too small to hold even the abi field; set it to sizeof(maml_registry)")
    }
    let abi = raw.load(fromByteOffset: abiOffset, as: maml_abi_version.self)
    guard abi.major == UInt32(MAML_ABI_MAJOR) else {
        throw CheckFailure("registry abi is \(abi.major).\(abi.minor); this host speaks \(MAML_ABI_MAJOR).\(MAML_ABI_MINOR): set abi to {MAML_ABI_MAJOR, MAML_ABI_MINOR}")
    }
    step("\(MAML_ENTRY_SYMBOL) called a second time")
    guard entry(UInt32(MAML_ABI_MAJOR), UInt32(MAML_ABI_MINOR), host) == first else {
        throw CheckFailure("a second call of \(MAML_ENTRY_SYMBOL) returned another pointer: the entry must be idempotent")
    }
    step("host-side negotiation (requires_minor, built_with)")
    switch loadPlugin(PluginCandidate(path: path, origin: .explicitFile, device: 0, inode: 0)) {
    case .refused(let problem): throw CheckFailure(problem.message)
    case .ignored: throw CheckFailure("not a maml plugin")
    case .loaded(let info, _, _):
        return ChildCheckResult(outcome: .pass, detail:
            "ABI \(info.abiMajor).\(info.abiMinor), \(info.pluginID) \(info.pluginVersion), built with \(info.builtWith)")
    }
}

private func checkRegistry(_ path: String) throws -> ChildCheckResult {
    step("registry and descriptors")
    let catalog = PluginCatalog.load(directories: [], files: [path])
    let ids = catalog.models.map(\.id)
    var problems = catalog.problems.map(\.message)
    if catalog.plugins.isEmpty && problems.isEmpty { problems.append("the plugin did not load") }
    if !problems.isEmpty {
        return ChildCheckResult(outcome: .fail, detail: problems.joined(separator: "; "), models: ids)
    }
    let names = catalog.models.map { "\($0.name) (\($0.id))" }.joined(separator: ", ")
    return ChildCheckResult(outcome: .pass, detail: "\(ids.count) model\(ids.count == 1 ? "" : "s"): \(names)", models: ids)
}

// MARK: - The model under test

/// One model of the plugin, with the configs to test: defaults, then every schema example.
struct CheckSubject {
    let entry: ModelEntry
    let configs: [(label: String, json: String)]
    /// Examples per batch in the numerical checks.
    let batchSize = 8
    /// Seconds this check may take (the parent's --timeout).
    let budget: Double

    /// When the finite-difference checks stop starting new directions (half the budget).
    let numericsDeadline: ContinuousClock.Instant

    /// Only the default config in the checks that loop over configs (`create-examples` still
    /// creates every example): `check --defaults-only`.
    let defaultsOnly: Bool

    /// The configs the per-config checks run on: all, or the defaults alone.
    var testedConfigs: ArraySlice<(label: String, json: String)> { configs.prefix(defaultsOnly ? 1 : configs.count) }

    init(path: String, modelID: String, budget: Double, defaultsOnly: Bool = false) throws {
        self.budget = budget
        self.defaultsOnly = defaultsOnly
        numericsDeadline = .now + .seconds(budget * 0.5)
        step("load \(path)")
        let catalog = PluginCatalog.load(directories: [], files: [path])
        entry = try catalog.model(named: modelID)
        let schema = try ConfigSchema(json: entry.configSchema)
        configs = [("defaults", "{}")] + schema.examples.enumerated().map { index, example in
            let text = JSONValue.object(example).serialized()
            return ("example \(index + 1) \(text)", text)
        }
    }

    var descriptor: maml_model_desc { entry.descriptor.pointee }

    func backbone(_ config: String) throws -> PluginBackbone {
        step("create(\(config))")
        return try PluginBackbone(model: entry, config: config)
    }

    /// Runs `body` once per config, prefixing failures with the config when there are several.
    /// Example configs are not started once 30% of the time budget is spent (big examples
    /// of slow debug builds); the returned note says which were left out.
    @discardableResult
    func forEachConfig(_ body: (PluginBackbone, String) throws -> Void) throws -> String {
        let start = ContinuousClock.now
        for (index, (label, json)) in testedConfigs.enumerated() {
            if index > 0 && (ContinuousClock.now - start) > .seconds(budget * 0.3) {
                return "; example\(configs.count - index == 1 ? "" : "s") \(index)\(configs.count - index == 1 ? "" : "-\(configs.count - 1)") not checked: over 30% of the time budget (--timeout)"
            }
            do { try body(try backbone(json), json) } catch let failure as CheckFailure {
                throw configs.count > 1 ? CheckFailure("\(label): \(failure.detail)") : failure
            } catch let error as BackboneError {
                throw CheckFailure(configs.count > 1 ? "\(label): \(error.message)" : error.message)
            }
        }
        return ""
    }

    // MARK: create

    func createDefaults() throws -> String {
        let d = descriptor
        for (label, config) in [("NULL", nil), ("\"\"", ""), ("\"{}\"", "{}")] as [(String, String?)] {
            step("create(\(label))")
            var out: OpaquePointer?
            var err = [CChar](repeating: 0, count: 1024)
            let status = err.withUnsafeMutableBufferPointer { d.create!(config, &out, $0.baseAddress, 1024) }
            err[1023] = 0
            guard status == MAML_OK else {
                let message = err.withUnsafeBufferPointer { decodeLenient($0.baseAddress!) }
                throw CheckFailure("create(\(label)) returned \(statusName(status)) (\(message.isEmpty ? "no message" : message)); NULL, \"\" and \"{}\" all mean every key at its default")
            }
            guard let out else { throw CheckFailure("create(\(label)) returned MAML_OK but left *out NULL") }
            step("destroy")
            d.destroy!(out)
        }
        step("destroy(NULL)")
        d.destroy!(nil)
        let b = try backbone("{}")
        return "P = \(b.parameterCount), input \(b.inputShape), output \(b.outputShape), \(b.lossKind.rawValue)"
            + (b.offeredExtensions.isEmpty ? "" : ", " + b.offeredExtensions.joined(separator: ", "))
    }

    func createExamples() throws -> String {
        for (label, json) in configs.dropFirst() {
            do { _ = try backbone(json) } catch let error as HostError { throw CheckFailure("\(label): \(error.message)") }
        }
        return "\(configs.count - 1) example config\(configs.count == 2 ? "" : "s") created"
    }

    func invalidConfig() throws -> String {
        let schema = try ConfigSchema(json: entry.configSchema)
        var cases: [(String, String)] = [("an unknown key", "{\"maml_check_no_such_key\": 1}"), ("not an object", "[1, 2]")]
        if let first = schema.properties.first {
            let wrong = first.schema.type == .string ? "12345" : "\"maml-check\""
            cases.insert(("a wrong type for \"\(first.name)\"", "{\"\(first.name)\": \(wrong)}"), at: 1)
        }
        var messages: [String] = []
        for (label, json) in cases {
            // The message buffer is only 64 bytes and ends at a guard page: a plugin must truncate.
            let err = GuardedBuffer(count: 64, elementSize: 1)
            defer { err.release() }
            let text = err.raw.bindMemory(to: CChar.self, capacity: 64)
            text.update(repeating: 0x7f, count: 64)
            var out: OpaquePointer?
            step("create(\(json)) with a 64-byte err buffer ending at a guard page")
            let status = descriptor.create!(json, &out, text, 64)
            if status == MAML_OK {
                if let out { descriptor.destroy!(out) }
                throw CheckFailure("create accepted \(json) (\(label)); it must refuse it with MAML_ERR_INVALID_ARGUMENT and a message naming the key")
            }
            guard let nul = (0..<64).first(where: { text[$0] == 0 }) else {
                throw CheckFailure("create refused \(json) but its message is not NUL-terminated within err_len = 64 bytes")
            }
            guard nul > 0 else {
                throw CheckFailure("create refused \(json) (\(label)) with \(statusName(status)) but wrote no message into err")
            }
            messages.append("\"\(String(cString: text))\"")
        }
        return "refused with messages: " + messages.joined(separator: ", ")
    }

    // MARK: counts and initialisation

    func paramCount() throws -> String {
        try forEachConfig { b, json in
            let d = descriptor
            let other = try backbone(json)
            step("param_count, input_shape, output_shape, loss_kind, repeated")
            let counts = [d.param_count!(b.instance), d.param_count!(b.instance), d.param_count!(other.instance)]
            guard Set(counts).count == 1 else {
                throw CheckFailure("param_count is not constant: \(counts.map(String.init).joined(separator: ", ")) (twice on one instance, then on a second instance of the same config)")
            }
            let theta = try b.initial(seed: 1)
            _ = try b.lossGrad(theta, CheckData(backbone: b, n: batchSize, seed: 3))
            let after = d.param_count!(b.instance)
            guard after == counts[0] else {
                throw CheckFailure("param_count changed from \(counts[0]) to \(after) after init_params and loss_grad")
            }
            for (what, f) in [("input_shape", d.input_shape!), ("output_shape", d.output_shape!)] {
                let a = f(b.instance), c = f(other.instance)
                guard shapeEqual(a, c), shapeEqual(a, f(b.instance)) else { throw CheckFailure("\(what) is not constant") }
            }
        }
        return "constant on every config (\(testedConfigs.count))"
    }

    func initSeed() throws -> String {
        try forEachConfig { b, json in
            step("init_params(seed 1) twice")
            let p1 = try b.initial(seed: 1), again = try b.initial(seed: 1)
            if let i = firstDifference(p1, again) {
                throw CheckFailure("init_params(seed 1) gave different parameters on two calls (index \(i): \(p1[i]) then \(again[i])): it must be a pure function of (config, seed)")
            }
            let fresh = try backbone(json).initial(seed: 1)
            if let i = firstDifference(p1, fresh) {
                throw CheckFailure("init_params(seed 1) differs between two instances of one config (index \(i): \(p1[i]) vs \(fresh[i]))")
            }
            _ = try b.lossGrad(p1, CheckData(backbone: b, n: batchSize, seed: 3))
            if let i = firstDifference(p1, try b.initial(seed: 1)) {
                throw CheckFailure("init_params(seed 1) changed after a loss_grad call (index \(i)): it must not depend on instance state")
            }
            step("init_params(seed 2)")
            let p2 = try b.initial(seed: 2)
            guard firstDifference(p1, p2) != nil else { throw CheckFailure("seeds 1 and 2 give identical parameters: the seed is ignored") }
            guard p1.contains(where: { $0 != 0 }) else { throw CheckFailure("init_params(seed 1) wrote all zeros") }
        }
        return "deterministic per seed, different across seeds (\(testedConfigs.count) config\(testedConfigs.count == 1 ? "" : "s"))"
    }

    // MARK: numerics

    func lossFinite() throws -> String {
        var losses: [String] = []
        try forEachConfig { b, _ in
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: batchSize, seed: 1)
            step("loss_grad at the initialisation")
            let (loss, _) = try b.lossGrad(theta, data)
            step("loss_grad with grad NULL")
            let (alone, _) = try b.lossGrad(theta, data, gradient: false)
            guard abs(Double(loss) - Double(alone)) <= 1e-5 * abs(Double(loss)) + 1e-30 else {
                throw CheckFailure("loss with a gradient (\(loss)) and without (\(alone)) differ")
            }
            losses.append(sci(Double(loss)))
        }
        return "loss at init " + losses.joined(separator: ", ")
    }

    func gradient() throws -> String {
        var worst = 0.0, agreed = 0, inconclusive = 0, unchecked = 0
        let notes = try forEachConfig { b, _ in
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: batchSize, seed: 1)
            step("gradient against finite differences")
            let result = try checkGradient(b, theta: theta, data: data, seed: 2, deadline: numericsDeadline)
            if let failure = result.failure { throw CheckFailure(failure) }
            worst = max(worst, result.worst); agreed += result.agreed; inconclusive += result.inconclusive
            unchecked += result.unchecked
        }
        guard agreed > 0 else {
            throw Inconclusive("the loss is too noisy in float32 for finite differences at every step: no direction could be checked\(notes)")
        }
        return "\(agreed) directions agree; worst error \(sci(worst)) of its tolerance (1% + float32 noise)"
            + (inconclusive > 0 ? "; \(inconclusive) inconclusive (float32 noise or kinks)" : "")
            + (unchecked > 0 ? "; \(unchecked) not checked: over half the time budget (--timeout)" : "") + notes
    }

    /// Random directions first; when kinks leave every one inconclusive, head directions
    /// and symmetry (ConformanceHVP.swift).
    func hvp() throws -> String {
        var agreed: [Double] = [], inconclusive = 0
        var flat: [Double] = []   // largest norm of each zero-curvature direction
        var head = HeadHVPResult(), headChecked = 0, noHead = false
        let notes = try forEachConfig { b, _ in
            guard b.providesHVP else { return }
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: batchSize, seed: 1)
            step("hvp against finite differences of gradients")
            var verdicts = try checkHVP(b, theta: theta, data: data, seed: 4, deadline: numericsDeadline)
            if verdicts.allSatisfy(\.isInconclusive) {
                // Fewer examples, fewer kinks: try once more on a single example.
                step("hvp against finite differences of gradients, one example")
                verdicts += try checkHVP(b, theta: theta, data: CheckData(backbone: b, n: 1, seed: 1), seed: 5,
                                         deadline: numericsDeadline)
            }
            for verdict in verdicts {
                switch verdict {
                case .agrees(let relative): agreed.append(relative)
                case .zeroCurvature(let norm): flat.append(norm)
                case .disagrees(let why): throw CheckFailure(why)
                case .inconclusive: inconclusive += 1
                }
            }
            guard !verdicts.contains(where: \.isAgreement) else { return }
            step("hvp along head directions against finite differences of gradients, then symmetry")
            guard let result = try checkHVPThroughHead(b, theta: theta, data: data, seed: 6,
                                                       deadline: numericsDeadline) else { noHead = true; return }
            if let failure = result.failure { throw CheckFailure(failure) }
            headChecked += 1
            head.agreed += result.agreed; head.inconclusive += result.inconclusive
            head.headPairs += result.headPairs; head.randomPairs += result.randomPairs
            head.worstAsymmetry = max(head.worstAsymmetry, result.worstAsymmetry)
        }
        guard !agreed.isEmpty || !flat.isEmpty || !head.agreed.isEmpty else {
            let instead = noHead ? "; the layout marks no \"head\" tensor to check along instead"
                : headChecked > 0 || head.inconclusive > 0 ? "; nor along the head tensors" : ""
            throw Inconclusive("the finite differences of gradients never settle (ReLU/max-pool kinks at this size?): no direction could be checked\(instead)\(notes)")
        }
        var parts: [String] = []
        if !flat.isEmpty && agreed.isEmpty {
            let largest = flat.max()!
            parts.append("zero Hessian: exact HVP matches (along \(flat.count) direction\(flat.count == 1 ? "" : "s"), H v from \(MAML_EXT_HVP) and the finite differences of gradients are both "
                         + (largest == 0 ? "exactly 0)" : "0 within float32 noise, largest norm \(sci(largest)))"))
        }
        if !agreed.isEmpty {
            parts.append("\(agreed.count) directions agree, worst relative error \(sci(agreed.max()!))")
            if !flat.isEmpty {
                parts.append("\(flat.count) with zero curvature (H v and the finite differences both 0 within float32 noise)")
            }
        }
        if head.agreed.isEmpty {
            if inconclusive > 0 { parts.append("\(inconclusive) inconclusive (kinks)") }
        } else {
            parts.append("random directions cross ReLU/max-pool kinks (\(inconclusive) inconclusive)")
            parts.append("\(head.agreed.count) head directions agree with finite differences (worst relative error \(sci(head.agreed.max()!)))"
                + (head.inconclusive > 0 ? ", \(head.inconclusive) inconclusive" : ""))
            parts.append("symmetry u·Hv = v·Hu holds for \(head.headPairs) head x random and \(head.randomPairs) random x random pairs (worst relative difference \(sci(head.worstAsymmetry)))")
        }
        return parts.joined(separator: "; ") + notes
    }

    func batchDuplication() throws -> String {
        try forEachConfig { b, _ in
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: batchSize, seed: 1)
            step("loss_grad on a batch, then on the batch twice over")
            let (l1, g1) = try b.lossGrad(theta, data)
            let (l2, g2) = try b.lossGrad(theta, CheckData(duplicating: data))
            guard abs(Double(l1) - Double(l2)) <= 1e-4 * abs(Double(l1)) + 1e-7 else {
                throw CheckFailure("loss \(l1) on \(data.n) examples, \(l2) on the same examples twice (ratio \(sci(Double(l2) / Double(l1)))): the loss must be the MEAN over examples")
            }
            let diff = zip(g1, g2).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let norm = g1.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            guard diff <= 1e-4 * norm + 1e-7 else {
                throw CheckFailure("the gradient changes when every example is duplicated (relative difference \(sci(diff / max(norm, 1e-30)))): it must be the gradient of the mean loss")
            }
        }
        return "loss and gradient unchanged"
    }

    func forwardLoss() throws -> String {
        var worst = 0.0
        try forEachConfig { b, _ in
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: batchSize, seed: 1)
            step("forward")
            let out = try b.outputs(theta, data)
            step("loss_grad")
            let (loss, _) = try b.lossGrad(theta, data, gradient: false)
            let reference = referenceLoss(outputs: out, data: data, kind: b.lossKind)
            let error = abs(reference - Double(loss))
            guard error <= 1e-4 * max(abs(reference), abs(Double(loss))) + 1e-6 else {
                throw CheckFailure("loss_grad gives \(loss), the \(b.lossKind.rawValue) of forward's outputs is \(sci(reference)) (ABI: \(b.lossKind == .mse ? "mean over all n * outputs squared errors" : "mean over examples of -log softmax(logits)[label]"))")
            }
            worst = max(worst, error / max(abs(reference), 1e-30))
        }
        return "agree within \(sci(worst)) relative"
    }

    /// Finite differences of s = u . forward for a random u (ConformanceVJP.swift), then the VJP of
    /// d loss / d outputs against loss_grad's gradient.
    func vjp() throws -> String {
        var worst = 0.0, agreed = 0, inconclusive = 0, unchecked = 0, consistency = 0.0
        let notes = try forEachConfig { b, _ in
            guard b.providesVJP else { return }
            let theta = try b.initial(seed: 0)
            let data = CheckData(backbone: b, n: batchSize, seed: 1)
            step("vjp against finite differences of s = u . forward")
            var results = [try checkVJP(b, theta: theta, data: data, seed: 7, deadline: numericsDeadline)]
            if results[0].failure == nil && results[0].agreed == 0 {
                // Fewer examples, fewer kinks: try once more on a single example.
                step("vjp against finite differences of s = u . forward, one example")
                results.append(try checkVJP(b, theta: theta, data: CheckData(backbone: b, n: 1, seed: 1), seed: 8,
                                            deadline: numericsDeadline))
            }
            for result in results {
                if let failure = result.failure { throw CheckFailure(failure) }
                worst = max(worst, result.worst); agreed += result.agreed; inconclusive += result.inconclusive
                unchecked += result.unchecked
            }
            step("vjp of d loss / d outputs against loss_grad's gradient")
            let (relative, failure) = try checkVJPAgainstLossGrad(b, theta: theta, data: data)
            if let failure { throw CheckFailure(failure) }
            consistency = max(consistency, relative)
        }
        let chain = "with output_grad = d loss / d outputs it equals loss_grad's gradient (relative difference \(sci(consistency)))"
        guard agreed > 0 else {
            throw Inconclusive("s = u . forward is too noisy in float32, or too kinked, for finite differences at every step: no direction could be checked; \(chain)\(notes)")
        }
        return "\(agreed) directions agree; worst error \(sci(worst)) of its tolerance (1% + float32 noise)"
            + (inconclusive > 0 ? "; \(inconclusive) inconclusive (float32 noise or kinks)" : "")
            + (unchecked > 0 ? "; \(unchecked) not checked: over half the time budget (--timeout)" : "")
            + "; " + chain + notes
    }

    // MARK: threads

    func threads() throws -> String {
        let b = try backbone("{}")
        let data = CheckData(backbone: b, n: batchSize, seed: 1)
        step("reference results on one instance")
        let reference = try ThreadProbe.results(b, data)
        let entry = self.entry
        let problems = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        step("two instances on two threads, 4 rounds each")
        for t in 0..<2 {
            let thread = Thread {
                do {
                    let mine = try PluginBackbone(model: entry, config: "{}")
                    for round in 0..<4 {
                        let got = try ThreadProbe.results(mine, data)
                        if let what = got.difference(from: reference) {
                            problems.withLock { $0.append("thread \(t + 1), round \(round + 1): \(what)") }
                            break
                        }
                    }
                } catch {
                    problems.withLock { $0.append("thread \(t + 1): \(error)") }
                }
                done.signal()
            }
            thread.start()
        }
        done.wait(); done.wait()
        if let first = problems.withLock({ $0.first }) {
            throw CheckFailure("\(first) differs from the single-instance result: instances must not share mutable state")
        }
        return "2 threads x 4 rounds match one instance bit for bit"
    }

    // MARK: buffers

    func buffers() throws -> String {
        let b = try backbone("{}")
        let d = descriptor, m = b.instance
        let p = b.parameterCount, n = 4
        let inputs = b.inputShape.reduce(1, *), outputs = b.outputShape.reduce(1, *)
        var rng = RandomGenerator(seed: 9)
        var buffers: [GuardedBuffer] = []
        defer { for buffer in buffers { buffer.release() } }
        func guarded(_ count: Int, elementSize: Int = 4) -> GuardedBuffer {
            let buffer = GuardedBuffer(count: count, elementSize: elementSize)
            buffers.append(buffer)
            return buffer
        }
        func expectOK(_ status: maml_status, _ call: String) throws {
            guard status == MAML_OK else {
                throw CheckFailure("\(call) returned \(statusName(status)): \(d.last_error!(m).map(decodeLenient) ?? "")")
            }
        }
        func verify(_ buffer: GuardedBuffer, _ name: String, _ call: String) throws {
            let damage = buffer.canaryDamage
            guard damage == 0 else { throw CheckFailure("\(call) wrote \(damage) byte(s) just before the \(name) buffer") }
            if let i = (0..<buffer.count).first(where: { buffer.floats[$0].isNaN }) {
                throw CheckFailure("\(call) left \(name)[\(i)] of \(buffer.count) unwritten: it must write every element")
            }
        }

        let params = guarded(p)
        params.floats.update(repeating: .nan, count: p)
        step("init_params into a \(p)-float params buffer ending at a guard page")
        try expectOK(d.init_params!(m, 1, params.floats), "init_params")
        try verify(params, "params", "init_params")
        params.makeReadOnly()

        let x = guarded(n * inputs)
        for i in 0..<(n * inputs) { x.floats[i] = Float(rng.normal()) }
        x.makeReadOnly()
        var y: GuardedBuffer?, labels: GuardedBuffer?
        if b.lossKind == .mse {
            y = guarded(n * outputs)
            for i in 0..<(n * outputs) { y!.floats[i] = Float(rng.normal()) }
            y!.makeReadOnly()
        } else {
            labels = guarded(n)
            for i in 0..<n { labels!.int32s[i] = Int32(rng.int(below: outputs)) }
            labels!.makeReadOnly()
        }
        let batch = guarded(MemoryLayout<maml_batch>.size, elementSize: 1)
        batch.raw.storeBytes(of: maml_batch(struct_size: UInt32(MemoryLayout<maml_batch>.size), n: UInt64(n),
                                            x: x.floats, y_float: y?.floats, y_class: labels?.int32s),
                             as: maml_batch.self)
        batch.makeReadOnly()
        let batchPointer = UnsafePointer(batch.raw.assumingMemoryBound(to: maml_batch.self))

        let out = guarded(n * outputs)
        out.floats.update(repeating: .nan, count: n * outputs)
        step("forward writing \(n * outputs) floats into an out buffer ending at a guard page (inputs read-only)")
        try expectOK(d.forward!(m, params.floats, batchPointer, out.floats), "forward")
        try verify(out, "out", "forward")

        let loss = guarded(1), grad = guarded(p)
        loss.floats.pointee = .nan
        grad.floats.update(repeating: .nan, count: p)
        step("loss_grad writing \(p) floats into a gradient buffer ending at a guard page")
        try expectOK(d.loss_grad!(m, params.floats, batchPointer, loss.floats, grad.floats), "loss_grad")
        try verify(grad, "gradient", "loss_grad")
        try verify(loss, "loss", "loss_grad")
        step("loss_grad with grad NULL (loss into a 1-float buffer ending at a guard page)")
        try expectOK(d.loss_grad!(m, params.floats, batchPointer, loss.floats, nil), "loss_grad without gradient")

        var checked = "init_params, forward, loss_grad"
        if let hvp = b.hvpFunction {
            let v = guarded(p), hv = guarded(p)
            for i in 0..<p { v.floats[i] = Float(rng.normal()) }
            v.makeReadOnly()
            hv.floats.update(repeating: .nan, count: p)
            step("hvp writing \(p) floats into an out buffer ending at a guard page (v read-only)")
            try expectOK(hvp(m, params.floats, batchPointer, v.floats, hv.floats), "hvp")
            try verify(hv, "hvp out", "hvp")
            checked += ", hvp"
        }
        if let vjp = b.vjpFunction {
            let u = guarded(n * outputs), gv = guarded(p)
            for i in 0..<(n * outputs) { u.floats[i] = Float(rng.normal()) }
            u.makeReadOnly()
            gv.floats.update(repeating: .nan, count: p)
            // No targets: the ABI says vjp ignores them.
            let bare = guarded(MemoryLayout<maml_batch>.size, elementSize: 1)
            bare.raw.storeBytes(of: maml_batch(struct_size: UInt32(MemoryLayout<maml_batch>.size), n: UInt64(n),
                                               x: x.floats, y_float: nil, y_class: nil), as: maml_batch.self)
            bare.makeReadOnly()
            step("vjp writing \(p) floats into a grad_out buffer ending at a guard page (output_grad read-only, no targets)")
            try expectOK(vjp(m, params.floats, UnsafePointer(bare.raw.assumingMemoryBound(to: maml_batch.self)),
                             u.floats, gv.floats), "vjp")
            try verify(gv, "vjp grad_out", "vjp")
            checked += ", vjp"
        }
        return "\(checked): no access outside the buffers, outputs fully written"
    }

    // MARK: errors

    func lastError() throws -> String {
        let b = try backbone("{}")
        let d = descriptor, m = b.instance
        let theta = try b.initial(seed: 0)
        let data = CheckData(backbone: b, n: batchSize, seed: 1)
        var loss: Float = 0
        var grad = [Float](repeating: 0, count: b.parameterCount)
        var out = [Float](repeating: 0, count: data.n * data.outputCount)
        var cases = 0
        func expectRefusal(_ call: String, _ status: maml_status) throws {
            cases += 1
            guard status != MAML_OK else {
                throw CheckFailure("\(call) returned MAML_OK; the ABI requires a non-OK status (MAML_ERR_INVALID_ARGUMENT) and a message")
            }
            step("last_error after \(call)")
            guard let text = d.last_error!(m) else { throw CheckFailure("last_error returned NULL after \(call) (it must never be NULL)") }
            guard text.pointee != 0 else {
                throw CheckFailure("\(call) returned \(statusName(status)) but last_error is empty: every non-OK status needs a message")
            }
        }
        func batch(n: Int, y: UnsafePointer<Float>?, labels: UnsafePointer<Int32>?) -> maml_batch {
            maml_batch(struct_size: UInt32(MemoryLayout<maml_batch>.size), n: UInt64(n), x: data.x,
                       y_float: y, y_class: labels)
        }
        var good = batch(n: data.n, y: data.y, labels: data.labels)
        var empty = batch(n: 0, y: data.y, labels: data.labels)
        var noTarget = batch(n: data.n, y: nil, labels: nil)
        try theta.withUnsafeBufferPointer { p in
            let params = p.baseAddress!
            step("init_params with params NULL")
            try expectRefusal("init_params(params = NULL)", d.init_params!(m, 0, nil))
            step("forward with out NULL")
            try expectRefusal("forward(out = NULL)", d.forward!(m, params, &good, nil))
            step("forward with batch NULL")
            try expectRefusal("forward(batch = NULL)", out.withUnsafeMutableBufferPointer { d.forward!(m, params, nil, $0.baseAddress) })
            step("loss_grad with n = 0")
            try expectRefusal("loss_grad(n = 0)", d.loss_grad!(m, params, &empty, &loss, &grad))
            step("loss_grad with batch NULL")
            try expectRefusal("loss_grad(batch = NULL)", d.loss_grad!(m, params, nil, &loss, &grad))
            step("loss_grad with params NULL")
            try expectRefusal("loss_grad(params = NULL)", d.loss_grad!(m, nil, &good, &loss, &grad))
            step("loss_grad without the target its loss needs")
            try expectRefusal("loss_grad(no \(b.lossKind == .mse ? "y_float" : "y_class"))", d.loss_grad!(m, params, &noTarget, &loss, &grad))
            if b.lossKind == .softmaxCrossEntropy {
                var bad = [Int32](repeating: 0, count: data.n)
                bad[data.n - 1] = Int32(data.outputCount)
                try bad.withUnsafeBufferPointer { labels in
                    var outOfRange = batch(n: data.n, y: nil, labels: labels.baseAddress)
                    step("loss_grad with a label out of range")
                    try expectRefusal("loss_grad(label \(data.outputCount) of \(data.outputCount) classes)",
                                      d.loss_grad!(m, params, &outOfRange, &loss, &grad))
                }
            }
            if let hvp = b.hvpFunction {
                step("hvp with v NULL")
                try expectRefusal("hvp(v = NULL)", grad.withUnsafeMutableBufferPointer { hvp(m, params, &good, nil, $0.baseAddress) })
            }
            if let vjp = b.vjpFunction {
                step("vjp with output_grad NULL")
                try expectRefusal("vjp(output_grad = NULL)", grad.withUnsafeMutableBufferPointer { vjp(m, params, &good, nil, $0.baseAddress) })
            }
            step("a valid loss_grad after the refusals")
            let status = d.loss_grad!(m, params, &good, &loss, &grad)
            guard status == MAML_OK else {
                throw CheckFailure("after refused calls, a valid loss_grad returned \(statusName(status)): a refusal must leave the instance usable")
            }
        }
        return "\(cases) invalid calls refused with messages; the instance stays usable"
    }
}

// MARK: - Helpers

private func shapeEqual(_ a: maml_shape, _ b: maml_shape) -> Bool {
    a.rank == b.rank && a.dims.0 == b.dims.0 && a.dims.1 == b.dims.1 && a.dims.2 == b.dims.2 && a.dims.3 == b.dims.3
}

/// The first index where two float arrays differ bit for bit.
func firstDifference(_ a: [Float], _ b: [Float]) -> Int? {
    if a.count != b.count { return min(a.count, b.count) }
    return a.indices.first { a[$0].bitPattern != b[$0].bitPattern }
}

/// Everything an instance computes in the threads check, compared bit for bit.
struct ThreadProbe: Sendable {
    var params: [Float], loss: Float, gradient: [Float], outputs: [Float], hvp: [Float]?, vjp: [Float]?

    static func results(_ b: PluginBackbone, _ data: CheckData) throws -> ThreadProbe {
        let theta = try b.initial(seed: 5)
        let (loss, g) = try b.lossGrad(theta, data)
        let out = try b.outputs(theta, data)
        let hv = b.providesHVP ? try b.hvp(theta, data, g) : nil
        let vj = b.providesVJP ? try b.vjp(theta, data, out) : nil
        return ThreadProbe(params: theta, loss: loss, gradient: g, outputs: out, hvp: hv, vjp: vj)
    }

    func difference(from other: ThreadProbe) -> String? {
        if let i = firstDifference(params, other.params) { return "init_params[\(i)]" }
        if loss.bitPattern != other.loss.bitPattern { return "loss (\(loss) vs \(other.loss))" }
        if let i = firstDifference(gradient, other.gradient) { return "gradient[\(i)]" }
        if let i = firstDifference(outputs, other.outputs) { return "forward output[\(i)]" }
        if let a = hvp, let b = other.hvp, let i = firstDifference(a, b) { return "hvp[\(i)]" }
        if let a = vjp, let b = other.vjp, let i = firstDifference(a, b) { return "vjp[\(i)]" }
        return nil
    }
}
