// MARK: - The classes and image files of an image folder
//
// Three layouts (docs/datasets.md):
//   classes  DATA/CLASS/*.jpg|jpeg|png                      the split is drawn (seeded)
//   splits   DATA/train|val|test/CLASS/*.jpg|jpeg|png       ("validation" for "val" too)
//   csv      DATA/train.csv, val.csv, test.csv, each `filename,label` rows (Ravi & Larochelle's
//            MiniImageNet split files), naming files in DATA/images (or DATA itself)
// "auto" picks csv when DATA/train.csv exists, splits when DATA/train is a folder, else classes.
//
// Order (it fixes class ids and the cache's layout): splits train, val, test; classes sorted by
// name (byte order) within a split, files sorted by name within a class (csv: in file order).
// Hidden entries (".*") are skipped silently; other files without an image extension are
// skipped and counted (the caller says so once); a folder where an image belongs, a name that
// is not UTF-8, a symlink loop, a dangling link or anything not a regular file is an error
// naming it. Each file's path, size and modification time feed the listing's signature: the
// cache is valid for exactly the files it was built from.

import MAMLCore
internal import CCrypto
#if canImport(Glibc)
import Glibc
#endif

/// How an image folder is organised (see the file comment).
public enum ImageFolderLayout: String, Sendable, CaseIterable {
    case auto, classes, splits, csv
}

/// One class: its name, the split its folder or CSV put it in (nil: drawn later), its files.
struct ImageClassEntry: Sendable, Equatable {
    var name: String
    var split: TaskSplit?
    /// Paths relative to the data folder.
    var files: [String]
}

/// Everything found under a data folder.
struct ImageFolderListing: Sendable {
    var layout: ImageFolderLayout
    var classes: [ImageClassEntry]
    /// Files skipped for their extension (relative paths).
    var skipped: [String]
    /// SHA-256 over every listed file's relative path, size and modification time (and the CSV
    /// files' bytes): what the cache is checked against.
    var signature: String
    var imageCount: Int { classes.reduce(0) { $0 + $1.files.count } }
}

/// The split folder names of the splits layout, and the CSV file names of the csv layout.
let splitFolderNames: [(TaskSplit, [String])] = [(.train, ["train"]), (.validation, ["val", "validation"]),
                                                 (.test, ["test"])]

/// Lists `data` in `layout`; errors are `.invalidConfig` naming the path.
/// `root` is `data` as the prefix of paths in messages ("" for "/"; default `data`).
func listImageFolder(data folder: String, layout requested: ImageFolderLayout,
                     root: String? = nil) throws(MAMLError) -> ImageFolderListing {
    let data = root ?? folder
    guard fileKind(folder) == .directory else {
        throw imageFolderError("data folder \(folder) does not exist or is not a folder (moved? eval and train --resume take --data DIR)")
    }
    var layout = requested
    if layout == .auto {
        layout = fileKind(data + "/train.csv") == .file ? .csv : fileKind(data + "/train") == .directory ? .splits : .classes
    }
    var listing = ImageFolderListing(layout: layout, classes: [], skipped: [], signature: "")
    var record: [UInt8] = []   // what the signature hashes
    switch layout {
    case .auto, .classes:
        listing.classes = try classFolders(data, relative: "", split: nil, skipped: &listing.skipped, record: &record)
    case .splits:
        for (split, names) in splitFolderNames {
            let found = names.filter { fileKind(data + "/" + $0) == .directory }
            guard found.count == 1 else {
                throw imageFolderError(found.isEmpty
                    ? "\(data) has a train folder but no \(names.joined(separator: " or ")) folder; the splits layout needs train, val and test"
                    : "\(data) has both val and validation folders; keep one")
            }
            listing.classes += try classFolders(data + "/" + found[0], relative: found[0] + "/", split: split,
                                                skipped: &listing.skipped, record: &record)
        }
    case .csv:
        listing.classes = try csvClasses(data, record: &record)
    }
    guard !listing.classes.isEmpty else {
        throw imageFolderError("\(folder) has no class folders (expected DATA/CLASS/*.jpg, see docs/datasets.md)")
    }
    listing.signature = sha256Hex(record)
    return listing
}

