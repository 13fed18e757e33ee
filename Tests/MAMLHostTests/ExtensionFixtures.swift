import Foundation

// MARK: - The extension-table fixtures (Fixtures/extension_plugin.c)
//
// Built like the corpus of FixtureBuilder.swift (same compiler, same flags), once per
// test process, into <fixtures root>/extensions: one file per variant.

/// An extension table with a NULL function, or too short to hold one: file, -D flags, and the
/// extension and field the refusal must name (`maml.hvp/1: hvp is NULL...`).
let nullFunctionVariants: [(file: String, flags: [String], refusal: String)] = [
    ("libexthvpnull.so", ["-DFX_HVP_NULL"], "maml.hvp/1: hvp is NULL"),
    ("libexthvpshort.so", ["-DFX_HVP_SHORT"], "maml.hvp/1: struct_size is 4 bytes, too small to hold hvp (maml_ext_hvp is 16 bytes)"),
    ("libexttensorcountnull.so", ["-DFX_TENSOR_COUNT_NULL"], "maml.layout/1: tensor_count is NULL"),
    ("libexttensoratnull.so", ["-DFX_TENSOR_AT_NULL"], "maml.layout/1: tensor_at is NULL"),
    ("libextlayoutshort.so", ["-DFX_LAYOUT_SHORT"],
     "maml.layout/1: struct_size is 16 bytes, too small to hold tensor_count and tensor_at (maml_ext_layout is 24 bytes)"),
    ("libextopcountnull.so", ["-DFX_OP_COUNT_NULL"], "maml.ops/1: op_count is NULL"),
    ("libextopatnull.so", ["-DFX_OP_AT_NULL"], "maml.ops/1: op_at is NULL"),
    ("libextopsshort.so", ["-DFX_OPS_SHORT_TABLE"], "maml.ops/1: table struct_size is 16 bytes, shorter than maml_ext_ops (24 bytes)"),
    ("libextopfnnull.so", ["-DFX_OP_FN_NULL"], "maml.ops/1: op #0 ('flops'): fn is NULL"),
    ("libextvjpnull.so", ["-DFX_VJP_NULL"], "maml.vjp/1: vjp is NULL"),
    ("libextvjpshort.so", ["-DFX_VJP_SHORT"], "maml.vjp/1: struct_size is 4 bytes, too small to hold vjp (maml_ext_vjp is 16 bytes)"),
]

/// The numerical variants: the good file, a gradient wrong in one element (with and without a
/// layout) or in one tensor, a wrong HVP of the zero-Hessian model, a VJP wrong in one element.
let numericExtensionVariants: [(file: String, flags: [String])] = [
    ("libext.so", []),
    ("libextgradone.so", ["-DFX_GRAD_ONE"]),
    ("libextgradonenolayout.so", ["-DFX_GRAD_ONE", "-DFX_NO_LAYOUT"]),
    ("libextgradtensor.so", ["-DFX_GRAD_TENSOR"]),
    ("libextlinhvpwrong.so", ["-DFX_LINSUM_HVP_WRONG"]),
    ("libextvjpone.so", ["-DFX_VJP_ONE"]),
]

/// The tag of a variant's ids and names: "libexthvpnull.so" -> "-hvpnull" ("" for libext.so).
func extensionTag(_ file: String) -> String {
    let stem = file.dropFirst("libext".count).dropLast(".so".count)
    return stem.isEmpty ? "" : "-" + stem
}

/// Built once per test process, on first use.
private let builtExtensionFixtures: Result<String, FixtureError> = Result {
    let root = try fixtures().root + "/extensions"
    guard let cc = findCompiler() else { throw missingCompilerError("C compiler (cc)") }
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    let source = FixturePaths.sourceDirectory + "/extension_plugin.c"
    let common = ["-shared", "-fPIC", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fvisibility=hidden",
                  "-I", FixturePaths.includeDirectory]
    let variants = nullFunctionVariants.map { ($0.file, $0.flags) } + numericExtensionVariants.map { ($0.file, $0.flags) }
    let runs = try variants.map { file, flags in
        try CompilerRun(cc, common + flags + ["-DFX_TAG=\"\(extensionTag(file))\"", "-o", root + "/" + file, source])
    }
    var failures: [String] = []
    for run in runs {
        do { try run.finish() } catch { failures.append("\(error)") }
    }
    guard failures.isEmpty else { throw FixtureError(description: failures.joined(separator: "\n")) }
    return root
}.mapError { $0 as? FixtureError ?? FixtureError(description: "\($0)") }

/// The directory holding every extension fixture, or a thrown error naming why it could not be built.
func extensionFixtures() throws -> String { try builtExtensionFixtures.get() }
