// MARK: - The PNG reader refuses a header that claims an enormous image (before allocating for it)

import Foundation
import TestSupport
import Testing
import MAMLCore
@testable import MAMLTasks

@Suite struct PNGLimitTests {
    /// A valid 2x2 PNG whose IHDR then claims `width` x `height` (its CRC fixed up, so libpng reads the header).
    private func pngClaiming(width: UInt32, height: UInt32) -> [UInt8] {
        var b = PNGTestWriter.gray8(width: 2, height: 2, gray: [0, 255, 255, 0])
        for (offset, v) in [(16, width), (20, height)] {
            for i in 0..<4 { b[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(3 - i))) }
        }
        let crc = CRC32.checksum(b[12..<29])       // chunk type + data of IHDR
        for i in 0..<4 { b[29 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(3 - i))) }
        return b
    }

    @Test func aHeaderClaimingAHugeImageIsRefusedNamingTheFileAndSize() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/png-limit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/huge.png"
        try PNGTestWriter.write(pngClaiming(width: 100_000, height: 100_000), to: path)
        #expect {
            try readGrayPNG(path: path)
        } throws: { error in
            "\(error)" == "cannot read \(path) as a PNG image: the header says 100000x100000 pixels, "
                + "more than the 16384x16384 this reader accepts"
        }
        // The same file with its true size still reads (the patching above is sound).
        try PNGTestWriter.write(pngClaiming(width: 2, height: 2), to: path)
        #expect(try readGrayPNG(path: path).pixels == [0, 1, 1, 0])
    }

    /// Found by the png fuzzer (Tests/fuzz/regressions/png/text-chunk-claims-1229209940-bytes.png):
    /// libpng allocates and zeroes a chunk's declared length before reading it, so a 129-byte file
    /// whose tEXt chunk claimed 1.2 GB cost 1.2 GB of memory and seconds. The reader now checks
    /// every chunk length against the file before libpng sees it.
    @Test func aChunkLongerThanTheFileIsRefusedBeforeLibpngAllocatesIt() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/png-chunk-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/claims.png"
        let valid = PNGTestWriter.gray8(width: 2, height: 2, gray: [0, 255, 255, 0])
        // After the signature and IHDR (33 bytes): a tEXt chunk header claiming 0x49444154 bytes.
        let bytes = Array(valid[0..<33]) + [0x49, 0x44, 0x41, 0x54] + Array("tEXt".utf8) + Array(valid[33...])
        try PNGTestWriter.write(bytes, to: path)
        #expect {
            try readGrayPNG(path: path)
        } throws: { error in
            "\(error)" == "cannot read \(path) as a PNG image: chunk 'tEXt' at byte 33 claims 1229209940 bytes "
                + "of data, but the file has \(bytes.count - 41) bytes left"
        }
        // A chunk type that is not letters is shown in hex (here in place of IEND, cut short).
        try PNGTestWriter.write(Array(valid.dropLast(12)) + [0, 0, 0, 9, 1, 2, 3, 4, 5], to: path)
        #expect {
            try readGrayPNG(path: path)
        } throws: { error in
            "\(error)".hasSuffix("chunk of type 0x01020304 at byte \(valid.count - 12) claims 9 bytes of data, "
                + "but the file has 1 bytes left")
        }
        // The valid file still reads.
        try PNGTestWriter.write(valid, to: path)
        #expect(try readGrayPNG(path: path).pixels == [0, 1, 1, 0])
    }
}
