import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport

// MARK: - Building the C fixture plugins at test time
//
// Every plugin the host tests load is compiled here from Fixtures/*.c with the
// system C compiler, once per test process, into a folder of its scratch folder (Scratch).
// No cc means the tests fail with a message saying so (the CI machine has gcc).

/// Where the repository and the fixture sources are.
enum FixturePaths {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Fixtures file -> MAMLHostTests -> Tests -> root
        return url.path
    }()
    static let includeDirectory = repositoryRoot + "/Sources/MAMLPluginABI/include"
    static let sourceDirectory = repositoryRoot + "/Tests/MAMLHostTests/Fixtures"
}

/// Why the fixtures could not be built; thrown into every test that needs them.
struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// The plugins of the corpus directory: file name, -D flags. All but libgood.so carry a tag
/// so their ids do not collide; libdupa/libdupb share one on purpose.
let corpusVariants: [(file: String, flags: [String])] = [
    ("libgood.so", []),
    ("libnoentry.so", ["-DFX_NO_ENTRY", tag("-noentry")]),
    ("libnull.so", ["-DFX_ENTRY_NULL", tag("-null")]),
    ("libabi2.so", ["-DFX_ABI_MAJOR=2", "-DFX_ABI_MINOR=0", tag("-abi2")]),
    ("libminor.so", ["-DFX_REQUIRES_MINOR=2", tag("-minor")]),
    // A plugin of ABI 1.0 (registry minor 0, no maml.vjp/1): loads on this 1.1 host.
    ("libv10.so", ["-DFX_ABI_MINOR=0", tag("-v10")]),
    ("libshortreg.so", ["-DFX_SHORT_REGISTRY", tag("-shortreg")]),
    ("libswift59.so", ["-DFX_BUILT_WITH=\"swift-5.9\"", tag("-swift59")]),
    ("libnullfn.so", ["-DFX_NULL_LOSS_GRAD", tag("-nullfn")]),
    ("libemptyname.so", ["-DFX_EMPTY_NAME", tag("-emptyname")]),
    ("libbadschema.so", ["-DFX_BAD_SCHEMA", tag("-badschema")]),
    ("libselfdup.so", ["-DFX_SELF_DUP", tag("-selfdup")]),
    ("libdupa.so", [tag("-dup")]),
    ("libdupb.so", [tag("-dup")]),
    ("libnan.so", ["-DFX_NAN", tag("-nan")]),
    ("libfail.so", ["-DFX_FAIL", tag("-fail")]),
    ("libbadlayout.so", ["-DFX_BAD_LAYOUT", tag("-badlayout")]),
    ("libbadshape.so", ["-DFX_BAD_SHAPE", tag("-badshape")]),
    ("libbadloss.so", ["-DFX_BAD_LOSS", tag("-badloss")]),
    ("libshorthvp.so", ["-DFX_SHORT_HVP", tag("-shorthvp")]),
    ("libnoext.so", ["-DFX_NO_EXT", tag("-noext")]),
]

/// Deliberately broken plugins for `maml-host check`: file, -D flags, the checks that must fail
/// (the first is the one that tests the bug; a sum instead of a mean also makes forward's loss
/// disagree).
let brokenVariants: [(file: String, flags: [String], failingChecks: [String])] = [
    ("libgradsign.so", ["-DFX_GRAD_SIGN", tag("-gradsign")], ["gradient"]),
    ("libgradscale.so", ["-DFX_GRAD_SCALE", tag("-gradscale")], ["gradient"]),
    ("libgradscale2.so", ["-DFX_GRAD_SCALE", "-DFX_GRAD_FACTOR=1.02f", tag("-gradscale2")], ["gradient"]),
    ("libhvpwrong.so", ["-DFX_HVP_WRONG", tag("-hvpwrong")], ["hvp"]),
    ("libvjpwrong.so", ["-DFX_VJP_WRONG", tag("-vjpwrong")], ["vjp"]),
    ("libnondet.so", ["-DFX_NONDET_INIT", tag("-nondet")], ["init-seed"]),
    ("libpastgrad.so", ["-DFX_WRITE_PAST_GRAD", tag("-pastgrad")], ["buffers"]),
    ("libcrashgrad.so", ["-DFX_CRASH_LOSS_GRAD", tag("-crashgrad")], ["loss-finite"]),
    ("libabortgrad.so", ["-DFX_ABORT_LOSS_GRAD", tag("-abortgrad")], ["loss-finite"]),
    ("libsumloss.so", ["-DFX_SUM_LOSS", tag("-sumloss")], ["batch-duplication", "forward-loss"]),
    ("libforwardoff.so", ["-DFX_FORWARD_OFF", tag("-forwardoff")], ["forward-loss"]),
    ("libhangcreate.so", ["-DFX_HANG_CREATE", tag("-hang")], ["create-defaults"]),
    ("libnomessage.so", ["-DFX_NO_MESSAGE", tag("-nomessage")], ["last-error"]),
]

