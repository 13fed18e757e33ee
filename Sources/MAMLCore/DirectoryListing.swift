// MARK: - Directory entries with their raw names
//
// Foundation's directory listing repairs names that are not UTF-8 to U+FFFD: the
// repaired name names no file ("cannot read: No such file"), or worse, another one.
// readdir sees the bytes, so such names can be reported and skipped by name.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The entries of one directory ("." and ".." left out), split by whether the name is UTF-8.
public struct DirectoryListing: Sendable {
    /// Names that are valid UTF-8, in directory order (sort them for a stable order).
    public var names: [String] = []
    /// Names that are not, shown with each byte outside printable ASCII as \xNN.
    public var notUTF8: [String] = []

    /// Thrown when the directory cannot be opened; `reason` is strerror's text.
    public struct OpenError: Error, Sendable { public let reason: String }

    public init(path: String) throws(OpenError) {
        guard let dir = opendir(path) else { throw OpenError(reason: String(cString: strerror(errno))) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let raw = withUnsafeBytes(of: entry.pointee.d_name) { field -> [UInt8] in
                Array(field.prefix { $0 != 0 })
            }
            if raw == [0x2E] || raw == [0x2E, 0x2E] { continue }
            if let name = String(validating: raw, as: UTF8.self) { names.append(name) }
            else { notUTF8.append(showBytes(raw)) }
        }
    }
}

/// Bytes as text: printable ASCII as itself, anything else as \xNN (for messages).
public func showBytes(_ bytes: some Sequence<UInt8>) -> String {
    var out = ""
    for b in bytes {
        if b >= 0x20 && b < 0x7F && b != 0x5C { out.unicodeScalars.append(UnicodeScalar(b)) }
        else { out += "\\x" + String(String(0x100 | Int(b), radix: 16, uppercase: true).dropFirst()) }
    }
    return out
}

/// Bytes as lowercase hex digits, two per byte (digests: plugin pins, image-folder fingerprints).
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
    return s
}
