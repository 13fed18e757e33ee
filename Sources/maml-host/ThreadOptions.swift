// MARK: - --threads (train, eval, bench, demo)
//
// Tasks of a meta-batch (and evaluation tasks) run on N worker threads, each
// with its own instance of the model. Results are bit-identical for every N
// (docs/algorithms.md), so N is a speed setting only: it is not saved in
// checkpoints, and a run may be resumed with another N.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Worker threads for the tasks of a meta-batch and for evaluation (default: the cores this process may use); results do not depend on it.",
                               valueName: "N"))
    var threads: Int = availableCores()

    /// More worker threads than this are refused: each holds a model instance and buffers.
    static let limit = 256

    func validate() throws {
        guard threads >= 1 else {
            throw ValidationError("--threads must be at least 1 (1 runs everything on one thread), got \(threads)")
        }
        guard threads <= ThreadOptions.limit else {
            throw ValidationError("--threads \(threads) is more than \(ThreadOptions.limit) (this machine has \(availableCores()) cores)")
        }
    }
}

/// Cores this process may run on: the CPU affinity mask (so under `taskset -c 1` it is 1),
/// read from /proc/self/status because Swift's Glibc module lacks sched_getaffinity; else
/// the online cores (sysconf); at least 1.
func availableCores() -> Int {
    if let status = readSmallFile("/proc/self/status"),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
        // "Cpus_allowed:\t3" or "...\tffffffff,ffffffff": a hex mask, 32-bit words separated by commas.
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0 != "," && $0 != "\t" && $0 != " " }
        let digits = mask.compactMap { $0.hexDigitValue }
        if digits.count == mask.count {
            let count = digits.reduce(0) { $0 + $1.nonzeroBitCount }
            if count > 0 { return count }
        }
    }
    return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// The contents of a small file (procfs reports size 0, so read until EOF), or nil.
func readSmallFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 1 << 20 {
        let got = fread(&chunk, 1, chunk.count, file)
        if got <= 0 { break }
        bytes += chunk[0..<got]
    }
    return String(decoding: bytes, as: UTF8.self)
}