/// The ReLU model of Fixtures/kinked_plugin.c, whose random HVP directions all cross kinks:
/// file, -D flags, and for the broken ones what the hvp check's failure must say.
let kinkedVariants: [(file: String, flags: [String], failure: String?)] = [
    ("libkinked.so", [], nil),
    ("libkinkedhidden.so", ["-DFX_HVP_HIDDEN_SCALE", tag("-hidden")], "tensor 'hidden.bias' (body) are off the most (norm ratio 1.5)"),
    ("libkinkedscale.so", ["-DFX_HVP_SCALE", tag("-scale")], "norm ratio 1.5"),
    ("libkinkedasym.so", ["-DFX_HVP_ASYM", tag("-asym")], "u . (H v) is"),
]

/// Plugins with one bad op appended to the good ops table (their own directory, so the
/// corpus tests are unaffected: an ops table is only read when asked for).
let opsVariants: [(file: String, flags: [String])] = [
    ("libopsbadsig.so", ["-DFX_OPS_BAD_SIGNATURE", tag("-opsbadsig")]),
    ("libopsdup.so", ["-DFX_OPS_DUP", tag("-opsdup")]),
    ("libopsnullfn.so", ["-DFX_OPS_NULL_FN", tag("-opsnullfn")]),
    ("libopsemptyname.so", ["-DFX_OPS_EMPTY_NAME", tag("-opsemptyname")]),
    ("libopsnullhelp.so", ["-DFX_OPS_NULL_HELP", tag("-opsnullhelp")]),
    ("libopsshort.so", ["-DFX_OPS_SHORT", tag("-opsshort")]),
]

/// Plugins whose text is hostile: names, version, family and summary with newlines, ESC
/// sequences, C1 controls and a bidi override (their own directory; the CLI tests build the
/// stdout-printing and log-flooding variants, which only a whole maml-host process shows).
let hostileVariants: [(file: String, flags: [String])] = [
    ("libctl.so", ["-DFX_CONTROL_TEXT", tag("-ctl")]),
]

private func tag(_ suffix: String) -> String { "-DFX_TAG=\"\(suffix)\"" }

/// The built fixture directories.
struct BuiltFixtures: Sendable {
    /// Temporary root holding everything below.
    var root: String
    /// Every corpus variant, plus garbage.so (not ELF), libgood.so.1 (versioned name),
    /// a directory named dir.so, notes.txt and a dangling symlink libgone.so.
    var corpus: String
    /// Only libalias.so, a symlink to corpus/libgood.so.
    var links: String
    /// A copy of libgood.so and of libnoentry.so, for the executable-directory rule.
    var executable: String
    /// The broken plugins of `brokenVariants`, for the conformance checker.
    var broken: String
    /// The opsVariants.
    var ops: String
    /// The kinkedVariants.
    var kinked: String
    /// The hostileVariants.
    var hostile: String

    func corpusFile(_ name: String) -> String { corpus + "/" + name }
}

/// Built once per test process, on first use.
let builtFixtures: Result<BuiltFixtures, FixtureError> = Result { try buildFixtures() }
    .mapError { $0 as? FixtureError ?? FixtureError(description: "\($0)") }

/// The fixtures, or a thrown error that fails the calling test with the reason.
func fixtures() throws -> BuiltFixtures { try builtFixtures.get() }

// MARK: - Compiler

/// The C compiler on PATH (cc, else gcc, else clang), or nil.
func findCompiler(_ names: [String] = ["cc", "gcc", "clang"]) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for name in names {
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
    }
    return nil
}

