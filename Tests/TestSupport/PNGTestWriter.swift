// MARK: - A tiny PNG writer for tests (uncompressed deflate)
//
// Writes valid PNGs without libpng, so the loader's decoder is tested against an
// independent encoder: zlib stream of stored (uncompressed) deflate blocks,
// filter type 0 on every row, CRC-32 from MAMLCore, Adler-32 here.

import Foundation
import MAMLCore


public enum PNGTestWriter {
    /// PNG bytes for 8-bit grayscale `gray` (width * height bytes, 0 black, 255 white).
    public static func gray8(width: Int, height: Int, gray: [UInt8]) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height { raw.append(0); raw += gray[(y * width)..<((y + 1) * width)] }
        return png(width: width, height: height, bitDepth: 8, colorType: 0, raw: raw)
    }

    /// PNG bytes for a 1-bit grayscale image (as Omniglot's files are): `ink(x, y)` pixels black.
    public static func gray1(width: Int, height: Int, ink: (Int, Int) -> Bool) -> [UInt8] {
        var raw: [UInt8] = []
        let rowBytes = (width + 7) / 8
        for y in 0..<height {
            raw.append(0)
            var row = [UInt8](repeating: 0, count: rowBytes)
            for x in 0..<width where !ink(x, y) { row[x / 8] |= 0x80 >> UInt8(x % 8) }   // 1 = white
            raw += row
        }
        return png(width: width, height: height, bitDepth: 1, colorType: 0, raw: raw)
    }

    /// PNG bytes for 8-bit RGBA pixels (width * height * 4 bytes).
    public static func rgba8(width: Int, height: Int, rgba: [UInt8]) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0..<height { raw.append(0); raw += rgba[(y * width * 4)..<((y + 1) * width * 4)] }
        return png(width: width, height: height, bitDepth: 8, colorType: 6, raw: raw)
    }

    public static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    // MARK: Container

    private static func png(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr = be32(UInt32(width)) + be32(UInt32(height))
        ihdr += [bitDepth, colorType, 0, 0, 0]
        out += chunk("IHDR", ihdr)
        out += chunk("IDAT", zlibStored(raw))
        out += chunk("IEND", [])
        return out
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(CRC32.checksum(body))
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let last: UInt8 = offset + n == data.count ? 1 : 0
            out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + be32(b << 16 | a)
    }

    private static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}
