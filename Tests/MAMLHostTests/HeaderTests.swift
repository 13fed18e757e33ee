import Foundation
import Testing

// MARK: - maml_plugin.h compiles cleanly as C99 and as C++11

@Suite("ABI header")
struct HeaderTests {
    static let source = FixturePaths.sourceDirectory + "/header_check.c"

    @Test("C99: -std=c99 -Wall -Wextra -Werror -pedantic")
    func compilesAsC99() throws {
        guard let cc = findCompiler(["cc", "gcc", "clang"]) else { throw missingCompilerError("C compiler (cc)") }
        try CompilerRun(cc, ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                             "-I", FixturePaths.includeDirectory, "-c", Self.source, "-o", try objectPath("c")]).finish()
    }

    @Test("C++11: -std=c++11 -Wall -Wextra -Werror -pedantic")
    func compilesAsCxx11() throws {
        guard let cxx = findCompiler(["c++", "g++", "clang++"]) else { throw missingCompilerError("C++ compiler (c++)") }
        try CompilerRun(cxx, ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-x", "c++",
                              "-I", FixturePaths.includeDirectory, "-c", Self.source, "-o", try objectPath("cxx")]).finish()
    }

    private func objectPath(_ suffix: String) throws -> String {
        try fixtures().root + "/header_check_\(suffix).o"
    }
}
