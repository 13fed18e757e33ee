// MARK: - Where each image goes: class folders, split folders, or MiniImageNet's CSV split files
//
// classes: DIR/CLASS/NAME
// splits:  DIR/train|val|test/CLASS/NAME
// csv:     DIR/images/NAME, and DIR/train.csv, val.csv, test.csv with the header `filename,label`:
//          the format of Ravi & Larochelle's MiniImageNet split (n0153282900000005.jpg,n01532829).
// Splits take whole classes, in order: 64% train, 16% val, the rest test (64/16/20 of 100).

import ArgumentParser

enum Layout: String, ExpressibleByArgument, CaseIterable {
    case classes, splits, csv
}

/// The three splits' class counts for `classes` classes: val and test get 16% and 20% (rounded,
/// at least one each), train the rest (at least one).
func splitCounts(classes: Int) throws -> (train: Int, val: Int, test: Int) {
    guard classes >= 3 else { throw ToolError("splitting into train, val and test needs at least 3 classes, got \(classes)") }
    let val = max(1, Int((Double(classes) * 0.16).rounded())), test = max(1, Int((Double(classes) * 0.20).rounded()))
    return (classes - val - test, val, test)
}

let splitNames = ["train", "val", "test"]

/// The tree's shape: which split each class is in, and each file's folder.
struct TreePlan {
    var root: String, layout: Layout, classNames: [String]
    /// The split of each class (nil for the plain class layout).
    var split: [String?]

    init(root: String, layout: Layout, classNames: [String]) throws {
        self.root = root; self.layout = layout; self.classNames = classNames
        if layout == .classes {
            split = Array(repeating: nil, count: classNames.count)
        } else {
            let (train, val, _) = try splitCounts(classes: classNames.count)
            split = classNames.indices.map { $0 < train ? "train" : $0 < train + val ? "val" : "test" }
        }
    }

    /// The folder holding class `c`'s files.
    func folder(ofClass c: Int) -> String {
        switch layout {
        case .classes: "\(root)/\(classNames[c])"
        case .splits: "\(root)/\(split[c]!)/\(classNames[c])"
        case .csv: "\(root)/images"
        }
    }

    /// Creates every folder the files need.
    func makeFolders() throws {
        for folder in Set(classNames.indices.map(folder(ofClass:))).sorted() { try makeFolder(folder) }
    }

    /// For the csv layout, writes train.csv, val.csv and test.csv listing `files[c]` (class c's file names).
    func writeSplitFiles(_ files: [[String]]) throws {
        guard layout == .csv else { return }
        for name in splitNames {
            var text = "filename,label\n"
            for c in classNames.indices where split[c] == name {
                for file in files[c] { text += "\(file),\(classNames[c])\n" }
            }
            try writeNewFile("\(root)/\(name).csv", Array(text.utf8))
        }
    }
}

/// `value` in decimal, zero-padded to `width` digits.
func padded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
