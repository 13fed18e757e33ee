// MARK: - CRC-32 (IEEE 802.3, as in zlib, PNG and gzip)
//
// Reflected polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF;
// CRC32("123456789") = 0xCBF43926. Table-driven, one byte at a time: the
// checkpoint files it protects are at most a few megabytes.

/// The 256-entry lookup table, built once.
private let crc32Table: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// CRC-32 state: feed bytes with `update`, read `value` at the end.
public struct CRC32: Sendable {
    private var crc: UInt32 = 0xFFFF_FFFF
    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = crc
        crc32Table.withUnsafeBufferPointer { table in
            for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        crc = c
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public var value: UInt32 { crc ^ 0xFFFF_FFFF }

    /// CRC-32 of `bytes` in one call.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c = CRC32()
        if let done: Void = bytes.withContiguousStorageIfAvailable({ c.update(UnsafeRawBufferPointer($0)) }) {
            _ = done
        } else {
            c.update(Array(bytes))
        }
        return c.value
    }
}
