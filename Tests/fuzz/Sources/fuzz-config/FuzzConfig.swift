// MARK: - libFuzzer target: the config JSON readers
//
// Built by Tests/fuzz/fuzz.sh (the package in Tests/fuzz); the two harness files are shared with
// the normal test suite (JSONMutationTests, FuzzRegressionTests, InputMutationTests).
// One input is read by every reader a user's JSON config reaches:
//   - exerciseJSON (Tests/MAMLSchemaTests/JSONFuzzHarness.swift): JSONValue.parse
//     (--config, --task-config, plugin schemas) with its print-and-read-back property,
//     ConfigSchema on the input as a schema and as a config;
//   - exerciseTaskConfig (Tests/MAMLCoreTests/FuzzHarness.swift): makeTaskFamily for every
//     family that does not read files, TrainerConfig decoding and validation.
// A thrown error is fine; a crash, trap, sanitizer report or broken round trip is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    if let problem = exerciseJSON(text) { fatalError(problem) }
    _ = exerciseTaskConfig(text)
    return 0
}
