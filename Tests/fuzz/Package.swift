// swift-tools-version: 6.1
// maml-fuzz: the libFuzzer targets (docs/fuzzing.md), one executable each, in a package of their
// own that depends on maml-zoo by path. SwiftPM builds the package's modules (MAMLKernels'
// C included) exactly as for the product, so no source list here can go stale. Tests/fuzz/fuzz.sh
// builds with `--sanitize fuzzer --sanitize address -c release -Xswiftc -enable-testing` (the
// harnesses use @testable imports); without those flags the targets do not link (no main).
//
// Each target folder Sources/fuzz-NAME holds its libFuzzer entry, FuzzNAME.swift, and symlinks to
// the harness files the normal test suite compiles too (Tests/*Tests/*FuzzHarness.swift), so a
// harness that no longer compiles fails `swift build --build-tests` at once. A new target is a
// folder here and a line below; FuzzSmokeTests (Tests/CLITests) runs every folder.
import PackageDescription

let core: [Target.Dependency] = [
    .product(name: "MAMLSchema", package: "maml-zoo"),
    .product(name: "MAMLCore", package: "maml-zoo"),
    .product(name: "MAMLTasks", package: "maml-zoo"),
]

let package = Package(
    name: "maml-fuzz",
    dependencies: [
        .package(name: "maml-zoo", path: "../.."),
    ],
    targets: [
        // The checkpoint reader and resuming from a checkpoint.
        .executableTarget(name: "fuzz-checkpoint", dependencies: core),
        // JSONValue, ConfigSchema, task family and training configs.
        .executableTarget(name: "fuzz-config", dependencies: core),
        // The PNG decoder and the Omniglot image loader.
        .executableTarget(name: "fuzz-png", dependencies: core),
        // The plugin scan cache file and the scanner child's report line.
        .executableTarget(name: "fuzz-scancache", dependencies: core + [.product(name: "MAMLHost", package: "maml-zoo")]),
    ]
)
