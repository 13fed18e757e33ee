// MARK: - Writing the tree: the output folder, file formats, files written in parallel

import Dispatch
import Foundation
import MAMLTasks
import Synchronization
import ArgumentParser

/// A failure with a reason for the user (ArgumentParser prints "Error: ..." and exits 1).
struct ToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum ImageFormat: String, ExpressibleByArgument, CaseIterable {
    case jpg, png

    func encode(_ image: Image8, quality: Int) throws -> [UInt8] {
        switch self {
        case .jpg: try encodeJPEG(image, quality: quality)
        case .png: try encodePNG(image)
        }
    }
}

/// Options every command shares.
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The folder to create (new, or empty).", valueName: "DIR")) var out: String
    @Option(help: "File format.") var format: ImageFormat = .jpg
    @Option(help: "JPEG quality, 1 to 100.") var quality = 90

    func validate() throws {
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1 to 100, got \(quality)") }
    }
}

/// Creates `path` and its parents; refuses a folder that already has files in it, so that two
/// trees are never mixed.
func makeOutputFolder(_ path: String) throws {
    let files = FileManager.default
    var isFolder: ObjCBool = false
    if files.fileExists(atPath: path, isDirectory: &isFolder) {
        guard isFolder.boolValue else { throw ToolError("\(path) exists and is not a folder") }
        guard (try? files.contentsOfDirectory(atPath: path))?.isEmpty ?? false else {
            throw ToolError("\(path) is not empty: image-tree writes only into a new or empty folder")
        }
    }
    try makeFolder(path)
}

func makeFolder(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw ToolError("cannot create \(path): \(error.localizedDescription)")
    }
}

/// The C library's reason for the last failed call.
func systemError() -> String { String(cString: strerror(errno)) }

/// Writes `bytes` to a new file at `path` (never over an existing one).
func writeNewFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw ToolError("cannot create \(path): \(systemError())") }
    defer { close(fd) }
    var done = 0
    try bytes.withUnsafeBytes { raw in
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            guard n > 0 else { throw ToolError("cannot write \(path): \(systemError())") }
            done += n
        }
    }
}

/// Runs `body(i)` for i in 0..<count on every core, 64 items at a time from a shared counter; the
/// first error (by index) is thrown once all threads have finished. Each item must depend only on
/// its index, so the result is the same whatever the order. (Threads of our own: on Linux
/// DispatchQueue.concurrentPerform from the main thread ran everything on one core here.)
func forEachInParallel(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    final class Shared: Sendable {
        let next = Mutex(0)
        let failure = Mutex<(index: Int, error: any Error)?>(nil)
    }
    let shared = Shared(), chunk = 64
    let work: @Sendable () -> Void = {
        while true {
            let start = shared.next.withLock { n in defer { n += chunk }; return n }
            guard start < count else { return }
            for i in start..<min(count, start + chunk) {
                do { try body(i) } catch {
                    shared.failure.withLock { if $0 == nil || i < $0!.index { $0 = (i, error) } }
                    break
                }
            }
        }
    }
    let helpers = max(0, ProcessInfo.processInfo.activeProcessorCount - 1)
    let done = DispatchSemaphore(value: 0)
    for _ in 0..<helpers { Thread.detachNewThread { work(); done.signal() } }
    work()
    for _ in 0..<helpers { done.wait() }
    if let (_, error) = shared.failure.withLock({ $0 }) { throw error }
}
