// MARK: - image-tree fashion-mnist: Debian's Fashion-MNIST as class folders of grey images
//
// Reads the training set's IDX files (train-images-idx3-ubyte.gz: magic 2051, count, rows,
// columns, then the pixels; train-labels-idx1-ubyte.gz: magic 2049, count, then one byte a
// label) through zlib, and writes CLASS/NNNNNNNN.jpg, NNNNNNNN the image's index in the file.

import ArgumentParser
import CZlib
import Foundation
import MAMLTasks

/// Fashion-MNIST's ten labels, as folder names.
let fashionClassNames = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]

struct FashionMNIST: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashion-mnist",
        abstract: "Debian's Fashion-MNIST training set (apt-get install dataset-fashion-mnist) as class folders of 28x28 grey images.")

    @OptionGroup var output: OutputOptions
    @Option(name: .customLong("per-class"), help: "Images per class, the first in the file (default: all, 6000).")
    var perClass: Int?
    @Option(help: ArgumentHelp("The folder of the .gz files.", valueName: "DIR"))
    var source = "/usr/share/datasets/fashion-mnist"

    func validate() throws {
        if let perClass, perClass < 1 { throw ValidationError("--per-class must be at least 1, got \(perClass)") }
    }

    func run() throws {
        let images = try readIDX("\(source)/train-images-idx3-ubyte.gz", magic: 2051, dimensions: 3)
        let labels = try readIDX("\(source)/train-labels-idx1-ubyte.gz", magic: 2049, dimensions: 1)
        let count = images.shape[0], rows = images.shape[1], columns = images.shape[2]
        guard labels.shape[0] == count else {
            throw ToolError("\(source): \(count) images but \(labels.shape[0]) labels")
        }
        if let bad = labels.bytes.first(where: { Int($0) >= fashionClassNames.count }) {
            throw ToolError("\(source)/train-labels-idx1-ubyte.gz: label \(bad), Fashion-MNIST has 10")
        }
        // The first perClass images of each class, in file order.
        var chosen: [Int] = [], taken = [Int](repeating: 0, count: fashionClassNames.count)
        for i in 0..<count where taken[Int(labels.bytes[i])] < (perClass ?? .max) {
            taken[Int(labels.bytes[i])] += 1
            chosen.append(i)
        }
        try makeOutputFolder(output.out)
        for name in fashionClassNames { try makeFolder("\(output.out)/\(name)") }
        let (root, format, quality, size, chosenImages) = (output.out, output.format, output.quality, rows * columns, chosen)
        try forEachInParallel(chosen.count) { k in
            let i = chosenImages[k]
            let image = Image8(width: columns, height: rows, channels: 1, pixels: Array(images.bytes[(i * size)..<((i + 1) * size)]))
            let path = "\(root)/\(fashionClassNames[Int(labels.bytes[i])])/\(padded(i, 8)).\(format.rawValue)"
            try writeNewFile(path, try format.encode(image, quality: quality))
        }
        print("wrote \(chosen.count) \(columns)x\(rows) grey \(format.rawValue) images of Fashion-MNIST's 10 classes "
              + "(\(taken.map(String.init).joined(separator: "/")) a class) to \(root)")
    }
}

/// An IDX file's dimensions and data (unsigned bytes), read from gzip.
func readIDX(_ path: String, magic: Int, dimensions: Int) throws -> (shape: [Int], bytes: [UInt8]) {
    let data = try gunzip(path)
    func word(_ i: Int) -> Int { data[(4 * i)..<(4 * i + 4)].reduce(0) { $0 << 8 | Int($1) } }
    guard data.count >= 4 * (1 + dimensions), word(0) == magic else {
        throw ToolError("\(path) is not an IDX file of \(dimensions) dimension(s) (magic \(magic))")
    }
    let shape = (1...dimensions).map(word)
    let count = shape.reduce(1, *), start = 4 * (1 + dimensions)
    guard data.count - start == count else {
        throw ToolError("\(path): the header says \(shape.map(String.init).joined(separator: "x")) = \(count) bytes, the file has \(data.count - start)")
    }
    return (shape, Array(data[start...]))
}

/// The decompressed contents of the gzip file at `path`; a missing file names the Debian package.
func gunzip(_ path: String) throws -> [UInt8] {
    guard access(path, R_OK) == 0 else {
        throw ToolError("cannot read \(path): \(systemError()). Fashion-MNIST comes from Debian's "
                        + "package: apt-get install dataset-fashion-mnist (or pass --source DIR)")
    }
    guard let file = gzopen(path, "rb") else { throw ToolError("cannot open \(path)") }
    defer { gzclose(file) }
    var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = gzread(file, &chunk, UInt32(chunk.count))
        if n < 0 {
            var code: Int32 = 0
            throw ToolError("\(path): corrupt gzip data: \(String(cString: gzerror(file, &code)))")
        }
        if n == 0 { return out }
        out += chunk[0..<Int(n)]
    }
}
