// MARK: - Encoding JPEG and PNG (test data for image-tree): round trips and refusals

import Foundation
import Testing
import MAMLTasks

@Suite struct JPEGEncodingTests {
    /// A smooth image with some edges: gradients, a soft ring, a few sharp bars.
    func sample(channels: Int, width: Int = 64, height: Int = 48) -> Image8 {
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                let r = ((x - 40) * (x - 40) + (y - 20) * (y - 20))
                let ring = r > 80 && r < 160 ? 70 : 0, bar = x % 16 < 2 ? 50 : 0
                let rgb = [min(255, 3 * x + ring), min(255, 4 * y + bar), (2 * x + 3 * y) % 200 + 30]
                for c in 0..<channels { pixels[(y * width + x) * channels + c] = UInt8(channels == 1 ? (rgb[0] + rgb[1]) / 2 : rgb[c]) }
            }
        }
        return Image8(width: width, height: height, channels: channels, pixels: pixels)
    }

    @Test("encode then decode is close at quality 95 and worse but near at 50; grey stays grey", arguments: [1, 3])
    func roundTrip(channels: Int) throws {
        let image = sample(channels: channels)
        // 4:4:4 for the bound: 4:2:0 halves the colour resolution, which the sharp coloured bars feel (mean 3.8).
        let good = try encodeJPEG(image, quality: 95, subsampleChroma: false), poor = try encodeJPEG(image, quality: 50)
        #expect(good.starts(with: [0xFF, 0xD8, 0xFF]) && good.suffix(2) == [0xFF, 0xD9])
        #expect(poor.count < good.count)
        let back = try decodeJPEG(good, channels: channels)
        #expect(back.width == 64 && back.height == 48 && back.channels == channels)
        let e95 = absoluteErrors(back.pixels, image.pixels)
        let e50 = absoluteErrors(try decodeJPEG(poor, channels: channels).pixels, image.pixels)
        let subsampled = absoluteErrors(try decodeJPEG(try encodeJPEG(image, quality: 95), channels: channels).pixels, image.pixels)
        #expect(e95.mean < 2, "\(e95)")
        #expect(subsampled.mean < 5, "\(subsampled)")
        #expect(e50.mean > e95.mean && e50.mean < 8, "\(e50)")
        // The same pixels encode to the same bytes (image-tree's trees are reproducible).
        #expect(try encodeJPEG(image, quality: 95, subsampleChroma: false) == good)
    }

    @Test("odd sizes down to 1x1 encode and decode")
    func oddSizes() throws {
        for (w, h) in [(1, 1), (17, 3), (3, 33)] {
            let image = Image8(width: w, height: h, channels: 3, pixels: (0..<(w * h * 3)).map { UInt8($0 * 7 % 256) })
            let back = try decodeJPEG(try encodeJPEG(image, quality: 90), channels: 3)
            #expect(back.width == w && back.height == h)
        }
    }

    @Test("PNG encoding is lossless, grey and RGB", arguments: [1, 3])
    func pngRoundTrip(channels: Int) throws {
        let image = sample(channels: channels, width: 37, height: 5)
        let path = NSTemporaryDirectory() + "maml-png-encode-\(getpid())-\(channels).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(try encodePNG(image)).write(to: URL(fileURLWithPath: path))
        #expect(try readImage(path: path, channels: channels) == image)
    }

    @Test("bad channels, sizes and qualities are refused with a reason")
    func refusals() {
        let grey = Image8(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])
        let cases: [(Image8, Int, String)] = [
            (Image8(width: 2, height: 2, channels: 2, pixels: [UInt8](repeating: 0, count: 8)), 90, "channels must be 1 or 3, got 2"),
            (Image8(width: 2, height: 2, channels: 1, pixels: [1, 2, 3]), 90, "a 2x2x1 image needs 4 bytes, it has 3"),
            (Image8(width: 0, height: 2, channels: 1, pixels: []), 90, "a 0x2x1 image needs 0 bytes, it has 0"),
            (Image8(width: 70000, height: 1, channels: 1, pixels: [UInt8](repeating: 0, count: 70000)), 90,
             "a JPEG is 1 to 65500 pixels on a side, not 70000x1"),
            (grey, 0, "quality must be 1 to 100, got 0"),
            (grey, 101, "quality must be 1 to 100, got 101"),
        ]
        for (image, quality, message) in cases {
            #expect { _ = try encodeJPEG(image, quality: quality) } throws: { "\($0)" == message }
        }
        #expect { _ = try encodePNG(cases[0].0) } throws: { "\($0)" == "channels must be 1 or 3, got 2" }
    }
}
