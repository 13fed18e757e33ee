// MARK: - libFuzzer target: the checkpoint reader and what resuming does with a checkpoint
//
// Built by Tests/fuzz/fuzz.sh (the package in Tests/fuzz, with -enable-testing so the harness's
// @testable import reaches the internal decoder); the harness, Tests/MAMLCoreTests/FuzzHarness.swift,
// is shared with the normal test suite (FuzzRegressionTests, InputMutationTests). Every
// input is read twice: as it is, and "repaired" (total-length field and CRC-32 recomputed)
// so mutations reach the header JSON, the counts and the arrays instead of stopping at the
// checksum (exerciseCheckpoint says what is done with it). A thrown error is fine; a crash,
// trap or sanitizer report is a finding.

import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    _ = exerciseCheckpoint(bytes)
    _ = exerciseCheckpoint(repairedCheckpoint(bytes))
    return 0
}

/// With MAML_FUZZ_SEED_DIR set, writes the valid seed checkpoints there first.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let dir = getenv("MAML_FUZZ_SEED_DIR").map({ String(cString: $0) }) else { return 0 }
    for seed in try! seedCheckpoints() {
        let file = fopen(dir + "/seed-" + seed.name + ".mamlckpt", "wb")!
        _ = seed.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    return 0
}
