// MARK: - Where the committed fixtures are (Fixtures/, made by the make.py scripts there)

import Foundation

/// The path of `name` (e.g. "jpeg/rgb.jpg") under this test target's Fixtures folder.
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name).path
}
