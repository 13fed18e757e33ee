import MAMLPluginABI
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Is this file a plugin? Without running it
//
// `maml-host trust add` must not pin a file that can never load, and must not run
// code to find out (pinning is a decision about code, not an execution of it).
// So it reads the ELF headers: a plugin is a 64-bit little-endian shared object
// (ET_DYN) for this machine whose dynamic symbol table defines the entry symbol
// with default visibility. Only the headers, the section table, .dynsym and its
// string table are read, each bounds-checked against the file size. What this
// cannot see (ABI version, toolchain, a registry that fails) is found at load.

/// What the ELF headers say about a file.
enum ELFPluginVerdict: Equatable {
    /// A shared object for this machine exporting the entry symbol.
    case plugin
    /// Certainly not a loadable plugin, and why.
    case notPlugin(String)
    /// Looks like a shared object, but the symbol table could not be read (no section headers:
    /// `sstrip`ped, or an unusual layout); only loading it can tell.
    case unknown(String)
}

/// Reads the ELF headers of the open file `fd` (size `size`) and looks for the entry symbol.
func elfPluginVerdict(fileDescriptor fd: Int32, size: Int64) -> ELFPluginVerdict {
    let entry = MAML_ENTRY_SYMBOL
    func bytes(_ offset: UInt64, _ count: Int) -> [UInt8]? {
        guard count >= 0, offset <= UInt64(size), UInt64(count) <= UInt64(size) - offset else { return nil }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return out
    }
    guard let header = bytes(0, 64), header[0..<4] == [0x7f, 0x45, 0x4c, 0x46] else {
        return .notPlugin("not an ELF file (a plugin is a shared library built with -shared)")
    }
    guard header[4] == 2 else { return .notPlugin("a 32-bit ELF file; this host loads 64-bit plugins") }
    guard header[5] == 1 else { return .notPlugin("a big-endian ELF file; this host is little-endian") }
    let type = le16(header, 16), machine = le16(header, 18)
    guard type == 3 else {
        let what = type == 1 ? "a relocatable object (.o)" : type == 2 ? "an executable" : type == 4 ? "a core dump" : "ELF type \(type)"
        return .notPlugin("\(what), not a shared library (build it with -shared)")
    }
    if let host = hostMachine, machine != host {
        return .notPlugin("built for another CPU (ELF machine \(machine), this host is \(host))")
    }
    let sectionOffset = le64(header, 40)
    let sectionSize = Int(le16(header, 58)), sectionCount = Int(le16(header, 60))
    guard sectionOffset != 0, sectionCount > 0, sectionSize >= 64,
          let table = bytes(sectionOffset, sectionSize * sectionCount) else {
        return .unknown("it has no readable section table, so its symbols cannot be read without loading it")
    }
    func section(_ i: Int) -> (type: UInt32, offset: UInt64, size: UInt64, link: Int, entrySize: UInt64) {
        let base = i * sectionSize
        return (le32(table, base + 4), le64(table, base + 24), le64(table, base + 32),
                Int(le32(table, base + 40)), le64(table, base + 56))
    }
    // SHT_DYNSYM = 11: the symbols the dynamic linker (and so dlsym) sees.
    guard let dynsym = (0..<sectionCount).map(section).first(where: { $0.type == 11 }) else {
        return .notPlugin("it exports no dynamic symbols, so no \(entry)")
    }
    let symbolSize = min(max(dynsym.entrySize, 24), 4096)
    guard dynsym.link < sectionCount, dynsym.size <= 64 << 20 else {
        return .unknown("its dynamic symbol table is malformed")
    }
    let strings = section(dynsym.link)
    guard strings.size <= 64 << 20, let names = bytes(strings.offset, Int(strings.size)),
          let symbols = bytes(dynsym.offset, Int(dynsym.size)) else {
        return .unknown("its dynamic symbol table cannot be read")
    }
    let wanted = Array(entry.utf8)
    for start in stride(from: 0, to: symbols.count - 23, by: Int(symbolSize)) {
        let nameOffset = Int(le32(symbols, start))
        guard nameOffset + wanted.count < names.count,
              names[nameOffset..<nameOffset + wanted.count].elementsEqual(wanted),
              names[nameOffset + wanted.count] == 0 else { continue }
        let binding = symbols[start + 4] >> 4, visibility = symbols[start + 5] & 3
        let sectionIndex = le16(symbols, start + 6)
        // Defined (not SHN_UNDEF), global or weak, default or protected visibility.
        if sectionIndex != 0 && (binding == 1 || binding == 2) && (visibility == 0 || visibility == 3) { return .plugin }
    }
    return .notPlugin("a shared library that does not export \(entry), so not a maml plugin "
                      + "(export it with MAML_EXPORT; check with nm -D --defined-only)")
}

/// The ELF e_machine of this host.
private let hostMachine: UInt16? = {
    #if arch(x86_64)
    return 62
    #elseif arch(arm64)
    return 183
    #else
    return nil
    #endif
}()

private func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
private func le32(_ b: [UInt8], _ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[i + $1]) << (8 * $1) } }
private func le64(_ b: [UInt8], _ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[i + $1]) << (8 * $1) } }
