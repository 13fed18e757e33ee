// swift-tools-version: 6.1
// tinymlp-swift: a maml-zoo backbone plugin as its own Swift package. It depends on the
// maml-zoo package (here by path; a git URL works the same) for two products only: the
// C ABI (MAMLPluginABI) and the authoring kit (MAMLPluginKit), and builds one .so.
import PackageDescription

let root = String(#filePath.dropLast("Package.swift".count))

let package = Package(
    name: "tinymlp-swift",
    products: [
        .library(name: "tinymlp_swift", type: .dynamic, targets: ["TinyMLP"]),
    ],
    dependencies: [
        .package(name: "maml-zoo", path: "../../.."),
    ],
    targets: [
        .target(
            name: "TinyMLP",
            dependencies: [
                .product(name: "MAMLPluginABI", package: "maml-zoo"),
                .product(name: "MAMLPluginKit", package: "maml-zoo"),
            ],
            // Export only the entry point: the kit linked into this .so stays private to it.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--version-script=\(root)exports.map"])]),
    ]
)
