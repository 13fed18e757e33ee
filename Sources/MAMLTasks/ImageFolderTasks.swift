// MARK: - image-folder: N-way K-shot tasks on the user's own images
//
// The data (ImageFolderListing.swift for the layouts, ImageFolderData.swift for decoding and
// the cache) gives classes of 8-bit CHW images. Class pools:
//   - splits and csv layouts: the folders or CSV files say which split each class is in;
//   - classes layout: the classes in listing order are shuffled by Fisher-Yates with
//     RandomGenerator(seed: split_seed) (i from the last index down to 1 swapping with
//     int(below: i + 1), as for omniglot); the first train_classes are the train pool, the
//     next validation_classes the validation pool, the next test_classes the test pool.
//     Defaults (MiniImageNet's 64/16/20): validation max(ways, 16%), test max(ways, 20%) (or
//     the rest when train_classes is given), train the rest; percentages rounded.
// Augmentation, train pool only: "augment_rotations" adds each train class rotated by 90, 180
// and 270 degrees as three more classes (train class id r * T + i is class i turned r times,
// as omniglot); "augment_flips" mirrors each drawn train example left-right with probability
// 1/2 (one draw from the class's generator per example).
// An example is written as x[c][i][j] = (byte / 255 - mean[c]) / std[c]; mean and std are per
// channel, by default those of the train pool's stored pixels ("normalize": "train"), or 0 and 1
// ("none"), or given ("mean", "std"). The resolved values are recorded in the config, so a
// checkpoint is evaluated with the normalisation it was trained with.
//
// Config: {"data": "PATH", "layout": "auto", "ways": 5, "size": 84, "channels": 3,
//          "train_classes": ..., "validation_classes": ..., "test_classes": ..., "split_seed": 1,
//          "normalize": "train", "mean": [...], "std": [...], "augment_flips": false,
//          "augment_rotations": false, "fingerprint": "..."}

import MAMLCore
import MAMLSchema

/// The image-folder family's configuration (see the file comment).
public struct ImageFolderConfig: Sendable, Equatable {
    public var data: String
    public var layout: ImageFolderLayout = .auto
    public var ways = 5, size = 84, channels = 3
    /// Pool sizes for the classes layout (nil: the defaults).
    public var trainClasses: Int?, validationClasses: Int?, testClasses: Int?
    public var splitSeed: UInt64 = 1
    /// Per-channel normalisation; nil: computed ("normalize": "train") or 0/1 ("none").
    public var mean: [Float]?, std: [Float]?
    public var normalizeNone = false
    public var augmentFlips = false, augmentRotations = false
    /// The content fingerprint the data must have (recorded by training; nil: any).
    public var fingerprint: String?

    public init(data: String) { self.data = data }

    static let keys = ["data", "layout", "ways", "size", "channels", "train_classes", "validation_classes",
                       "test_classes", "split_seed", "normalize", "mean", "std", "augment_flips",
                       "augment_rotations", "fingerprint"]

    init(json object: JSONObject) throws(FamilyConfigError) {
        let r = try FamilyConfigReader(object, family: "image-folder", known: Self.keys)
        guard let data = try r.value("data", expected: "a folder path (string)", { $0.stringValue }), !data.isEmpty else {
            throw r.error("data", "is required: the folder holding the images (docs/datasets.md)")
        }
        self.data = data
        if let name = try r.value("layout", expected: "a string", { $0.stringValue }) {
            guard let l = ImageFolderLayout(rawValue: name) else {
                throw r.error("layout", "= \"\(name)\", expected one of \(ImageFolderLayout.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            layout = l
        }
        ways = try r.int("ways", default: 5, in: 2...1000)
        size = try r.int("size", default: 84, in: 8...512)
        channels = try r.int("channels", default: 3, in: 1...3)
        guard channels != 2 else { throw r.error("channels", "= 2, expected 1 (grey) or 3 (RGB)") }
        func optionalInt(_ key: String) throws(FamilyConfigError) -> Int? {
            object[key] == nil ? nil : try r.int(key, default: 0, in: 1...10_000_000)
        }
        trainClasses = try optionalInt("train_classes")
        validationClasses = try optionalInt("validation_classes")
        testClasses = try optionalInt("test_classes")
        if let seed = try r.value("split_seed", expected: "a non-negative integer", { $0.uint64Value }) { splitSeed = seed }
        if let mode = try r.value("normalize", expected: "\"train\" or \"none\"", { $0.stringValue }) {
            guard mode == "train" || mode == "none" else { throw r.error("normalize", "= \"\(mode)\", expected \"train\" or \"none\"") }
            normalizeNone = mode == "none"
        }
        mean = try r.value("mean", expected: "an array of numbers, one per channel", FamilyConfigReader.floats)
        std = try r.value("std", expected: "an array of numbers, one per channel", FamilyConfigReader.floats)
        guard (mean == nil) == (std == nil) else {
            throw r.error(mean == nil ? "std" : "mean", "needs \(mean == nil ? "\"mean\"" : "\"std\"") too")
        }
        if let mean, let std {
            guard object["normalize"] == nil else { throw r.error("normalize", "cannot be combined with \"mean\" and \"std\"") }
            guard mean.count == channels, std.count == channels else {
                throw r.error("mean", "and \"std\" need \(channels) values (one per channel), got \(mean.count) and \(std.count)")
            }
            guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw r.error("std", "must be positive and \"mean\" finite, got mean \(mean), std \(std)")
            }
        }
        augmentFlips = try r.value("augment_flips", expected: "true or false") { $0.boolValue } ?? false
        augmentRotations = try r.value("augment_rotations", expected: "true or false") { $0.boolValue } ?? false
        fingerprint = try r.value("fingerprint", expected: "64 hex digits (a string)") { v in
            v.stringValue.flatMap { $0.count == 64 && $0.allSatisfy(\.isHexDigit) ? $0 : nil }
        }
    }
}

/// N-way K-shot classification on the images of a folder (see the file comment).
public struct ImageFolderTasks: SquareImageClassification {
    public let config: ImageFolderConfig
    public let data: ImageFolderData
    public let splits: ClassSplits
    /// For each class id: the data's class index, and its rotation in quarter turns.
    public let classSource: [Int]
    public let classRotation: [UInt8]
    /// Resolved per-channel normalisation.
    public let mean: [Float], std: [Float]
    /// What loading found, for the user (ImageFolderData.notes and the split).
    public let loadNotes: [String]
    private let fewestImages: Int
    /// Per channel, the float each byte value becomes.
    private let table: [Float]

