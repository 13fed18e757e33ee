// MARK: - image-tree synthetic: a tree of generated classes

import ArgumentParser
import Foundation
import MAMLTasks

struct Synthetic: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generated images: each class a shape, two colours and a stripe texture, each image varied.",
        discussion: "Class names are n00000000, n00000001, ...; file names the class and an 8-digit index "
            + "(n0000000300000005.jpg), as MiniImageNet's. The same seed writes the same tree.")

    @OptionGroup var output: OutputOptions
    @Option(help: "Number of classes.") var classes: Int
    @Option(name: .customLong("per-class"), help: "Images per class.") var perClass: Int
    @Option(help: "Width and height in pixels.") var size: Int
    @Option(help: "1 (grey) or 3 (RGB).") var channels = 3
    @Option(help: "Seed of the classes and images.") var seed: UInt64 = 0
    @Option(help: "classes: DIR/CLASS/; splits: DIR/train|val|test/CLASS/; csv: DIR/images/ with train.csv, val.csv, test.csv (64/16/20% of the classes).")
    var layout: Layout = .classes

    func validate() throws {
        guard classes >= 1 else { throw ValidationError("--classes must be at least 1, got \(classes)") }
        guard perClass >= 1 else { throw ValidationError("--per-class must be at least 1, got \(perClass)") }
        guard (8...4096).contains(size) else { throw ValidationError("--size must be 8 to 4096, got \(size)") }
        guard channels == 1 || channels == 3 else { throw ValidationError("--channels must be 1 or 3, got \(channels)") }
        if layout != .classes {
            do { _ = try splitCounts(classes: classes) } catch { throw ValidationError("--layout \(layout.rawValue): \(error)") }
        }
    }

    func run() throws {
        let start = Date()
        let names = (0..<classes).map(className)
        let plan = try TreePlan(root: output.out, layout: layout, classNames: names)
        try makeOutputFolder(output.out)
        try plan.makeFolders()
        let (perClass, size, channels, seed, format, quality) = (perClass, size, channels, seed, output.format, output.quality)
        let styles = (0..<classes).map { ClassStyle(seed: seed, classIndex: $0) }
        try forEachInParallel(classes * perClass) { i in
            let c = i / perClass, k = i % perClass
            let image = syntheticImage(styles[c], seed: seed, classIndex: c, index: k, size: size, channels: channels)
            try writeNewFile(plan.folder(ofClass: c) + "/" + imageName(c, k, format), try format.encode(image, quality: quality))
        }
        try plan.writeSplitFiles((0..<classes).map { c in (0..<perClass).map { imageName(c, $0, format) } })
        print("wrote \(classes * perClass) \(size)x\(size) \(channels == 1 ? "grey" : "RGB") \(format.rawValue) images "
              + "(\(classes) classes, layout \(layout.rawValue)) to \(output.out) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}

/// Class c's name: n and 8 digits, like an ImageNet synset id.
func className(_ c: Int) -> String { "n" + padded(c, 8) }

/// Image k of class c's file name: the class and 8 digits, as MiniImageNet's (n0153282900000005.jpg).
func imageName(_ c: Int, _ k: Int, _ format: ImageFormat) -> String { className(c) + padded(k, 8) + "." + format.rawValue }
