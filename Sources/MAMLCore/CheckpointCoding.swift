// MARK: - Checkpoint encoding and decoding (format in Checkpoint.swift)

let fixedPrefixLength = 24   // magic 8 + version 4 + header length 4 + total length 8

extension Checkpoint {
    /// The file bytes, checksum included.
    func encoded(path: String = "checkpoint") throws(CheckpointError) -> [UInt8] {
        let p = header.parameterCount + header.learnedRates
        let adam = header.optimizer.kind == .adam
        guard parameters.count == p, !adam || (moments.m.count == p && moments.v.count == p) else {
            throw CheckpointError(path: path, .writeFailed(
                "header says \(p) meta-parameters but holds \(parameters.count) (moments \(moments.m.count)/\(moments.v.count))"))
        }
        if let key = header.nonFiniteKey {
            throw CheckpointError(path: path, .writeFailed("cannot encode header: \(key) is not a finite number"))
        }
        let json = Array(header.json.serialized(.expanded, sortedKeys: true).utf8)
        let total = fixedPrefixLength + json.count + 4 * p * (adam ? 3 : 1) + 4
        var out: [UInt8] = []
        out.reserveCapacity(total)
        out += checkpointMagic
        // Version 2 only where it is needed (learned rates follow theta): every other file stays
        // readable by builds that know version 1 alone.
        appendLE(&out, header.learnedRates > 0 ? checkpointFormatVersion : 1)
        appendLE(&out, UInt32(json.count))
        appendLE(&out, UInt64(total))
        out += json
        appendFloats(&out, parameters)
        if adam { appendFloats(&out, moments.m); appendFloats(&out, moments.v) }
        appendLE(&out, CRC32.checksum(out))
        assert(out.count == total)
        return out
    }

    /// Parses and verifies file bytes; `path` names the file in errors.
    static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> Checkpoint {
        func fail(_ problem: CheckpointError.Problem) -> CheckpointError { CheckpointError(path: path, problem) }
        let found = bytes.count
        // Magic: a short file that is a prefix of the magic is a truncated checkpoint.
        guard found >= checkpointMagic.count else {
            if bytes.elementsEqual(checkpointMagic.prefix(found)) && found > 0 {
                throw fail(.truncated(expected: fixedPrefixLength, found: found))
            }
            throw fail(.notACheckpoint)
        }
        guard bytes[0..<8].elementsEqual(checkpointMagic) else { throw fail(.notACheckpoint) }
        guard found >= 12 else { throw fail(.truncated(expected: fixedPrefixLength, found: found)) }
        let version: UInt32 = readLE(bytes, 8)
        guard version == 1 || version == checkpointFormatVersion else { throw fail(.unsupportedVersion(version)) }
        guard found >= fixedPrefixLength else { throw fail(.truncated(expected: fixedPrefixLength, found: found)) }
        let headerLength = Int(readLE(bytes, 12) as UInt32)
        let total64: UInt64 = readLE(bytes, 16)
        guard total64 <= UInt64(Int.max) else { throw fail(.trailingData(expected: Int.max, found: found)) }
        let total = Int(total64)
        if found < total { throw fail(.truncated(expected: total, found: found)) }
        if found > total { throw fail(.trailingData(expected: total, found: found)) }
        guard total >= fixedPrefixLength + headerLength + 4 else {
            throw fail(.malformedHeader("header length \(headerLength) does not fit a file of \(total) bytes"))
        }
        let stored: UInt32 = readLE(bytes, total - 4)
        let computed = CRC32.checksum(bytes[0..<(total - 4)])
        guard stored == computed else { throw fail(.corrupted(stored: stored, computed: computed)) }

        let headerBytes = bytes[fixedPrefixLength..<(fixedPrefixLength + headerLength)]
        let text = String(decoding: headerBytes, as: UTF8.self)
        guard text.utf8.elementsEqual(headerBytes) else { throw fail(.malformedHeader("not valid JSON: not UTF-8 text")) }
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw fail(.malformedHeader("not valid JSON: \(error)")) }
        let header: CheckpointHeader
        do { header = try CheckpointHeader(json: json) } catch { throw fail(.malformedHeader(error.message)) }
        guard header.format == "maml-zoo checkpoint" else {
            throw fail(.malformedHeader("format is \"\(header.format)\", expected \"maml-zoo checkpoint\""))
        }
        guard header.parameterCount >= 1, header.learnedRates >= 0, header.iteration >= 0, header.optimizer.step >= 0,
              header.learnedRates <= Int.max - header.parameterCount else {
            throw fail(.malformedHeader("parameterCount \(header.parameterCount), learnedRates \(header.learnedRates), "
                + "iteration \(header.iteration), optimizer step \(header.optimizer.step): expected P >= 1, counts >= 0 and P + learnedRates within range"))
        }
        guard version == 2 || header.learnedRates == 0 else {
            throw fail(.malformedHeader("learnedRates \(header.learnedRates) in a format version 1 file (version 2 holds them)"))
        }
        let p = header.parameterCount + header.learnedRates
        let adam = header.optimizer.kind == .adam
        let arrays = adam ? 3 : 1
        let payload = total - fixedPrefixLength - headerLength - 4
        guard p <= Int.max / (4 * arrays), payload == 4 * p * arrays else {
            let need = p.multipliedReportingOverflow(by: 4 * arrays)
            throw fail(.malformedHeader("\(p) meta-parameters with optimizer \(header.optimizer.kind.rawValue) need "
                + (need.overflow ? "more bytes than a file can hold" : "\(need.partialValue) bytes")
                + " of arrays, the file has \(payload)"))
        }
        var offset = fixedPrefixLength + headerLength
        let parameters = readFloats(bytes, &offset, p)
        var moments: ([Float], [Float]) = ([], [])
        if adam {
            let m = readFloats(bytes, &offset, p)
            moments = (m, readFloats(bytes, &offset, p))
        }
        return Checkpoint(header: header, parameters: parameters, moments: moments)
    }
}

