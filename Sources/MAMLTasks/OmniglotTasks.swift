// MARK: - omniglot: N-way K-shot tasks on the real Omniglot images
//
// Split (the MAML paper's protocol, reproducible): the characters in load order
// (OmniglotData.swift) are shuffled by Fisher-Yates with
// RandomGenerator(seed: OmniglotTasks.splitSeed), i from the last index down to
// 1 swapping with int(below: i + 1); the first `train_classes` (1200) characters
// of the shuffled list are the train pool, the next `validation_classes` (100)
// the validation pool, the rest (323 of Omniglot's 1623) the test pool.
// With "augment_rotations" (default true, as in the MAML paper) every train
// character also gives three more classes, its drawings rotated by 90, 180 and
// 270 degrees (counter-clockwise): train class id r * trainCharacters + i is
// train character i rotated r quarter turns. Validation and test are not rotated.
// Rotated copies are made when a task is drawn (a quarter turn is a strided copy),
// so memory holds each drawing once: 1623 * 20 * 784 floats ~ 100 MB at 28x28.
//
// Config: {"data": "PATH", "ways": 5, "size": 28, "augment_rotations": true,
//          "train_classes": 1200, "validation_classes": 100}

import MAMLCore

/// The omniglot family's configuration.
public struct OmniglotConfig: Sendable, Equatable {
    /// The folder holding images_background and images_evaluation.
    public var data: String
    public var ways: Int = 5
    /// Image side after area-averaging (8...128).
    public var size: Int = 28
    /// Add 90/180/270-degree rotated copies of the train characters as new classes.
    public var augmentRotations: Bool = true
    /// Characters in the train and validation pools (the test pool gets the rest).
    public var trainClasses: Int = 1200
    public var validationClasses: Int = 100

    public init(data: String, ways: Int = 5, size: Int = 28, augmentRotations: Bool = true,
                trainClasses: Int = 1200, validationClasses: Int = 100) {
        self.data = data; self.ways = ways; self.size = size; self.augmentRotations = augmentRotations
        self.trainClasses = trainClasses; self.validationClasses = validationClasses
    }

    /// The config from its JSON object; a missing key keeps the default ("data" is required).
    init(json object: JSONObject) throws(FamilyConfigError) {
        let r = try FamilyConfigReader(object, family: "omniglot", known: ["data", "ways", "size", "augment_rotations",
                                                                         "train_classes", "validation_classes"])
        guard let data = try r.value("data", expected: "a folder path (string)", { $0.stringValue }), !data.isEmpty else {
            throw r.error("data", "is required: the folder holding images_background and images_evaluation")
        }
        self.data = data
        ways = try r.int("ways", default: 5, in: 2...1000)
        size = try r.int("size", default: 28, in: 8...128)
        augmentRotations = try r.value("augment_rotations", expected: "true or false") { $0.boolValue } ?? true
        trainClasses = try r.int("train_classes", default: 1200, in: 1...1_000_000)
        validationClasses = try r.int("validation_classes", default: 100, in: 1...1_000_000)
    }

    /// The config as JSON text: every key, sorted, no spaces (the family's configJSON, which
    /// checkpoints record: these bytes must not change).
    var configJSON: String {
        JSONValue.object(JSONObject([
            ("data", .string(data)), ("ways", JSONValue(integer: ways)), ("size", JSONValue(integer: size)),
            ("augment_rotations", .bool(augmentRotations)), ("train_classes", JSONValue(integer: trainClasses)),
            ("validation_classes", JSONValue(integer: validationClasses)),
        ])).serialized(.compact, sortedKeys: true)
    }

    /// Throws `.invalidConfig` naming the bad key (the checks that do not need the data).
    public func validate() throws(MAMLError) {
        guard !data.isEmpty else { throw .invalidConfig("omniglot \"data\" is required") }
        guard (2...1000).contains(ways) else { throw .invalidConfig("omniglot \"ways\" = \(ways), expected 2...1000") }
        guard (8...128).contains(size) else { throw .invalidConfig("omniglot \"size\" = \(size), expected 8...128") }
        guard trainClasses >= ways else {
            throw .invalidConfig("omniglot \"train_classes\" = \(trainClasses), expected at least ways = \(ways)")
        }
        guard validationClasses >= ways else {
            throw .invalidConfig("omniglot \"validation_classes\" = \(validationClasses), expected at least ways = \(ways)")
        }
    }
}

