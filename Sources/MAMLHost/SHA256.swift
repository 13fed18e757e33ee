#if canImport(Glibc)
import Glibc
#endif
import CCrypto
import MAMLCore

// MARK: - SHA-256 (OpenSSL libcrypto, EVP digest interface)
//
// Plugin pinning hashes plugin files. The digest comes from libcrypto (Debian:
// libssl-dev; the CCrypto module) through EVP_DigestInit_ex(EVP_sha256()),
// EVP_DigestUpdate and EVP_DigestFinal_ex. Every failing libcrypto call is a thrown
// HostError naming the call and libcrypto's reason, never a trap or a wrong hash.
// Checked against the FIPS 180-4 / NIST example vectors and against coreutils'
// sha256sum in Tests/MAMLHostTests/SHA256Tests.swift.

/// An incremental SHA-256: `update` any number of times, then `finalize`, which consumes it.
public struct SHA256: ~Copyable {
    /// The EVP_MD_CTX, owned: freed in deinit.
    private let context: OpaquePointer

    public init() throws(HostError) {
        guard let context = EVP_MD_CTX_new() else { throw libcryptoError("EVP_MD_CTX_new") }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            EVP_MD_CTX_free(context)
            throw libcryptoError("EVP_DigestInit_ex(SHA-256)")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) throws(HostError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        guard EVP_DigestUpdate(context, base, bytes.count) == 1 else { throw libcryptoError("EVP_DigestUpdate") }
    }

    public mutating func update(_ bytes: [UInt8]) throws(HostError) {
        guard !bytes.isEmpty else { return }
        guard EVP_DigestUpdate(context, bytes, bytes.count) == 1 else { throw libcryptoError("EVP_DigestUpdate") }
    }

    /// The 32-byte digest.
    public consuming func finalize() throws(HostError) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1 else { throw libcryptoError("EVP_DigestFinal_ex") }
        guard length == 32 else { throw HostError("libcrypto: EVP_DigestFinal_ex gave a \(length)-byte SHA-256 digest") }
        return Array(digest.prefix(32))
    }

    /// The digest of `bytes` as 64 lowercase hex digits.
    public static func hex(_ bytes: [UInt8]) throws(HostError) -> String {
        var hasher = try SHA256()
        try hasher.update(bytes)
        return hexString(try hasher.finalize())
    }
}

/// A failed libcrypto call, with the reasons on this thread's OpenSSL error queue (which it empties).
private func libcryptoError(_ call: String) -> HostError {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return HostError("libcrypto: \(call) failed" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")))
}


/// The SHA-256 of everything readable from `fd` (read from its current offset to the end), in hex.
func sha256Hex(fileDescriptor fd: Int32) throws(HostError) -> String {
    var hasher = try SHA256()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 64)
    defer { buffer.deallocate() }
    while true {
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw HostError("read failed: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        try hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
    return hexString(try hasher.finalize())
}