    /// Loads `config.data` (decoding it, or mapping its cache in `cacheDirectory`) and builds the pools.
    public init(config: ImageFolderConfig,
                cacheDirectory: String? = ImageFolderData.defaultCacheDirectory()) throws(MAMLError) {
        let data = try ImageFolderData(data: config.data, layout: config.layout, size: config.size,
                                       channels: config.channels, cacheDirectory: cacheDirectory)
        try self.init(config: config, data: data)
    }

    /// The family on already loaded data.
    public init(config: ImageFolderConfig, data: ImageFolderData) throws(MAMLError) {
        guard data.size == config.size, data.channels == config.channels else {
            throw imageFolderError("data decoded at \(data.channels)x\(data.size)x\(data.size), "
                + "config asks for \(config.channels)x\(config.size)x\(config.size)")
        }
        if let expected = config.fingerprint, expected != data.fingerprint {
            throw imageFolderError("\(config.data) holds other images than the ones recorded (fingerprint "
                + "\(data.fingerprint.prefix(12))..., recorded \(expected.prefix(12))...): files were added, removed "
                + "or changed, or this is another folder (eval --allow-other-data evaluates on it anyway)")
        }
        var notes = data.notes
        let n = data.classes.count, ways = config.ways

        // The pools, as class indices of the data.
        var pools: [[Int]]
        if data.classes.allSatisfy({ $0.split != nil }) {
            for (key, value) in [("train_classes", config.trainClasses), ("validation_classes", config.validationClasses),
                                 ("test_classes", config.testClasses)] where value != nil {
                throw imageFolderError("\"\(key)\" applies to the classes layout; \(config.data) says which split each class is in (\(data.layout.rawValue) layout)")
            }
            pools = TaskSplit.allCases.map { split in (0..<n).filter { data.classes[$0].split == split } }
        } else {
            let validation = config.validationClasses ?? max(ways, (n * 16 + 50) / 100)
            let test = config.testClasses
                ?? (config.trainClasses.map { n - $0 - validation } ?? max(ways, (n * 20 + 50) / 100))
            let train = config.trainClasses ?? (n - validation - test)
            guard n >= 3 * ways else {
                throw imageFolderError("\(config.data) has \(n) classes; train, validation and test pools of at least "
                    + "\(ways) classes each (\(ways)-way tasks) need \(3 * ways)")
            }
            guard train + validation + test <= n, min(train, validation, test) >= 0 else {
                throw imageFolderError("\(config.data) has \(n) classes; \"train_classes\" = \(train), \"validation_classes\" = "
                    + "\(validation) and \"test_classes\" = \(test) need \(train + validation + max(test, 0))")
            }
            var order = Array(0..<n)
            var rng = RandomGenerator(seed: config.splitSeed)
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
            pools = [Array(order[0..<train]), Array(order[train..<(train + validation)]),
                     Array(order[(train + validation)..<(train + validation + test)])]
            if train + validation + test < n {
                notes.append("\(n - train - validation - test) of the \(n) classes are in no split")
            }
        }
        for (split, pool) in zip(TaskSplit.allCases, pools) where pool.count < ways {
            throw imageFolderError("the \(split.rawValue) split of \(config.data) has \(pool.count) classes, "
                + "\(ways)-way tasks need at least \(ways)"
                + (data.classes.allSatisfy({ $0.split != nil }) ? "" : " (set \"train_classes\", \"validation_classes\", \"test_classes\")"))
        }
        let rotations = config.augmentRotations ? 4 : 1
        var source: [Int] = [], rotation: [UInt8] = []
        for r in 0..<rotations { source += pools[0]; rotation += [UInt8](repeating: UInt8(r), count: pools[0].count) }
        source += pools[1] + pools[2]
        rotation += [UInt8](repeating: 0, count: pools[1].count + pools[2].count)
        classSource = source; classRotation = rotation
        splits = ClassSplits(train: pools[0].count * rotations, validation: pools[1].count, test: pools[2].count)
        fewestImages = (pools[0] + pools[1] + pools[2]).map { data.classes[$0].imageCount }.min() ?? 0

        // Normalisation: given, none, or the train pool's statistics.
        if let m = config.mean, let s = config.std { (mean, std) = (m, s) }
        else if config.normalizeNone { (mean, std) = (Array(repeating: 0, count: config.channels), Array(repeating: 1, count: config.channels)) }
        else {
            let pixels = Double(pools[0].reduce(0) { $0 + data.classes[$1].imageCount } * config.size * config.size)
            var m: [Float] = [], s: [Float] = []
            for k in 0..<config.channels {
                let sum = pools[0].reduce(0.0) { $0 + data.classes[$1].sums[k] }
                let squares = pools[0].reduce(0.0) { $0 + data.classes[$1].squares[k] }
                let mu = sum / pixels / 255, variance = max(0, squares / pixels / (255 * 255) - mu * mu)
                m.append(Float(mu)); s.append(Float(max(variance.squareRoot(), 1.0 / 255)))   // a constant channel: no 0 division
            }
            (mean, std) = (m, s)
        }
        var table: [Float] = []
        for k in 0..<config.channels { for v in 0..<256 { table.append((Float(v) / 255 - mean[k]) / std[k]) } }
        self.table = table
        self.config = config; self.data = data; loadNotes = notes
    }

