// MARK: - DirectoryListing: raw names, the ones that are not UTF-8 shown by their bytes

import Foundation
import Testing
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DirectoryListingTests {
    @Test func namesThatAreNotUTF8AreSeparatedAndShownByTheirBytes() throws {
        let dir = try temporaryDirectory()
        for name: [UInt8] in [Array("plain.png".utf8), Array("caf\u{E9}.png".utf8), [0x61, 0xE9, 0x5C, 0x01]] {
            let path = Array(dir.utf8) + [0x2F] + name + [0]
            let fd = path.withUnsafeBufferPointer {
                open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644)
            }
            #expect(fd >= 0)
            close(fd)
        }
        let listing = try DirectoryListing(path: dir)
        #expect(listing.names.sorted() == ["caf\u{E9}.png", "plain.png"])
        #expect(listing.notUTF8 == [#"a\xE9\x5C\x01"#])   // a backslash is escaped too: the shown text is unambiguous
        #expect(throws: DirectoryListing.OpenError.self) { try DirectoryListing(path: dir + "/missing") }
    }
}
