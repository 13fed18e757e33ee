// MARK: - libFuzzer target: the plugin scan cache file and the scanner child's report line
//
// Built by Tests/fuzz/fuzz.sh (the package in Tests/fuzz); the harness, exerciseScanCache, is
// shared with the normal test suite (Tests/MAMLHostTests/ScanCacheFuzzHarness.swift). Each input
// is written as a cache file in $MAML_FUZZ_SCRATCH (fuzz.sh makes one on /dev/shm when it can:
// saving the cache fsyncs) and read, looked up, saved and read back as PluginCatalog does.
// A thrown error or an ignored file is fine; a crash, trap, sanitizer report or broken promise
// is a finding.

import Foundation
import Glibc

/// The scratch directory of this process.
let scanCacheScratch: String = {
    let base = getenv("MAML_FUZZ_SCRATCH").map { String(cString: $0) } ?? NSTemporaryDirectory()
    let root = base + "/scancache-\(getpid())"
    try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    return root
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScanCache(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    if let problem = exerciseScanCache(Array(UnsafeBufferPointer(start: data, count: count)), in: scanCacheScratch) {
        fatalError(problem)
    }
    return 0
}

/// With MAML_FUZZ_SEED_DIR set, writes the valid seed caches (made by ScanCache.save) there first.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let dir = getenv("MAML_FUZZ_SEED_DIR").map({ String(cString: $0) }) else { return 0 }
    for seed in try! seedScanCaches(in: scanCacheScratch) {
        _ = FileManager.default.createFile(atPath: dir + "/seed-" + seed.name + ".json", contents: Data(seed.bytes))
    }
    return 0
}
