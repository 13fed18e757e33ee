// MARK: - image-tree, the test tool that writes class folders of images

import Foundation
import Testing
import MAMLTasks

@Suite struct ImageTreeTests {
    func imageTree(_ arguments: [String]) throws -> Run { try mamlHost(arguments, program: "image-tree") }

    func files(_ path: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    @Test("synthetic: the three layouts, reproducible from the seed, classes told apart by their pixels")
    func synthetic() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["synthetic", "--classes", "5", "--per-class", "3", "--size", "20", "--seed", "4"]
        for layout in ["classes", "splits", "csv"] {
            let run = try imageTree(common + ["--out", "\(dir)/\(layout)", "--layout", layout])
            #expect(run.status == 0 && run.stdout.hasPrefix("wrote 15 20x20 RGB jpg images"), "\(run.stderr)")
        }
        #expect(try files("\(dir)/classes") == (0..<5).map { "n0000000\($0)" })
        #expect(try files("\(dir)/classes/n00000003") == (0..<3).map { "n00000003" + "0000000\($0).jpg" })
        // 5 classes: 1 val (16%), 1 test (20%), 3 train.
        #expect(try files("\(dir)/splits") == ["test", "train", "val"])
        #expect(try files("\(dir)/splits/train") == ["n00000000", "n00000001", "n00000002"])
        #expect(try files("\(dir)/splits/test") == ["n00000004"])
        #expect(try files("\(dir)/csv").contains("images") && files("\(dir)/csv/images").count == 15)
        let val = try String(contentsOfFile: "\(dir)/csv/val.csv", encoding: .utf8)
        #expect(val == "filename,label\n" + (0..<3).map { "n00000003" + "0000000\($0).jpg,n00000003\n" }.joined())
        // The same seed writes the same bytes, whatever the layout.
        let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/classes/n00000004/n0000000400000002.jpg"))
        #expect(a == (try Data(contentsOf: URL(fileURLWithPath: "\(dir)/splits/test/n00000004/n0000000400000002.jpg"))))
        // Each class has its own colours: the mean colours of two classes' images are far apart.
        func meanColour(_ c: Int) throws -> [Double] {
            let image = try readImage(path: "\(dir)/classes/n0000000\(c)/n0000000\(c)" + "00000000.jpg", channels: 3)
            return (0..<3).map { k in Double(stride(from: k, to: image.pixels.count, by: 3).map { Int(image.pixels[$0]) }.reduce(0, +)) / 400 }
        }
        let m0 = try meanColour(0), m1 = try meanColour(1)
        #expect(zip(m0, m1).map { abs($0 - $1) }.max()! > 10, "\(m0) \(m1)")
        let grey = try imageTree(["synthetic", "--classes", "2", "--per-class", "1", "--size", "9", "--channels", "1",
                                  "--format", "png", "--out", "\(dir)/grey"])
        #expect(grey.status == 0)
        #expect(try readImage(path: "\(dir)/grey/n00000001/n0000000100000000.png", channels: 1).width == 9)
    }

    @Test("synthetic and fashion-mnist refuse bad options and used folders with a reason and a non-zero status")
    func refusals() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data([1]).write(to: URL(fileURLWithPath: "\(dir)/taken"))
        let cases: [([String], String)] = [
            (["synthetic", "--out", dir, "--classes", "2", "--per-class", "1", "--size", "8"], "is not empty"),
            (["synthetic", "--out", "\(dir)/x", "--classes", "2", "--per-class", "1", "--size", "8", "--layout", "csv"],
             "needs at least 3 classes, got 2"),
            (["synthetic", "--out", "\(dir)/x", "--classes", "2", "--per-class", "1", "--size", "8", "--channels", "2"],
             "--channels must be 1 or 3, got 2"),
            (["synthetic", "--out", "\(dir)/x", "--classes", "2", "--per-class", "1", "--size", "8", "--quality", "0"],
             "--quality must be 1 to 100, got 0"),
            (["fashion-mnist", "--out", "\(dir)/x", "--source", "\(dir)/none"], "apt-get install dataset-fashion-mnist"),
        ]
        for (arguments, words) in cases {
            let run = try imageTree(arguments)
            #expect(run.status != 0 && run.stderr.contains(words), "\(arguments): \(run.stderr)")
        }
    }

    @Test("fashion-mnist: Debian's training set as ten named class folders of 28x28 grey images",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"),
                   "needs Debian's dataset-fashion-mnist (.ci/setup installs it)"))
    func fashionMNIST() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try imageTree(["fashion-mnist", "--out", "\(dir)/fm", "--per-class", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try files("\(dir)/fm") == ["Ankle_boot", "Bag", "Coat", "Dress", "Pullover", "Sandal", "Shirt", "Sneaker", "T-shirt_top", "Trouser"])
        // The training file's first two labels are 9 and 0 (ankle boot, T-shirt).
        #expect(try files("\(dir)/fm/Ankle_boot").first == "00000000.jpg" && files("\(dir)/fm/T-shirt_top").first == "00000001.jpg")
        let image = try readImage(path: "\(dir)/fm/Ankle_boot/00000000.jpg", channels: 1)
        #expect(image.width == 28 && image.height == 28 && image.pixels.contains { $0 > 200 })
    }
}
