// MARK: - libFuzzer target: the PNG decoder and the Omniglot image loader
//
// Built by Tests/fuzz/fuzz.sh (the package in Tests/fuzz); the harness, exercisePNG, is shared
// with the normal test suite (Tests/MAMLTasksTests/PNGFuzzHarness.swift). Each input is
// written as the image file of a scratch Omniglot folder in $MAML_FUZZ_SCRATCH (fuzz.sh makes
// one on /dev/shm when it can, and removes it) and read by readGrayPNG and by OmniglotData.
// A thrown error is fine; a crash, trap, sanitizer report or broken promise is a finding.

import Foundation
import Glibc

/// The scratch Omniglot folder of this process.
let pngScratch: PNGFuzzScratch = {
    let base = getenv("MAML_FUZZ_SCRATCH").map { String(cString: $0) } ?? NSTemporaryDirectory()
    let root = base + "/png-\(getpid())"
    try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    return try! PNGFuzzScratch(root: root)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    if let problem = exercisePNG(Array(UnsafeBufferPointer(start: data, count: count)), in: pngScratch) {
        fatalError(problem)
    }
    return 0
}
