#if canImport(Glibc)
import Glibc
#endif

// MARK: - Buffers that trap stray reads and writes (conformance `buffers` check)
//
// Layout, in whole pages from mmap:
//
//     [ PROT_NONE page ][ canary bytes ... data ][ PROT_NONE page ]
//
// The data ends exactly where the upper guard page begins, so a write (or read)
// one float past the end faults at once and the checking child dies with SIGSEGV,
// which the parent reports. Before the data, the rest of its first page is filled
// with a canary pattern: a write just before the buffer does not fault, but the
// canary is checked after every call. Input buffers are made read-only after
// they are filled, so a plugin writing into params or x faults too.

/// A float or int32 buffer placed against a guard page. Lives until `release()`.
final class GuardedBuffer {
    let count: Int
    let bytes: Int
    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private let dataOffset: Int
    static let canaryByte: UInt8 = 0xA5

    /// `elementSize` bytes per element, `count` elements (at least one page is mapped even for 0).
    init(count: Int, elementSize: Int = 4) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        self.count = count
        bytes = count * elementSize
        let dataPages = max(1, (bytes + page - 1) / page)
        mappedBytes = (dataPages + 2) * page
        guard let mapped = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else { fatalError("mmap of \(mappedBytes) bytes failed") }
        base = mapped
        dataOffset = (dataPages + 1) * page - bytes
        // Guard pages first and last; canary from the first data page to the data.
        mprotect(base, page, PROT_NONE)
        mprotect(base + (dataPages + 1) * page, page, PROT_NONE)
        (base + page).initializeMemory(as: UInt8.self, repeating: Self.canaryByte, count: dataOffset - page)
    }

    var raw: UnsafeMutableRawPointer { base + dataOffset }
    var floats: UnsafeMutablePointer<Float> { raw.bindMemory(to: Float.self, capacity: count) }
    var int32s: UnsafeMutablePointer<Int32> { raw.bindMemory(to: Int32.self, capacity: count) }

    /// Bytes of canary before the data that were overwritten (0 if intact).
    var canaryDamage: Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let canary = (base + page).assumingMemoryBound(to: UInt8.self)
        var damaged = 0
        for i in 0..<(dataOffset - page) where canary[i] != Self.canaryByte { damaged += 1 }
        return damaged
    }

    /// Makes the data (and canary) pages read-only: for inputs the plugin must not write.
    func makeReadOnly() {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        mprotect(base + page, mappedBytes - 2 * page, PROT_READ)
    }

    func release() { munmap(base, mappedBytes) }
}