// MARK: - Folders

/// The class folders of `folder`, each with its sorted image files.
private func classFolders(_ folder: String, relative: String, split: TaskSplit?,
                          skipped: inout [String], record: inout [UInt8]) throws(MAMLError) -> [ImageClassEntry] {
    var classes: [ImageClassEntry] = []
    for name in try visibleEntries(folder) {
        let path = folder + "/" + name
        switch fileKind(path) {
        case .directory: break
        case .file:
            skipped.append(relative + name)   // a README or a stray file beside the class folders
            continue
        case .problem(let why): throw imageFolderError("\(path): \(why)")
        }
        var files: [String] = []
        for file in try visibleEntries(path) {
            let filePath = path + "/" + file
            guard hasImageExtension(file) else {
                if fileKind(filePath) == .directory {
                    throw imageFolderError("\(filePath) is a folder inside class folder \(path); class folders hold images only")
                }
                skipped.append(relative + name + "/" + file); continue
            }
            try addToRecord(filePath, relative: relative + name + "/" + file, record: &record)
            files.append(relative + name + "/" + file)
        }
        guard !files.isEmpty else {
            throw imageFolderError("class folder \(path) has no images (.jpg, .jpeg or .png); remove it or add images")
        }
        classes.append(ImageClassEntry(name: name, split: split, files: files))
    }
    return classes
}

/// The names in `folder` that do not start with ".", sorted; a name that is not UTF-8 is an error.
private func visibleEntries(_ folder: String) throws(MAMLError) -> [String] {
    let listing: DirectoryListing
    do { listing = try DirectoryListing(path: folder.isEmpty ? "/" : folder) } catch {
        throw imageFolderError("cannot list folder \(folder): \(error.reason)")
    }
    if let shown = listing.notUTF8.first(where: { !$0.hasPrefix(".") }) {
        throw imageFolderError("\(folder)/\(shown): the name is not valid UTF-8; rename it")
    }
    return listing.names.filter { !$0.hasPrefix(".") }.sorted()
}

func hasImageExtension(_ name: String) -> Bool {
    let lower = name.lowercased()
    return lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png")
}

/// What a path is once symlinks are followed.
enum FileKind: Equatable {
    case file, directory
    case problem(String)
}

func fileKind(_ path: String) -> FileKind {
    var st = stat()
    guard stat(path, &st) == 0 else {
        switch errno {
        case ELOOP: return .problem("a symbolic link loop")
        case ENOENT:
            var link = stat()
            return .problem(lstat(path, &link) == 0 ? "a symbolic link to nothing (dangling)" : "does not exist")
        default: return .problem(String(cString: strerror(errno)))
        }
    }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return .file
    case S_IFDIR: return .directory
    default: return .problem("not a regular file or folder")
    }
}

/// Appends the file's relative path, size and modification time to the signature record;
/// anything but a regular file (after symlinks) is an error naming it.
private func addToRecord(_ path: String, relative: String, record: inout [UInt8]) throws(MAMLError) {
    var st = stat()
    guard stat(path, &st) == 0 else {
        if case .problem(let why) = fileKind(path) { throw imageFolderError("\(path): \(why)") }
        throw imageFolderError("\(path): cannot stat")
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw imageFolderError("\(path): not a regular file") }
    record += Array(relative.utf8); record.append(0)
    for v in [Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)] {
        withUnsafeBytes(of: v.littleEndian) { record += $0 }
    }
}

// MARK: - CSV split files

