// MARK: - JPEG decoding: grey, RGB, progressive, CMYK; corrupt files refused by name

import Foundation
import Testing
import MAMLTasks

@Suite struct JPEGTests {
    /// Fixtures made by Fixtures/jpeg/make.py: two solid 16x16 blocks, (200, 40, 40) and (30, 90, 220).
    func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("jpeg/" + name))))
    }

    func close(_ got: ArraySlice<UInt8>, _ want: [Int], within tolerance: Int = 3) -> Bool {
        zip(got, want).allSatisfy { abs(Int($0) - $1) <= tolerance } && got.count == want.count
    }

    @Test("baseline, progressive and CMYK JPEGs decode to the same RGB; grey ones expand", arguments: ["rgb.jpg", "progressive.jpg", "cmyk.jpg"])
    func colour(file: String) throws {
        let image = try decodeJPEG(try fixture(file), channels: 3, name: file)
        #expect(image.width == 32 && image.height == 16 && image.channels == 3 && image.pixels.count == 32 * 16 * 3)
        #expect(close(image.pixel(x: 8, y: 8), [200, 40, 40]), "\(file): \(Array(image.pixel(x: 8, y: 8)))")
        #expect(close(image.pixel(x: 24, y: 8), [30, 90, 220]), "\(file): \(Array(image.pixel(x: 24, y: 8)))")
    }

    @Test("grey output: a grey JPEG as is, a colour one by BT.601 luma; a grey one expands to RGB")
    func grey() throws {
        for file in ["grey.jpg", "rgb.jpg"] {
            let image = try decodeJPEG(try fixture(file), channels: 1, name: file)
            #expect(image.channels == 1 && image.pixels.count == 32 * 16)
            #expect(close(image.pixel(x: 8, y: 8), [88]) && close(image.pixel(x: 24, y: 8), [87]), "\(file)")
        }
        let expanded = try decodeJPEG(try fixture("grey.jpg"), channels: 3)
        #expect(close(expanded.pixel(x: 8, y: 8), [88, 88, 88]))
    }

    @Test("truncated, non-JPEG and oversized files are refused naming the file, without crashing")
    func refusals() throws {
        for (file, words) in [("truncated.jpg", "corrupt or truncated JPEG"), ("not-a-jpeg.jpg", "corrupt or truncated JPEG")] {
            #expect { _ = try decodeJPEG(try fixture(file), channels: 3, name: file) }
                throws: { "\($0)".hasPrefix(file + ": ") && "\($0)".contains(words) }
        }
        #expect { _ = try decodeJPEG(try fixture("rgb.jpg"), channels: 3, name: "big.jpg", maxSide: 20) }
            throws: { "\($0)" == "big.jpg: JPEG is 32x16, more than 20 pixels on a side" }
        #expect { _ = try decodeJPEG([], channels: 3, name: "empty.jpg") } throws: { "\($0)".hasPrefix("empty.jpg: ") }
        #expect { _ = try decodeJPEG(try fixture("rgb.jpg"), channels: 2, name: "x") } throws: { "\($0)".contains("channels must be 1 or 3") }
    }
}