func missingCompilerError(_ name: String) -> FixtureError {
    FixtureError(description: "no \(name) on PATH: MAMLHostTests compile C fixture plugins at test time; install one (Debian: apt-get install gcc g++)")
}

/// A started compiler run.
struct CompilerRun {
    var process: Process
    var pipe: Pipe
    var commandLine: String

    /// Starts `compiler arguments...` with stdout and stderr captured together.
    init(_ compiler: String, _ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = arguments
        pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        commandLine = ([compiler] + arguments).joined(separator: " ")
        try process.run()
    }

    /// Waits; returns the output, or throws with the command line and output.
    @discardableResult
    func finish() throws -> String {
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(description: "\(commandLine) failed:\n\(output)")
        }
        return output
    }
}

// MARK: - Building

private func buildFixtures() throws -> BuiltFixtures {
    guard let cc = findCompiler() else { throw missingCompilerError("C compiler (cc)") }
    let fm = FileManager.default
    let root = try Scratch.directory("host-fixtures")
    let fixtures = BuiltFixtures(root: root, corpus: root + "/corpus", links: root + "/links",
                                 executable: root + "/exe", broken: root + "/broken", ops: root + "/ops",
                                 kinked: root + "/kinked", hostile: root + "/hostile")
    for directory in [fixtures.corpus, fixtures.links, fixtures.executable, fixtures.ops, fixtures.corpus + "/dir.so",
                      fixtures.broken, fixtures.kinked, fixtures.hostile] {
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    // The trust policy refuses plugins below a directory writable by group or others (a umask of
    // 002 would make these 0775): the fixture directories are the user's own, mode 0755.
    for directory in [root, fixtures.corpus, fixtures.links, fixtures.executable, fixtures.ops,
                      fixtures.broken, fixtures.kinked] {
        chmod(directory, 0o755)
    }

    // Compile every variant at once (tiny files), then collect the results.
    let source = FixturePaths.sourceDirectory + "/fixture_plugin.c"
    let common = ["-shared", "-fPIC", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
                  "-I", FixturePaths.includeDirectory]
    let runs = try corpusVariants.map { variant in
        try CompilerRun(cc, common + variant.flags + ["-o", fixtures.corpusFile(variant.file), source, "-lm"])
    } + brokenVariants.map { variant in
        try CompilerRun(cc, common + variant.flags + ["-o", fixtures.broken + "/" + variant.file, source, "-lm"])
    } + opsVariants.map { variant in
        try CompilerRun(cc, common + variant.flags + ["-o", fixtures.ops + "/" + variant.file, source, "-lm"])
    } + hostileVariants.map { variant in
        try CompilerRun(cc, common + variant.flags + ["-o", fixtures.hostile + "/" + variant.file, source, "-lm"])
    } + kinkedVariants.map { variant in
        try CompilerRun(cc, common + variant.flags + ["-o", fixtures.kinked + "/" + variant.file,
                                                      FixturePaths.sourceDirectory + "/kinked_plugin.c", "-lm"])
    }
    var failures: [String] = []
    for run in runs {
        do { try run.finish() } catch { failures.append("\(error)") }
    }
    guard failures.isEmpty else { throw FixtureError(description: failures.joined(separator: "\n")) }

    // Files that are not plugins, or not candidates at all.
    try Data("this is not an ELF file\n".utf8).write(to: URL(fileURLWithPath: fixtures.corpusFile("garbage.so")))
    try Data("notes\n".utf8).write(to: URL(fileURLWithPath: fixtures.corpusFile("notes.txt")))
    try fm.copyItem(atPath: fixtures.corpusFile("libgood.so"), toPath: fixtures.corpusFile("libgood.so.1"))
    try fm.createSymbolicLink(atPath: fixtures.corpusFile("libgone.so"), withDestinationPath: root + "/nowhere.so")
    try fm.createSymbolicLink(atPath: fixtures.links + "/libalias.so",
                              withDestinationPath: fixtures.corpusFile("libgood.so"))
    for name in ["libgood.so", "libnoentry.so"] {
        try fm.copyItem(atPath: fixtures.corpusFile(name), toPath: fixtures.executable + "/" + name)
    }
    return fixtures
}
