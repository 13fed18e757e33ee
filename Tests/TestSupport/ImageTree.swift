// MARK: - Image trees for the image-folder tests (PNGs from PNGTestWriter, no codec library)

import Foundation

/// Image trees for the tests: class c's images are a class colour with an image-specific pattern.
public enum ImageTree {
    public static func scratch(_ name: String) -> String {
        (try? Scratch.directory("imagefolder-" + name)) ?? Scratch.root + "/imagefolder-" + name
    }

    /// RGBA pixels of image `i` of class `c` (`side` square, or `width` x `height`).
    public static func pixels(c: Int, i: Int, width: Int, height: Int) -> [UInt8] {
        var out: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let stripe = ((x + y * (c % 3 + 1) + i) / 2) % 2 == 0
                out += [UInt8((c * 53 + (stripe ? 40 : 0)) % 256), UInt8((c * 97 + i * 7) % 256),
                        UInt8((c * 31 + x * 5) % 256), 255]
            }
        }
        return out
    }

    /// Writes `classes` x `perClass` PNGs: `DIR/cNN/iNN.png` (classes), `DIR/SPLIT/cNN/...` (splits:
    /// the first half train, then a quarter each), or `DIR/images/cNN_iNN.png` plus CSVs (csv).
    @discardableResult
    public static func write(_ root: String, classes: Int, perClass: Int, side: Int = 10,
                      layout: String = "classes", sizes: [(Int, Int)]? = nil) throws -> [String] {
        var files: [String] = []
        var csv: [String: [String]] = ["train": ["filename,label"], "val": ["filename,label"], "test": ["filename,label"]]
        for c in 0..<classes {
            let split = c < classes / 2 ? "train" : c < classes * 3 / 4 ? "val" : "test"
            for i in 0..<perClass {
                let (w, h) = sizes.map { $0[(c + i) % $0.count] } ?? (side, side)
                let relative: String
                switch layout {
                case "splits": relative = "\(split)/c\(c)/i\(i).png"
                case "csv": relative = "images/c\(c)_i\(i).png"; csv[split]!.append("c\(c)_i\(i).png,n\(c)")
                default: relative = String(format: "c%02d/i%02d.png", c, i)
                }
                let path = root + "/" + relative
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
                try PNGTestWriter.write(PNGTestWriter.rgba8(width: w, height: h, rgba: pixels(c: c, i: i, width: w, height: h)), to: path)
                files.append(relative)
            }
        }
        if layout == "csv" {
            for (split, lines) in csv { try (lines.joined(separator: "\n") + "\n").write(toFile: root + "/\(split).csv", atomically: true, encoding: .utf8) }
        }
        return files
    }
}
