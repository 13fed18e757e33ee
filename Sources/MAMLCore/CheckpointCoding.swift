// MARK: - Checkpoint encoding and decoding (format in Checkpoint.swift)

import Foundation   // JSON only

let fixedPrefixLength = 24   // magic 8 + version 4 + header length 4 + total length 8

extension Checkpoint {
    /// The file bytes, checksum included.
    func encoded(path: String = "checkpoint") throws(CheckpointError) -> [UInt8] {
        let p = header.parameterCount
        let adam = header.optimizer.kind == .adam
        guard parameters.count == p, !adam || (moments.m.count == p && moments.v.count == p) else {
            throw CheckpointError(path: path, .writeFailed(
                "header says \(p) parameters but holds \(parameters.count) (moments \(moments.m.count)/\(moments.v.count))"))
        }
        let json: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            json = try encoder.encode(header)
        } catch {
            throw CheckpointError(path: path, .writeFailed("cannot encode header: \(error)"))
        }
        let total = fixedPrefixLength + json.count + 4 * p * (adam ? 3 : 1) + 4
        var out: [UInt8] = []
        out.reserveCapacity(total)
        out += checkpointMagic
        appendLE(&out, checkpointFormatVersion)
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
        guard version == checkpointFormatVersion else { throw fail(.unsupportedVersion(version)) }
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

        let header: CheckpointHeader
        do {
            header = try JSONDecoder().decode(CheckpointHeader.self,
                                              from: Data(bytes[fixedPrefixLength..<(fixedPrefixLength + headerLength)]))
        } catch {
            throw fail(.malformedHeader(describe(error)))
        }
        guard header.format == "maml-zoo checkpoint" else {
            throw fail(.malformedHeader("format is \"\(header.format)\", expected \"maml-zoo checkpoint\""))
        }
        let p = header.parameterCount
        guard p >= 1, header.iteration >= 0, header.optimizer.step >= 0 else {
            throw fail(.malformedHeader("parameterCount \(p), iteration \(header.iteration), optimizer step "
                + "\(header.optimizer.step): expected P >= 1 and counts >= 0"))
        }
        let adam = header.optimizer.kind == .adam
        let arrays = adam ? 3 : 1
        let payload = total - fixedPrefixLength - headerLength - 4
        guard p <= Int.max / (4 * arrays), payload == 4 * p * arrays else {
            throw fail(.malformedHeader("\(p) parameters with optimizer \(header.optimizer.kind.rawValue) need "
                + "\(p.multipliedReportingOverflow(by: 4 * arrays).partialValue) bytes of arrays, the file has \(payload)"))
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

/// A short account of a JSON decoding error: which key, what was wrong.
private func describe(_ error: any Error) -> String {
    func at(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "top level" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
    guard let e = error as? DecodingError else { return "\(error)" }
    switch e {
    case .keyNotFound(let key, let c): return "missing key \"\(at(c.codingPath + [key]))\""
    case .typeMismatch(let type, let c): return "\(at(c.codingPath)) is not a \(type)"
    case .valueNotFound(let type, let c): return "\(at(c.codingPath)) is null, expected \(type)"
    case .dataCorrupted(let c):
        return c.codingPath.isEmpty ? "not valid JSON" : "\(at(c.codingPath)): \(c.debugDescription)"
    @unknown default: return "\(error)"
    }
}
