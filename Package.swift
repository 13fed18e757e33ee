// swift-tools-version: 6.1
// maml-zoo: a model zoo of meta-learning backbones loaded as plugins through one C ABI.
import PackageDescription

// Plugins are dynamic libraries that export exactly one symbol (`maml_plugin_registry`):
// the version script makes everything else, including the plugin kit linked into
// each plugin, local to that plugin, so two plugins never bind to each other's kit.
let packageRoot = String(#filePath.dropLast("Package.swift".count))
let pluginLinker: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--version-script=\(packageRoot)Plugins/plugin-exports.map", "-Xlinker", "-Bsymbolic"]),
]

let package = Package(
    name: "maml-zoo",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "maml-host", targets: ["maml-host"]),
        .library(name: "MAMLPluginABI", targets: ["MAMLPluginABI"]),
        .library(name: "MAMLSchema", targets: ["MAMLSchema"]),
        .library(name: "MAMLPluginKit", targets: ["MAMLPluginKit"]),
        .library(name: "MAMLCore", targets: ["MAMLCore"]),
        .library(name: "MAMLTasks", targets: ["MAMLTasks"]),
        .library(name: "MAMLHost", targets: ["MAMLHost"]),
        .library(name: "MAMLConformance", targets: ["MAMLConformance"]),
        .library(name: "MAMLPlot", targets: ["MAMLPlot"]),
        // Bundled backbones: each one a plugin .so next to maml-host in the build folder.
        .library(name: "maml_mlp", type: .dynamic, targets: ["MLPPlugin"]),
        .library(name: "maml_cnn", type: .dynamic, targets: ["CNNPlugin"]),
        .library(name: "maml_rnn", type: .dynamic, targets: ["RNNPlugin"]),
    ],
    // `swift build --traits MPI`: meta-batches across processes and hosts through Open MPI
    // (docs/scale-out.md). Off by default: the default build and tests need no MPI.
    traits: [
        .trait(name: "MPI", description: "Split meta-batches over the ranks of `mpirun` (Open MPI, libopenmpi-dev)."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // MARK: C ABI and system libraries
        .target(name: "MAMLPluginABI"),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // libpng decodes the Omniglot images (MAMLTasks' omniglot task family).
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // libffi calls plugin-declared operations ("maml.ops/1") by signature.
        .systemLibrary(name: "CFFI", pkgConfig: "libffi", providers: [.apt(["libffi-dev"])]),
        // libcrypto (OpenSSL) hashes plugin files for trust pinning (SHA-256).
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Open MPI (trait MPI only): its headers and libmpi for the MAMLMPIShim below.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi", providers: [.apt(["libopenmpi-dev"])]),

        // MARK: Libraries
        // JSON, the config-schema subset, SplitMix64 and the toolchain tag: no dependencies,
        // shared by plugins (through the kit), the core and the host.
        .target(name: "MAMLSchema"),
        // Small-shape SGEMM and the finiteness scan in C: AVX2(+FMA) and baseline builds, chosen at load time.
        .target(name: "MAMLKernels"),
        // Accessors for libffi's type globals, which Swift 6 cannot read directly.
        .target(name: "MAMLFFI", dependencies: ["CFFI"]),
        // The few MPI calls the host makes, as plain C functions: Open MPI's predefined handles
        // (MPI_COMM_WORLD, MPI_FLOAT) do not import into Swift. Without the trait it compiles to
        // stubs that report "no MPI" and links nothing.
        .target(name: "MAMLMPIShim", dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))],
                cSettings: [.define("MAML_MPI", .when(traits: ["MPI"]))]),
        .target(name: "MAMLPluginKit", dependencies: ["MAMLSchema", "MAMLPluginABI", "CBLAS", "MAMLKernels"]),
        .target(name: "MAMLCore", dependencies: ["MAMLSchema", "MAMLKernels"]),
        // Task families and their data (sinusoid, glyphs, omniglot, sequences): no model code.
        // JPEG decoding (libjpeg-turbo): C, because libjpeg's errors must longjmp out.
        .target(name: "MAMLImageCodecs", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "MAMLTasks", dependencies: ["MAMLCore", "MAMLSchema", "MAMLKernels", "CPNG", "MAMLImageCodecs", "CCrypto"]),
        .target(name: "MAMLHost", dependencies: ["MAMLSchema", "MAMLCore", "MAMLPluginABI", "CFFI", "MAMLFFI", "CCrypto"]),
        // SVG pictures (charts, figures) written by the project itself: no dependencies.
        .target(name: "MAMLPlot"),
        // `maml-host check`: the conformance suite, each check run in a child process.
        .target(name: "MAMLConformance", dependencies: ["MAMLHost", "MAMLCore", "MAMLTasks", "MAMLSchema", "MAMLPluginABI"]),
        .executableTarget(name: "maml-host", dependencies: [
            "MAMLSchema", "MAMLCore", "MAMLTasks", "MAMLHost", "MAMLConformance", "MAMLPlot", "MAMLPluginABI", "CBLAS", "MAMLMPIShim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Bundled plugins, each in Plugins/<Name>: Network (the network and its PluginModel,
        // which the tests import) and Entry (the registry and the entry point: the .so). Entry
        // targets are never dependencies of test targets (duplicate entry symbols).
        .target(name: "MLPNetwork", dependencies: ["MAMLPluginKit"], path: "Plugins/MLP/Network"),
        .target(name: "MLPPlugin", dependencies: ["MLPNetwork", "MAMLPluginKit", "MAMLPluginABI"],
                path: "Plugins/MLP/Entry", linkerSettings: pluginLinker),
        .target(name: "CNNNetwork", dependencies: ["MAMLPluginKit"], path: "Plugins/CNN/Network"),
        .target(name: "CNNPlugin", dependencies: ["CNNNetwork", "MAMLPluginKit", "MAMLPluginABI"],
                path: "Plugins/CNN/Entry", linkerSettings: pluginLinker),
        .target(name: "RNNNetwork", dependencies: ["MAMLPluginKit"], path: "Plugins/RNN/Network"),
        .target(name: "RNNPlugin", dependencies: ["RNNNetwork", "MAMLPluginKit", "MAMLPluginABI"],
                path: "Plugins/RNN/Entry", linkerSettings: pluginLinker),

        // MARK: Tests
        // A test helper (not a product): rewrites a checkpoint until killed, for the kill -9 tests.
        .executableTarget(name: "checkpoint-stress", dependencies: ["MAMLCore"], path: "Tests/CheckpointStress"),
        // A test tool (not a product): class-folder trees of generated or Fashion-MNIST images, JPEG or PNG.
        .executableTarget(name: "image-tree", dependencies: [
            "MAMLTasks", "MAMLSchema", "CZlib", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Tests/ImageTree"),
        // zlib, for image-tree's reading of Fashion-MNIST's .gz files.
        .systemLibrary(name: "CZlib", path: "Tests/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .testTarget(name: "MAMLCoreTests", dependencies: ["MAMLCore", "MAMLTasks", "MAMLKernels", "MAMLSchema", "TestSupport"]),
        .testTarget(name: "MAMLTasksTests", dependencies: ["MAMLTasks", "MAMLCore", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "MAMLSchemaTests", dependencies: ["MAMLSchema"]),
        .testTarget(name: "MAMLPlotTests", dependencies: ["MAMLPlot", "TestSupport"]),
        .testTarget(name: "MAMLPluginKitTests", dependencies: ["MAMLPluginKit", "TestSupport"]),
        // Shared by the test targets: central finite differences, error measures, the `slow` tag,
        // a PNG writer and image trees.
        .target(name: "TestSupport", dependencies: ["MAMLCore"], path: "Tests/TestSupport"),
        .testTarget(name: "MLPNetworkTests", dependencies: ["MLPNetwork", "MAMLPluginKit", "TestSupport"]),
        .testTarget(name: "CNNNetworkTests", dependencies: ["CNNNetwork", "MAMLPluginKit", "TestSupport"]),
        .testTarget(name: "RNNNetworkTests", dependencies: ["RNNNetwork", "MAMLPluginKit", "TestSupport"]),
        .testTarget(name: "MAMLHostTests", dependencies: ["MAMLHost", "MAMLConformance", "MAMLCore", "MAMLTasks", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["MAMLCore", "MAMLTasks", "TestSupport"]),
    ]
)