// MARK: - Little-endian helpers

private func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { out += $0 }
}

private func appendFloats(_ out: inout [UInt8], _ values: [Float]) {
    for x in values { appendLE(&out, x.bitPattern) }
}

private func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
    return v
}

private func readFloats(_ bytes: [UInt8], _ offset: inout Int, _ count: Int) -> [Float] {
    var out = [Float](repeating: 0, count: count)
    for i in 0..<count {
        out[i] = Float(bitPattern: readLE(bytes, offset)); offset += 4
    }
    return out
}

// MARK: - The header as JSON

extension CheckpointHeader {
    /// The header object; numbers as Foundation's JSONEncoder wrote them (a Float or Double with its
    /// own shortest digits, integers exactly), so files written before and after this writer agree.
    public var json: JSONValue {
        .object(JSONObject([
            ("format", .string(format)),
            ("model", .object(JSONObject([
                ("id", .string(model.id)), ("version", .string(model.version)), ("config", .string(model.config))]))),
            ("task", .object(JSONObject([("family", .string(task.family)), ("config", .string(task.config))]))),
            ("training", training.json),
            ("iteration", JSONValue(integer: iteration)),
            ("parameterCount", JSONValue(integer: parameterCount)),
        ] + (learnedRates > 0 ? [("learnedRates", JSONValue(integer: learnedRates))] : []) + [
            ("optimizer", .object(JSONObject([
                ("kind", .string(optimizer.kind.rawValue)), ("step", JSONValue(integer: optimizer.step)),
                ("learningRate", JSONValue(shortest: optimizer.learningRate)),
                ("beta1", JSONValue(shortest: optimizer.beta1)), ("beta2", JSONValue(shortest: optimizer.beta2)),
                ("epsilon", JSONValue(shortest: optimizer.epsilon))]))),
            ("rng", .object(JSONObject([("scheme", .string(rng.scheme)), ("seed", JSONValue(integer: rng.seed))]))),
        ]))
    }

    /// The first number JSON cannot hold (NaN or infinite), as a key path.
    var nonFiniteKey: String? {
        let numbers: [(String, Double)] = [
            ("training.innerLR", Double(training.innerLR)), ("training.metaLR", training.metaLR),
            ("optimizer.learningRate", optimizer.learningRate), ("optimizer.beta1", optimizer.beta1),
            ("optimizer.beta2", optimizer.beta2), ("optimizer.epsilon", optimizer.epsilon)]
        return numbers.first { !$0.1.isFinite }?.0
    }

    /// Reads a header object: every key is required except inside "training" (TrainerConfig's
    /// defaults); unknown keys are ignored. Errors name the key path and what was expected.
    init(json: JSONValue) throws(JSONFieldError) {
        let f = try JSONFields(json)
        format = try f.string("format")
        let m = try f.fields("model")
        model = ModelIdentity(id: try m.string("id"), version: try m.string("version"), config: try m.string("config"))
        let t = try f.fields("task")
        task = TaskIdentity(family: try t.string("family"), config: try t.string("config"))
        training = try TrainerConfig(json: f.read("training", "an object") { $0 }, name: "training")
        iteration = try f.int("iteration")
        parameterCount = try f.int("parameterCount")
        learnedRates = try f.int("learnedRates", default: 0)
        let o = try f.fields("optimizer")
        optimizer = OptimizerHeader(kind: try o.choice("kind"), step: try o.int("step"),
                                    learningRate: try o.double("learningRate"), beta1: try o.double("beta1"),
                                    beta2: try o.double("beta2"), epsilon: try o.double("epsilon"))
        let r = try f.fields("rng")
        rng = RNGHeader(scheme: try r.string("scheme"), seed: try r.uint64("seed"))
    }
}
