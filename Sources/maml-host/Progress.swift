// MARK: - Training progress: a live bar on a terminal, plain lines otherwise

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MAMLCore

/// Monotonic seconds since an arbitrary origin.
func now() -> Double { monotonicSeconds() }

/// Reports meta-training progress: iterations/s, current query loss, ETA.
/// On a terminal it redraws one line; otherwise it prints a line every
/// `plainEvery` iterations (and at the end) so logs stay readable.
struct ProgressReporter {
    let total: Int
    let start: Int
    let interactive: Bool
    let plainEvery: Int
    private let t0 = now()
    private var lastDraw = 0.0
    private var smoothedLoss: Double?

    init(total: Int, start: Int = 0, interactive: Bool = HostOutput.isTerminal) {
        self.total = total
        self.start = start
        self.interactive = interactive
        self.plainEvery = max(1, (total - start) / 20)
    }

    mutating func update(iteration: Int, loss: Double) {
        guard Verbosity.level >= .normal else { return }
        smoothedLoss = smoothedLoss.map { 0.98 * $0 + 0.02 * loss } ?? loss
        let done = iteration - start
        let finished = iteration >= total
        if interactive {
            let t = now()
            guard finished || t - lastDraw >= 0.1 else { return }
            lastDraw = t
            print("\r" + line(iteration: iteration, done: done) + "\u{1B}[K", terminator: finished ? "\n" : "")
            fflush(nil)
        } else if done % plainEvery == 0 || finished {
            print(line(iteration: iteration, done: done))
        }
    }

    private func line(iteration: Int, done: Int) -> String {
        let elapsed = now() - t0
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - iteration) / rate : .infinity
        let frac = total > 0 ? Double(iteration) / Double(total) : 1
        let width = 24
        let filled = min(width, Int(frac * Double(width)))
        let bar = interactive
            ? "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            : ""
        return "\(bar)iter \(iteration)/\(total)  \(fmt(rate, 1)) it/s  query loss \(fmt(smoothedLoss ?? .nan, 4))  "
            + (iteration >= total ? "took \(fmtDuration(elapsed))" : "ETA \(fmtDuration(eta))")
    }
}
