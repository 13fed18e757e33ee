// MARK: - Loading the Omniglot images from disk
//
// Expected layout (the Omniglot repository's python/images_background.zip and
// images_evaluation.zip, unzipped side by side):
//   DATA/images_background/ALPHABET/CHARACTER/*.png   (964 characters)
//   DATA/images_evaluation/ALPHABET/CHARACTER/*.png   (659 characters)
// 105x105 grayscale, black strokes on white, 20 drawings per character.
//
// Characters are listed background first, then evaluation; alphabets, characters
// and image files each sorted by name (Swift String order: byte order for the
// ASCII names Omniglot uses). Hidden entries (".DS_Store") are skipped; any
// other entry must be a folder at the alphabet and character levels and a
// readable PNG at the image level, else loading fails naming it. Every image is
// decoded once, inverted (ink 1, paper 0) and area-averaged to size x size.

import MAMLCore
import Foundation   // FileManager, Date (loading only; never on the hot path)

/// The decoded images of an Omniglot folder, one class per character.
public struct OmniglotData: Sendable {
    /// "images_background/ALPHABET/CHARACTER" for each character, in load order.
    public let characters: [String]
    /// Image side after resizing.
    public let size: Int
    /// All images, size * size floats each (ink 1, paper 0), character by character.
    public let images: [Float]
    /// Images of character c: firstImage[c] ..< firstImage[c + 1].
    public let firstImage: [Int]
    /// Width and height of the source images (all the same).
    public let sourceWidth: Int, sourceHeight: Int
    /// Wall-clock seconds the load took.
    public let loadSeconds: Double

    /// Number of images of character `c`.
    public func imageCount(_ c: Int) -> Int { firstImage[c + 1] - firstImage[c] }

    /// The two top-level folders of the standard layout.
    public static let parts = ["images_background", "images_evaluation"]

    static func layoutHint(_ data: String) -> String {
        "expected \(data)/images_background/ALPHABET/CHARACTER/*.png and "
            + "\(data)/images_evaluation/ALPHABET/CHARACTER/*.png (Omniglot's images_background.zip and "
            + "images_evaluation.zip unzipped into \(data))"
    }

    /// Loads and resizes every image under `data` (see the file comment); errors name the offending path.
    public init(data: String, size: Int) throws(MAMLError) {
        let start = Date()
        let fm = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var dir: ObjCBool = false
            return fm.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
        }
        func entries(_ path: String) throws(MAMLError) -> [String] {
            let listing: DirectoryListing
            do { listing = try DirectoryListing(path: path) } catch {
                throw .invalidConfig("omniglot: cannot list folder \(path): \(error.reason)")
            }
            if let shown = listing.notUTF8.first(where: { !$0.hasPrefix(".") }) {
                throw .invalidConfig("omniglot: \(path)/\(shown): the name is not valid UTF-8; rename it")
            }
            return listing.names.filter { !$0.hasPrefix(".") }.sorted()
        }
        func bad(_ message: String) -> MAMLError { .invalidConfig("omniglot: \(message)") }

        guard isDirectory(data) else {
            throw bad("data folder \(data) does not exist or is not a folder; \(Self.layoutHint(data))")
        }
        // The character folders, in load order.
        var characters: [String] = []
        for part in Self.parts {
            let partPath = data + "/" + part
            guard isDirectory(partPath) else {
                throw bad("folder \(partPath) is missing; \(Self.layoutHint(data))")
            }
            let alphabets = try entries(partPath)
            guard !alphabets.isEmpty else { throw bad("folder \(partPath) has no alphabet folders; \(Self.layoutHint(data))") }
            for alphabet in alphabets {
                let alphabetPath = partPath + "/" + alphabet
                guard isDirectory(alphabetPath) else {
                    throw bad("\(alphabetPath) is a file where an alphabet folder was expected; \(Self.layoutHint(data))")
                }
                let chars = try entries(alphabetPath)
                guard !chars.isEmpty else { throw bad("alphabet folder \(alphabetPath) has no character folders") }
                for ch in chars {
                    guard isDirectory(alphabetPath + "/" + ch) else {
                        throw bad("\(alphabetPath)/\(ch) is a file where a character folder was expected; "
                            + Self.layoutHint(data))
                    }
                    characters.append(part + "/" + alphabet + "/" + ch)
                }
            }
        }

        // Decode, check sizes, resize, invert.
        var images: [Float] = []
        var firstImage = [0]
        var sourceSize: (w: Int, h: Int, file: String)? = nil
        for ch in characters {
            let folder = data + "/" + ch
            let files = try entries(folder)
            guard !files.isEmpty else { throw bad("character folder \(folder) has no images") }
            for file in files {
                let path = folder + "/" + file
                let image: GrayImage
                do { image = try readGrayPNG(path: path) } catch { throw bad(error.description) }
                if let s = sourceSize {
                    guard image.width == s.w, image.height == s.h else {
                        throw bad("\(path) is \(image.width)x\(image.height) but \(s.file) is \(s.w)x\(s.h); "
                            + "all images must have the same size")
                    }
                } else {
                    sourceSize = (image.width, image.height, path)
                    images.reserveCapacity(characters.count * 20 * size * size)
                }
                for v in resizeByAreaAveraging(image, to: size) { images.append(1 - v) }
            }
            firstImage.append(images.count / (size * size))
        }
        self.characters = characters; self.size = size
        self.images = images; self.firstImage = firstImage
        sourceWidth = sourceSize?.w ?? 0; sourceHeight = sourceSize?.h ?? 0
        loadSeconds = Date().timeIntervalSince(start)
    }
}
