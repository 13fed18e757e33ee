import Testing
@testable import MAMLHost

// MARK: - SHA-256 against the FIPS 180-4 / NIST example vectors

@Suite("SHA-256")
struct SHA256Tests {
    @Test("NIST vectors, and every padding boundary hashed whole equals hashed in pieces")
    func vectors() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var pieces = SHA256()
            pieces.update(Array(bytes.prefix(length / 3)))
            pieces.update(Array(bytes.dropFirst(length / 3)))
            #expect(hexString(pieces.finalize()) == SHA256.hex(bytes), "length \(length)")
        }
    }
}
