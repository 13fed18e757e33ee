#if canImport(Glibc)
import Glibc
#endif

// MARK: - Plugin text made safe to show
//
// Model names, versions, summaries, op help, schema descriptions, log and error
// messages come from plugins: third-party code. Shown raw on a terminal, a
// newline forges a row of the `list` table or a line of maml-host's own
// messages, \r overwrites what is already on the line, and ESC / C1 sequences
// (CSI, OSC) recolour, retitle or clear the terminal. So every plugin string a
// table or a log line shows goes through `displaySafe`: control characters
// become visible escapes (`\n`, `\x1b`, `\u{9b}`) and the text stays on one
// line. JSON output needs none of this: its serializer escapes them itself.
// Long plugin texts (log and error messages) are also capped: `pluginTextLimit`.

/// The most bytes of one plugin log or error message the host keeps; the rest is
/// replaced by "… (N bytes cut)".
public let pluginTextLimit = 4096

/// `text` with control characters as visible escapes, so it shows as what it is, on one line:
/// `\n`, `\r`, `\t`, other C0 controls and DEL as `\xNN` (ESC is `\x1b`), C1 controls, the
/// Unicode line and paragraph separators and the bidirectional controls (which reorder what a
/// terminal shows) as `\u{NNNN}`. With `keepingLineBreaks`, "\n" and "\t" stay as they are
/// (for maml-host's own multi-line messages that quote plugin text already escaped).
public func displaySafe(_ text: String, keepingLineBreaks: Bool = false) -> String {
    guard text.unicodeScalars.contains(where: { needsEscape($0, keepingLineBreaks) }) else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count + 16)
    for scalar in text.unicodeScalars {
        guard needsEscape(scalar, keepingLineBreaks) else { out.unicodeScalars.append(scalar); continue }
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x80: out += "\\x" + hex(scalar.value, digits: 2)
        default: out += "\\u{" + hex(scalar.value, digits: 4) + "}"
        }
    }
    return out
}

private func needsEscape(_ s: Unicode.Scalar, _ keepingLineBreaks: Bool) -> Bool {
    switch s.value {
    case 0x0A, 0x09: return !keepingLineBreaks
    case 0x00...0x1F, 0x7F...0x9F: return true                  // C0, DEL, C1
    case 0x2028, 0x2029: return true                             // line / paragraph separator
    case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true   // bidi controls
    default: return false
    }
}

private func hex(_ value: UInt32, digits: Int) -> String {
    let h = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - h.count)) + h
}

/// A C string from a plugin as UTF-8 (invalid bytes repaired), at most `limit` bytes of it
/// (cut before a partial character) followed by "… (N bytes cut)" when it was longer.
package func decodeLenient(_ text: UnsafePointer<CChar>, limit: Int) -> String {
    let length = strlen(text)
    let bytes = UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self)
    guard length > limit else {
        return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
    var cut = max(0, limit)
    // Back off to the start of a UTF-8 sequence (at most 3 continuation bytes).
    var backed = 0
    while cut > 0, backed < 3, bytes[cut] & 0xC0 == 0x80 { cut -= 1; backed += 1 }
    let kept = String(decoding: UnsafeBufferPointer(start: bytes, count: cut), as: UTF8.self)
    return kept + "… (\(length - cut) bytes cut)"
}
