import Foundation
import Testing
@testable import MAMLHost
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - SHA-256 (libcrypto's, through the EVP digest interface)
//
// The FIPS 180-4 / NIST example vectors, then agreement with coreutils' sha256sum on
// files, whole through sha256Hex(fileDescriptor:) (what the trust code calls) and
// fed to the incremental hasher in odd-sized chunks.

@Suite("SHA-256")
struct SHA256Tests {
    @Test("NIST vectors, and every padding boundary hashed whole equals hashed in pieces")
    func vectors() throws {
        #expect(try SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(try SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(try SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var pieces = try SHA256()
            try pieces.update(Array(bytes.prefix(length / 3)))
            try pieces.update(Array(bytes.dropFirst(length / 3)))
            #expect(hexString(try pieces.finalize()) == (try SHA256.hex(bytes)), "length \(length)")
        }
    }

    @Test("agrees with sha256sum on files: empty, small, a block boundary, 5 MB in odd-sized chunks")
    func matchesSha256sum() throws {
        let directory = FileManager.default.temporaryDirectory.path + "/sha256-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func noise(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                return UInt8(truncatingIfNeeded: state >> 24)
            }
        }
        let files: [(name: String, bytes: [UInt8])] = [
            ("empty", []), ("abc", Array("abc\n".utf8)), ("block", noise(64)),
            ("large", noise(5 * 1_048_576 + 3)),
        ]
        let chunkSizes = [1, 7, 63, 65, 4_093, 65_537, 999_983]
        for file in files {
            let path = directory + "/" + file.name
            #expect(FileManager.default.createFile(atPath: path, contents: Data(file.bytes)))
            let expected = try sha256sum(path)
            #expect(expected.count == 64, "sha256sum \(path)")

            let fd = open(path, O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            #expect(try sha256Hex(fileDescriptor: fd) == expected, "\(file.name), whole file")

            var hasher = try SHA256()
            var offset = 0, chunk = 0
            while offset < file.bytes.count {
                let end = min(offset + chunkSizes[chunk % chunkSizes.count], file.bytes.count)
                try file.bytes[offset..<end].withUnsafeBytes { try hasher.update($0) }
                offset = end; chunk += 1
            }
            #expect(hexString(try hasher.finalize()) == expected, "\(file.name), in \(chunk) odd-sized chunks")
        }
    }

    @Test("a descriptor that cannot be read is an error, not a hash")
    func unreadableDescriptorThrows() throws {
        let fd = open(FileManager.default.temporaryDirectory.path, O_RDONLY | O_DIRECTORY)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(throws: HostError.self) { try sha256Hex(fileDescriptor: fd) }
    }
}

/// coreutils' sha256sum of `path`: its first field.
private func sha256sum(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sha256sum", path]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return String(text.prefix { $0 != " " })
}
