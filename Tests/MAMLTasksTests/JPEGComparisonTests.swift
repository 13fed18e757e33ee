// MARK: - Our JPEG decoder against the pixels before encoding, and against Pillow's decoder
//
// Fixtures/jpeg/make.py wrote a textured 40x24 image losslessly (textured*-source.png), its JPEGs,
// and Pillow's decoding of them (textured*-pillow.png). The source comparison is independent of
// every JPEG codec but only bounds the error; the Pillow one is exact but Pillow bundles its own
// build of libjpeg-turbo, the same lineage as ours, so it pins values rather than proving them.

import Testing
import MAMLTasks

/// Mean and largest absolute difference of two equally long byte arrays.
func absoluteErrors(_ a: [UInt8], _ b: [UInt8]) -> (mean: Double, max: Int) {
    precondition(a.count == b.count && !a.isEmpty)
    let d = zip(a, b).map { abs(Int($0) - Int($1)) }
    return (Double(d.reduce(0, +)) / Double(d.count), d.max()!)
}

@Suite struct JPEGComparisonTests {
    func pair(_ jpeg: String, _ png: String, channels: Int) throws -> (ours: Image8, expected: Image8) {
        let ours = try readImage(path: fixturePath("jpeg/" + jpeg), channels: channels)
        let expected = try readImage(path: fixturePath("jpeg/" + png), channels: channels)
        #expect(ours.width == 40 && ours.height == 24 && expected.width == 40 && expected.height == 24)
        return (ours, expected)
    }

    @Test("within JPEG's error of the pixels before encoding: 4:4:4 colour at quality 95, grey at 90")
    func againstSource() throws {
        // Pillow's own decoding errs by mean 2.65 / max 15 (colour) and 2.03 / 10 (grey) here; a wrong
        // colour matrix, swapped channels or a shifted row would be tens.
        let colour = try pair("textured-444.jpg", "textured-source.png", channels: 3)
        let c = absoluteErrors(colour.ours.pixels, colour.expected.pixels)
        #expect(c.mean < 3.5 && c.max <= 24, "\(c)")
        let grey = try pair("textured-grey.jpg", "textured-grey-source.png", channels: 1)
        let g = absoluteErrors(grey.ours.pixels, grey.expected.pixels)
        #expect(g.mean < 3 && g.max <= 16, "\(g)")
    }

    @Test("the same pixels as Pillow's decoder, to 1 level: 4:2:0 colour (chroma upsampling) and grey",
          arguments: [("textured.jpg", "textured-pillow.png", 3), ("textured-grey.jpg", "textured-grey-pillow.png", 1)])
    func againstPillow(jpeg: String, png: String, channels: Int) throws {
        let (ours, pillow) = try pair(jpeg, png, channels: channels)
        let e = absoluteErrors(ours.pixels, pillow.pixels)
        #expect(e.max <= 1 && e.mean < 0.05, "\(jpeg): \(e)")
    }
}
