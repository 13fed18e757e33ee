// MARK: - image-tree: folders of images for testing the image task families
//
// A test tool, not part of the product (like checkpoint-stress): writes class-folder trees of
// JPEG or PNG files, either generated (`synthetic`: distinct, learnable classes, deterministic
// from a seed) or from Debian's Fashion-MNIST (`fashion-mnist`), for the image-folder family's
// tests and benchmarks. Errors print a reason and exit non-zero.
//
//   image-tree synthetic --out DIR --classes C --per-class M --size S [--channels 1|3] [--seed N]
//                        [--format jpg|png] [--layout classes|splits|csv] [--quality Q]
//   image-tree fashion-mnist --out DIR [--per-class M] [--format jpg|png] [--quality Q]

import ArgumentParser

struct ImageTree: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image-tree",
        abstract: "Writes folders of images (one folder per class) for testing the image task families.",
        subcommands: [Synthetic.self, FashionMNIST.self])
}

ImageTree.main()
