// MARK: - glyph-rows: the glyphs family read row by row, for recurrent backbones
//
// Exactly the glyphs family's tasks (same config, classes, splits, images and draw
// order; GlyphTasks.swift), but each image is a sequence of `size` rows of `size`
// pixels: input [size, size] (step t is row t) instead of [1, size, size]. The floats
// are identical, so a task drawn from glyph-rows with a seed equals the glyphs task.

/// N-way K-shot glyph classification with images as row sequences.
import MAMLCore
public struct GlyphRowTasks: TaskFamily, ClassExampleSource {
    /// The image family whose examples these are.
    public let images: GlyphTasks

    public init(config: GlyphConfig = GlyphConfig()) throws(MAMLError) {
        images = try GlyphTasks(config: config)
    }

    public var name: String { "glyph-rows" }
    public var configJSON: String { images.configJSON }
    public var inputShape: [Int] { [images.imageSize, images.imageSize] }
    public var outputShape: [Int] { images.outputShape }
    public var lossKind: LossKind { .softmaxCrossEntropy }
    public func exampleCount(shots: Int) -> Int { images.exampleCount(shots: shots) }
    public func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                       rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        try NWayKShot(ways: images.ways).sample(from: self, family: name, split: split, supportShots: supportShots,
                                                queryShots: queryShots, rng: &rng, into: task)
    }

    // MARK: ClassExampleSource (the images')

    public var exampleElements: Int { images.exampleElements }
    public func classPool(_ split: TaskSplit) -> Range<Int> { images.classPool(split) }
    public var storedExamplesPerClass: Int? { nil }
    public func writeExample(classID: Int, example: Int, rng: inout RandomGenerator, into x: UnsafeMutablePointer<Float>) {
        images.writeExample(classID: classID, example: example, rng: &rng, into: x)
    }
}
