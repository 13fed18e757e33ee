// MARK: - OpenBLAS kernel choice: a misdetected CPU gets real kernels, a user's choice is kept
import Foundation
import Testing

@Suite struct BLASCoreTests {
    func blasCore(_ environment: [String: String?]) throws -> String {
        let run = try mamlHost(["bench", "--model", "mlp", "--task", "sinusoid", "--iterations", "1", "--warmup", "0", "--json"],
                               environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        return try #require(try jsonObject(run.stdout)["blas_core"] as? String)
    }

    @Test func aCoreTypeInTheEnvironmentIsLeftAlone() throws {
        #expect(try blasCore(["OPENBLAS_CORETYPE": "Haswell"]) == "Haswell")
        #expect(try blasCore(["OPENBLAS_CORETYPE": "Sandybridge", "MAML_BLAS_CORETYPE_AUTO": nil]) == "Sandybridge")
    }

    @Test func aGenericFallbackIsReplacedWhenTheCPUCanDoBetter() throws {
        let detected = try blasCore(["OPENBLAS_CORETYPE": nil, "MAML_BLAS_CORETYPE_AUTO": "0"])
        let chosen = try blasCore(["OPENBLAS_CORETYPE": nil, "MAML_BLAS_CORETYPE_AUTO": nil])
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? [])
        let generic: Set<String> = ["Prescott", "Core2", "Katmai", "Coppermine", "Northwood", "Banias"]
        if generic.contains(detected) && flags.contains("avx512f") && flags.contains("avx512bw")
            && flags.contains("avx512dq") && flags.contains("avx512vl") {
            #expect(chosen == "SkylakeX", "OpenBLAS detected \(detected)")
        } else if generic.contains(detected) && flags.contains("avx2") && flags.contains("fma") {
            #expect(chosen == "Haswell", "OpenBLAS detected \(detected)")
        } else {
            #expect(chosen == detected, "OpenBLAS's own choice must stand when it is not a generic fallback")
        }
    }

    @Test func benchNamesTheKernelBuildAndTheCapIsObeyed() throws {
        func kernels(_ cap: String?) throws -> String {
            let run = try mamlHost(["bench", "--model", "mlp", "--task", "sinusoid", "--iterations", "1", "--warmup", "0", "--json"],
                                   environment: ["MAML_KERNELS_ISA": cap])
            #expect(run.status == 0, "\(run.stderr)")
            return try #require(try jsonObject(run.stdout)["kernels"] as? String)
        }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? [])
        let best = flags.contains("avx512f") && flags.contains("avx512vl") ? "avx512"
            : flags.contains("avx2") && flags.contains("fma") ? "avx2+fma" : "baseline"
        #expect(try kernels(nil) == best)
        #expect(try kernels("baseline") == "baseline")
        #expect(try kernels("avx2") == (best == "baseline" ? "baseline" : "avx2+fma"))
    }

    @Test func anUnknownKernelCapIsRefusedByName() throws {
        let run = try mamlHost(["bench", "--model", "mlp", "--task", "sinusoid", "--iterations", "1", "--warmup", "0"],
                               environment: ["MAML_KERNELS_ISA": "avx-2"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("MAML_KERNELS_ISA=avx-2") && run.stderr.contains("expected avx512, avx2 or baseline"),
                "\(run.stderr)")
    }
}
