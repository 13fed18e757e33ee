import Testing
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Slow tests and the fast loop
//
// `.slow` marks a test or suite that takes more than a few seconds on 2 cores
// (end-to-end runs of the real binary, finite-difference sweeps, builds of example
// plugins). With MAML_TEST_FAST=1 they are skipped, which is the fast loop; CI and
// the README's test command run everything (docs/architecture.md):
//   swift build --build-tests && MAML_TEST_FAST=1 swift test --disable-xctest --skip-build
// (A condition rather than a tag: Swift 6.3's `swift test` cannot skip by tag.)

/// True when MAML_TEST_FAST is set to anything but "0" or "".
public let fastLoop: Bool = {
    guard let value = getenv("MAML_TEST_FAST") else { return false }
    let text = String(cString: value)
    return !text.isEmpty && text != "0"
}()

extension Trait where Self == ConditionTrait {
    /// Skipped in the fast loop (MAML_TEST_FAST=1); CI runs it.
    public static var slow: Self { .disabled(if: fastLoop, "slow: MAML_TEST_FAST skips it") }
}
