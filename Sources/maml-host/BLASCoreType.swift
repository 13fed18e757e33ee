// MARK: - OpenBLAS kernels on CPUs newer than its table
//
// Debian 12's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernels when
// the library loads, from cpuid. On CPUs newer than its table (the AVX-512 Xeon
// VMs this project runs on) it falls back to "Prescott", SSE3 kernels: sgemm
// then runs 5-10x below what the CPU does with the SkylakeX kernels
// (docs/benchmarks.md). OPENBLAS_CORETYPE overrides the choice, but OpenBLAS
// reads it only while loading, before main. So when the variable is unset and
// OpenBLAS fell back to a generic core although /proc/cpuinfo shows AVX-512 or
// AVX2, maml-host sets it and re-executes itself, once. A value in the
// environment is never changed; MAML_BLAS_CORETYPE_AUTO=0 turns this off.
#if canImport(Glibc)
import Glibc
#endif
import CBLAS

enum BLASCoreType {
    /// The kernel family OpenBLAS chose (or was told) for this CPU, e.g. "Haswell".
    static var name: String { String(cString: openblas_get_corename()) }

    /// Cores OpenBLAS uses when it does not recognise an x86-64 CPU.
    static let genericCores: Set<String> = ["Prescott", "Core2", "Katmai", "Coppermine", "Northwood", "Banias"]

    /// The kernel family worth forcing for these /proc/cpuinfo flags, if any.
    static func better(forFlags flags: Set<Substring>) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// Re-executes this program with OPENBLAS_CORETYPE set when that helps (see the file comment);
    /// returns if it does not (nothing to fix, turned off, or exec failed).
    static func reexecIfMisdetected() {
        guard getenv("OPENBLAS_CORETYPE") == nil,
              getenv("MAML_BLAS_CORETYPE_AUTO").map({ String(cString: $0) }) != "0",
              genericCores.contains(name),
              let cpuinfo = readSmallFile("/proc/cpuinfo"),
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let core = better(forFlags: Set(line.split(separator: " ")))
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Still here: exec failed. Carry on with the slow kernels rather than not at all.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
