// MARK: - glyphs: an Omniglot-like procedural image family
//
// `classes` glyph classes (GlyphStrokes.swift), split like Omniglot's 1623
// characters: with the default 1623 classes, 1200 train / 100 validation / 323
// test (ClassSplits.omniglotProportions for other counts). N-way K-shot tasks
// (ClassificationTasks.swift) whose examples are rendered on the fly
// (GlyphRenderer.swift): the class control points are computed once at
// construction (56 floats per class); rendering is cheap enough that caching
// images would only cost memory (see the measured rate in the tests' report).
//
// Config: {"ways": 5, "classes": 1623, "size": 28, "seed": 0}; input [1, size, size],
// output [ways], softmax cross-entropy.

import MAMLCore

/// The glyphs family's configuration.
public struct GlyphConfig: Sendable, Equatable {
    /// Classes per task (N).
    public var ways: Int = 5
    /// Glyph classes in all (train + validation + test), at least 3 * ways.
    public var classes: Int = 1623
    /// Image side in pixels (8...128).
    public var size: Int = 28
    /// Seed of the glyph classes (the alphabet), not of the tasks.
    public var seed: UInt64 = 0
    /// Scale of the within-class variation (GlyphRenderer.swift): 0 renders every example of a
    /// class identically, 1 is the calibrated default.
    public var distortion: Float = 1

    public init(ways: Int = 5, classes: Int = 1623, size: Int = 28, seed: UInt64 = 0, distortion: Float = 1) {
        self.ways = ways; self.classes = classes; self.size = size; self.seed = seed; self.distortion = distortion
    }

    static let keys = ["ways", "classes", "size", "seed", "distortion"]

    /// Throws `.invalidConfig` naming the bad key, its value and what is expected.
    public func validate() throws(MAMLError) {
        guard (2...1000).contains(ways) else { throw .invalidConfig("glyphs \"ways\" = \(ways), expected 2...1000") }
        guard (3 * ways...100_000).contains(classes) else {
            throw .invalidConfig("glyphs \"classes\" = \(classes), expected \(3 * ways)...100000 "
                + "(at least 3 * ways, so every split has \(ways) classes)")
        }
        guard (8...128).contains(size) else { throw .invalidConfig("glyphs \"size\" = \(size), expected 8...128") }
        guard distortion.isFinite, (0...2).contains(distortion) else {
            throw .invalidConfig("glyphs \"distortion\" = \(distortion), expected a number in 0...2")
        }
    }

    /// The config from its JSON object; a missing key keeps the default.
    init(json object: JSONObject) throws(FamilyConfigError) {
        let r = try FamilyConfigReader(object, family: "glyphs", known: Self.keys)
        ways = try r.int("ways", default: 5, in: 2...1000)
        classes = try r.int("classes", default: 1623, in: 1...100_000)
        guard classes >= 3 * ways else {
            throw r.error("classes", "= \(classes), expected at least 3 * ways = \(3 * ways) so every split has \(ways) classes")
        }
        size = try r.int("size", default: 28, in: 8...128)
        seed = try r.value("seed", expected: "an integer in 0...2^64-1") { $0.uint64Value } ?? 0
        distortion = try r.value("distortion", expected: "a number in 0...2") { $0.floatValue } ?? 1
        guard distortion.isFinite, (0...2).contains(distortion) else {
            throw r.error("distortion", "= \(distortion), expected a number in 0...2")
        }
    }

    /// The config as JSON text: every key, sorted, no spaces (the family's configJSON, which
    /// checkpoints record: these bytes must not change), e.g.
    /// {"classes":1623,"distortion":1,"seed":0,"size":28,"ways":5}.
    var configJSON: String {
        JSONValue.object(JSONObject([
            ("ways", JSONValue(integer: ways)), ("classes", JSONValue(integer: classes)),
            ("size", JSONValue(integer: size)), ("seed", JSONValue(integer: seed)),
            ("distortion", JSONValue(shortest: distortion)),
        ])).serialized(.compact, sortedKeys: true)
    }
}

/// Omniglot-like N-way K-shot image classification on procedurally generated glyphs.
public struct GlyphTasks: SquareImageClassification {
    public let config: GlyphConfig
    /// The classes' control points.
    public let alphabet: GlyphAlphabet
    /// Class ids of the train, validation and test pools.
    public let splits: ClassSplits

    /// The family for `config` (validated); builds the alphabet (fast: about a microsecond per class).
    public init(config: GlyphConfig = GlyphConfig()) throws(MAMLError) {
        try config.validate()
        self.config = config
        alphabet = GlyphAlphabet(classes: config.classes, seed: config.seed)
        splits = .omniglotProportions(classes: config.classes, ways: config.ways)
    }

    // MARK: TaskFamily

    public var name: String { "glyphs" }
    public var configJSON: String { config.configJSON }
    public var imageSize: Int { config.size }
    public var ways: Int { config.ways }

    // MARK: ClassExampleSource

    public func classPool(_ split: TaskSplit) -> Range<Int> { splits.range(split) }
    public var storedExamplesPerClass: Int? { nil }
    public func writeExample(classID: Int, example: Int, rng: inout RandomGenerator, into x: UnsafeMutablePointer<Float>) {
        alphabet.renderExample(classID: classID, size: config.size, distortion: config.distortion, rng: &rng, into: x)
    }
}
