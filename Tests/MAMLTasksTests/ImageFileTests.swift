// MARK: - Image files of either format, and area-weighted resizing

import Foundation
import Testing
import MAMLTasks

@Suite struct ImageFileTests {
    func fixture(_ name: String) -> String { fixturePath(name) }

    @Test("PNGs of every kind read to 8-bit RGB or grey; transparency becomes white; the format is sniffed, not named")
    func formats() throws {
        let rgb = try readImage(path: fixture("png/rgb.png"), channels: 3)
        #expect(rgb.width == 32 && rgb.height == 16 && Array(rgb.pixel(x: 8, y: 8)) == [200, 40, 40])
        let palette = try readImage(path: fixture("png/palette-alpha.png"), channels: 3)
        #expect(Array(palette.pixel(x: 24, y: 8)) == [255, 255, 255])            // transparent: white
        #expect(palette.pixel(x: 8, y: 8).allSatisfy { $0 < 255 })
        let grey16 = try readImage(path: fixture("png/grey16.png"), channels: 1)
        // libpng's simplified API takes 16-bit samples as linear light and writes 8-bit sRGB:
        // 30000 / 65535 = 0.458 linear is 0.707 encoded, 180.
        #expect(grey16.channels == 1 && abs(Int(grey16.pixel(x: 1, y: 1).first!) - 180) <= 1, "\(Array(grey16.pixel(x: 1, y: 1)))")
        let misnamed = try readImage(path: fixture("png/jpeg-named.png"), channels: 3)   // a JPEG under a .png name
        #expect(abs(Int(misnamed.pixel(x: 24, y: 8).last!) - 220) <= 3)
    }

    @Test("unreadable, non-image, oversized and non-regular files are refused naming the path")
    func refusals() throws {
        let cases: [(String, Int, String)] = [
            (fixture("jpeg/not-a-jpeg.jpg"), 1 << 20, "not a JPEG or PNG image"),
            (fixture("jpeg/truncated.jpg"), 1 << 20, "corrupt or truncated JPEG"),
            (fixture("png/rgb.png"), 10, "more than the 10 an image may have"),
            (fixture("png"), 1 << 20, "not a regular file"),
            (fixture("png/missing.png"), 1 << 20, "cannot open: No such file or directory"),
        ]
        for (path, limit, words) in cases {
            #expect { _ = try readImage(path: path, channels: 3, maxBytes: limit) }
                throws: { "\($0)".hasPrefix(path + ": ") && "\($0)".contains(words) }
        }
    }

    @Test("area resizing averages exactly when shrinking, keeps solid regions, and is channel-major")
    func resizing() {
        // 4x2 grey: columns 0-1 are 0 and 255 alternately, columns 2-3 are 100: halving averages pairs.
        let image = Image8(width: 4, height: 2, channels: 1, pixels: [0, 255, 100, 100, 255, 0, 100, 100])
        let half = resizeArea(image, to: 2)
        #expect(half.count == 4)
        #expect(abs(half[0] - 127.5 / 255) < 1e-6 && abs(half[1] - 100 / 255) < 1e-6)
        // 3 -> 2 covers 1.5 pixels per output: weights 1 and 0.5.
        let three = Image8(width: 3, height: 1, channels: 1, pixels: [0, 90, 255])
        let two = resizeArea(Image8(width: 3, height: 3, channels: 1, pixels: three.pixels + three.pixels + three.pixels), to: 2)
        #expect(abs(two[0] - Float((0 + 0.5 * 90) / 1.5 / 255)) < 1e-6)
        #expect(abs(two[1] - Float((0.5 * 90 + 255) / 1.5 / 255)) < 1e-6)
        // RGB: channel-major output.
        let rgb = Image8(width: 2, height: 2, channels: 3, pixels: [Array](repeating: [10, 20, 30], count: 4).flatMap { $0 })
        #expect(resizeArea(rgb, to: 1).map { ($0 * 255).rounded() } == [10, 20, 30])
        // Enlarging a solid image keeps it solid.
        #expect(resizeArea(Image8(width: 1, height: 1, channels: 1, pixels: [51]), to: 3).allSatisfy { abs($0 - 0.2) < 1e-6 })
    }
}