/// The classes of the csv layout: the labels of train.csv, val.csv and test.csv, each sorted by
/// name within its split; a label in two files, a file named twice or a missing file is an error.
private func csvClasses(_ data: String, record: inout [UInt8]) throws(MAMLError) -> [ImageClassEntry] {
    let imagesFolder = fileKind(data + "/images") == .directory ? "images/" : ""
    var classes: [ImageClassEntry] = []
    var labelSplit: [String: (TaskSplit, String)] = [:]
    var fileSeen: [String: String] = [:]
    for (split, names) in splitFolderNames {
        let found = names.map { data + "/" + $0 + ".csv" }.filter { fileKind($0) == .file }
        guard let csv = found.first, found.count == 1 else {
            throw imageFolderError(found.isEmpty
                ? "\(data) has train.csv but no \(names.map { $0 + ".csv" }.joined(separator: " or ")); the csv layout needs train.csv, val.csv and test.csv"
                : "\(data) has both val.csv and validation.csv; keep one")
        }
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(csv) } catch { throw imageFolderError("\(csv): \(error.description)") }
        record += bytes
        var files: [String: [String]] = [:]
        for row in try parseSplitCSV(bytes, path: csv) {
            let where_ = "\(csv) line \(row.line)"
            if let (other, otherFile) = labelSplit[row.label], other != split {
                throw imageFolderError("\(where_): label \(row.label) is also in \(otherFile); "
                    + "the splits must not share classes")
            }
            labelSplit[row.label] = (split, csv)
            let relative = imagesFolder + row.file
            if let first = fileSeen[relative] {
                throw imageFolderError("\(where_): \(row.file) is already listed (\(first))")
            }
            fileSeen[relative] = where_
            let path = data + "/" + relative
            if case .problem(let why) = fileKind(path) {
                throw imageFolderError("\(where_) names \(row.file), but \(path): \(why)")
            }
            try addToRecord(path, relative: relative, record: &record)
            files[row.label, default: []].append(relative)
        }
        guard !files.isEmpty else { throw imageFolderError("\(csv) lists no images") }
        for label in files.keys.sorted() {
            classes.append(ImageClassEntry(name: label, split: split, files: files[label]!))
        }
    }
    return classes
}

/// The rows of a split file: a `filename,label` header, then one `file,label` per line (blank
/// lines skipped; a field may be double-quoted). Errors name the file and line.
func parseSplitCSV(_ bytes: [UInt8], path: String) throws(MAMLError) -> [(file: String, label: String, line: Int)] {
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw imageFolderError("\(path): not UTF-8 text")
    }
    var rows: [(file: String, label: String, line: Int)] = []
    var sawHeader = false
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        var line = Substring(rawLine)
        if line.hasSuffix("\r") { line = line.dropLast() }
        if index == 0, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
        if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { field -> String in
            let t = field.trimmingSpaces
            return t.count >= 2 && t.hasPrefix("\"") && t.hasSuffix("\"") ? String(t.dropFirst().dropLast()) : String(t)
        }
        if !sawHeader {
            guard fields.map({ $0.lowercased() }) == ["filename", "label"] else {
                throw imageFolderError("\(path) line \(index + 1): expected the header `filename,label`, found `\(line.prefix(80))`")
            }
            sawHeader = true; continue
        }
        guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
            throw imageFolderError("\(path) line \(index + 1): expected `filename,label`, found `\(line.prefix(80))`")
        }
        guard !fields[0].hasPrefix("/"), !fields[0].split(separator: "/").contains("..") else {
            throw imageFolderError("\(path) line \(index + 1): \(fields[0]) must be a path inside the images folder")
        }
        rows.append((fields[0], fields[1], index + 1))
    }
    guard sawHeader else { throw imageFolderError("\(path) is empty; expected a `filename,label` header and rows") }
    return rows
}

private extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}

// MARK: - Shared

func imageFolderError(_ message: String) -> MAMLError { .invalidConfig("image-folder: " + message) }

/// SHA-256 of `bytes` (libcrypto's one-shot SHA256; thread-safe).
func sha256Digest(_ bytes: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    bytes.withUnsafeBufferPointer { b in _ = SHA256(b.baseAddress, b.count, &digest) }
    return digest
}

/// SHA-256 of `bytes` as 64 lowercase hex digits.
func sha256Hex(_ bytes: [UInt8]) -> String { hexString(sha256Digest(bytes)) }