/// N-way K-shot classification on Omniglot characters loaded from disk.
public struct OmniglotTasks: SquareImageClassification {
    /// Seed of the character shuffle that defines the split (fixed: the split is part of the benchmark).
    public static let splitSeed: UInt64 = 1

    public let config: OmniglotConfig
    public let data: OmniglotData
    /// Class ids of the train (rotations included), validation and test pools.
    public let splits: ClassSplits
    /// Character index of each class id, and its rotation in quarter turns.
    public let classCharacter: [Int]
    public let classRotation: [UInt8]
    private let minImagesPerCharacter: Int

    /// Loads every image under `config.data` (several seconds for the full dataset) and builds the split.
    public init(config: OmniglotConfig) throws(MAMLError) {
        try config.validate()
        let data = try OmniglotData(data: config.data, size: config.size)
        try self.init(config: config, data: data)
    }

    /// The family on already loaded data (several configs can share one load).
    public init(config: OmniglotConfig, data: OmniglotData) throws(MAMLError) {
        try config.validate()
        guard data.size == config.size else {
            throw .invalidConfig("omniglot: data resized to \(data.size), config \"size\" = \(config.size)")
        }
        let count = data.characters.count
        let testClasses = count - config.trainClasses - config.validationClasses
        guard testClasses >= config.ways else {
            throw .invalidConfig("omniglot: \(config.data) has \(count) characters; \"train_classes\" = "
                + "\(config.trainClasses) and \"validation_classes\" = \(config.validationClasses) leave "
                + "\(max(testClasses, 0)) for the test split, \(config.ways)-way tasks need at least \(config.ways)")
        }
        self.config = config; self.data = data

        var order = Array(0..<count)
        var rng = RandomGenerator(seed: Self.splitSeed)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        let train = Array(order[0..<config.trainClasses])
        let rest = order[config.trainClasses...]
        let rotations = config.augmentRotations ? 4 : 1
        var character: [Int] = [], rotation: [UInt8] = []
        for r in 0..<rotations {
            character += train; rotation += [UInt8](repeating: UInt8(r), count: train.count)
        }
        character += rest; rotation += [UInt8](repeating: 0, count: rest.count)
        classCharacter = character; classRotation = rotation
        splits = ClassSplits(train: train.count * rotations, validation: config.validationClasses, test: testClasses)
        minImagesPerCharacter = (0..<count).map(data.imageCount).min() ?? 0
    }

    /// The characters (as "images_background/ALPHABET/CHARACTER") of a split, unrotated, in pool order.
    public func characters(of split: TaskSplit) -> [String] {
        splits.range(split).filter { classRotation[$0] == 0 }.map { data.characters[classCharacter[$0]] }
    }

    // MARK: TaskFamily

    public var name: String { "omniglot" }
    public var configJSON: String { config.configJSON }
    public var imageSize: Int { config.size }
    public var ways: Int { config.ways }

    // MARK: ClassExampleSource

    public func classPool(_ split: TaskSplit) -> Range<Int> { splits.range(split) }
    /// The fewest drawings any character has (20 for Omniglot); tasks use at most this many per class.
    public var storedExamplesPerClass: Int? { minImagesPerCharacter }
    public func storedExampleCount(classID: Int) -> Int? { data.imageCount(classCharacter[classID]) }
    public func className(_ classID: Int) -> String {
        let turns = Int(classRotation[classID])
        return "character \(data.characters[classCharacter[classID]])" + (turns == 0 ? "" : " rotated \(turns * 90) degrees")
    }
    public func writeExample(classID: Int, example: Int, rng: inout RandomGenerator, into x: UnsafeMutablePointer<Float>) {
        let d = exampleElements
        let image = data.firstImage[classCharacter[classID]] + example
        data.images.withUnsafeBufferPointer { all in
            copyRotated(all.baseAddress! + image * d, size: config.size,
                        quarterTurns: Int(classRotation[classID]), into: x)
        }
    }
}