    // MARK: TaskFamily

    public var name: String { "image-folder" }
    public var imageSize: Int { config.size }
    public var channels: Int { config.channels }
    public var ways: Int { config.ways }

    /// Every setting resolved (layout, pool sizes, normalisation, the data's fingerprint), sorted, compact:
    /// checkpoints record it, and the family rebuilt from it checks the data is the same.
    public var configJSON: String {
        var members: [(String, JSONValue)] = [
            ("data", .string(data.absoluteData)), ("layout", .string(data.layout.rawValue)), ("ways", JSONValue(integer: ways)),
            ("size", JSONValue(integer: config.size)), ("channels", JSONValue(integer: config.channels)),
            ("mean", .array(mean.map { JSONValue(shortest: $0) })), ("std", .array(std.map { JSONValue(shortest: $0) })),
            ("augment_flips", .bool(config.augmentFlips)), ("augment_rotations", .bool(config.augmentRotations)),
            ("fingerprint", .string(data.fingerprint)),
        ]
        if data.classes.contains(where: { $0.split == nil }) {
            members += [("train_classes", JSONValue(integer: splits.train / (config.augmentRotations ? 4 : 1))),
                        ("validation_classes", JSONValue(integer: splits.validation)),
                        ("test_classes", JSONValue(integer: splits.test)),
                        ("split_seed", JSONValue(integer: config.splitSeed))]
        }
        return JSONValue.object(JSONObject(members)).serialized(.compact, sortedKeys: true)
    }

    // MARK: ClassExampleSource

    public func classPool(_ split: TaskSplit) -> Range<Int> { splits.range(split) }
    public var storedExamplesPerClass: Int? { fewestImages }
    public func storedExampleCount(classID: Int) -> Int? { data.classes[classSource[classID]].imageCount }
    public func className(_ classID: Int) -> String {
        let turns = classRotation[classID]
        return "class \"\(data.classes[classSource[classID]].name)\"" + (turns == 0 ? "" : " rotated \(Int(turns) * 90) degrees")
    }

    public func writeExample(classID: Int, example: Int, rng: inout RandomGenerator, into x: UnsafeMutablePointer<Float>) {
        let c = classSource[classID]
        let src = data.image(data.firstImage[c] + example)
        let n = config.size, plane = n * n
        let flip = config.augmentFlips && classID < splits.train && rng.next() & 1 == 1
        let turns = Int(classRotation[classID])
        table.withUnsafeBufferPointer { lut in
            for k in 0..<config.channels {
                let s = src + k * plane, d = x + k * plane, t = lut.baseAddress! + k * 256
                if !flip && turns == 0 {
                    for p in 0..<plane { d[p] = t[Int(s[p])] }
                    continue
                }
                for i in 0..<n {
                    for j in 0..<n {
                        // Source pixel of destination (i, j): rotate counter-clockwise (as copyRotated), then mirror.
                        let jj = flip ? n - 1 - j : j
                        let (si, sj): (Int, Int)
                        switch turns {
                        case 0: (si, sj) = (i, jj)
                        case 1: (si, sj) = (jj, n - 1 - i)
                        case 2: (si, sj) = (n - 1 - i, n - 1 - jj)
                        default: (si, sj) = (n - 1 - jj, i)
                        }
                        d[i * n + j] = t[Int(s[si * n + sj])]
                    }
                }
            }
        }
    }
}
