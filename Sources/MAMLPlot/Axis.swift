// MARK: - Axes: the data range, "nice" ticks and their labels
#if canImport(Glibc)
import Glibc     // log10, pow, floor
#elseif canImport(Darwin)
import Darwin
#endif

public enum ScaleKind: Sendable { case linear, log }

/// One axis: its label (with units), scale, domain and tick positions.
public struct Axis: Sendable {
    public var label: String
    public var kind: ScaleKind
    public var low: Double
    public var high: Double
    public var ticks: [Double]

    /// An axis covering `values` (non-finite ones ignored; on a log scale, non-positive ones
    /// too), widened to whole ticks. `fixed` forces the domain; `includeZero` pulls a linear
    /// domain down (or up) to 0.
    public init(label: String, kind: ScaleKind = .linear, values: [Double], fixed: ClosedRange<Double>? = nil,
                includeZero: Bool = false) {
        self.label = label
        var kind = kind
        var usable = values.filter { $0.isFinite && (kind == .linear || $0 > 0) }
        if kind == .log && usable.isEmpty { kind = .linear; usable = values.filter(\.isFinite) }
        self.kind = kind
        var lo = fixed?.lowerBound ?? usable.min() ?? 0
        var hi = fixed?.upperBound ?? usable.max() ?? 1
        if includeZero && kind == .linear && fixed == nil { lo = min(lo, 0); hi = max(hi, 0) }
        switch kind {
        case .linear:
            if hi - lo < 1e-12 * max(1, abs(hi)) { lo -= max(1, abs(lo) * 0.1); hi += max(1, abs(hi) * 0.1) }
            let step = Axis.niceStep((hi - lo) / 5)
            if fixed == nil {
                lo = Axis.clean((lo / step).rounded(.down) * step)
                hi = Axis.clean((hi / step).rounded(.up) * step)
            }
            let first = (lo / step).rounded(.up)
            ticks = stride(from: first, through: (hi / step).rounded(.down), by: 1).map { Axis.clean($0 * step) }
        case .log:
            var a = floor(log10(lo) + 1e-9), b = (log10(hi) - 1e-9).rounded(.up)
            if b <= a { b = a + 1 }
            if fixed == nil { lo = pow(10, a); hi = pow(10, b) } else { a = floor(log10(lo)); b = (log10(hi)).rounded(.up) }
            let multiples: [Double] = b - a <= 2 ? [1, 2, 5] : [1]
            var all: [Double] = []
            for e in stride(from: a, through: b, by: 1) {
                let power: Double = pow(10, e)
                for m in multiples { all.append(Axis.clean(m * power)) }
            }
            let (lower, upper) = (lo * (1 - 1e-9), hi * (1 + 1e-9))
            ticks = all.filter { $0 >= lower && $0 <= upper }
        }
        low = lo; high = hi
    }

    /// Where `v` falls between `from` (the domain's low end) and `to` (its high end), in
    /// picture units; nil for values a log scale cannot place.
    public func position(_ v: Double, from: Double, to: Double) -> Double? {
        guard v.isFinite else { return nil }
        let t: Double
        switch kind {
        case .linear: t = (v - low) / (high - low)
        case .log:
            guard v > 0 else { return nil }
            t = (log10(v) - log10(low)) / (log10(high) - log10(low))
        }
        // Far outside the domain (a diverged prediction): keep coordinates printable; the clip hides it.
        return from + (to - from) * min(max(t, -50), 50)
    }

    /// Tick labels: as many decimals as the tick spacing needs; 20000 as "20k" when every tick is
    /// a whole thousand.
    public var tickLabels: [String] {
        if kind == .linear, let m = ticks.map(abs).max(), m >= 10_000,
           ticks.allSatisfy({ $0.truncatingRemainder(dividingBy: 1000) == 0 }) {
            return ticks.map { $0 == 0 ? "0" : compactNumber($0 / 1000, digits: 0) + "k" }
        }
        return ticks.map { v in
            let decimals = v == 0 ? 0 : max(0, Int((-log10(abs(v)) - 1e-9).rounded(.up)))
            let spacing = kind == .linear && ticks.count > 1 ? ticks[1] - ticks[0] : v
            let needed = spacing == 0 ? 0 : max(0, Int((-log10(abs(spacing)) - 1e-9).rounded(.up)))
            return compactNumber(v, digits: min(6, max(kind == .log ? decimals : needed, 0)))
        }
    }

    /// 1, 2 or 5 times a power of ten, the nearest at or above `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let power = pow(10, floor(log10(raw)))
        let f = raw / power
        return clean((f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power)
    }

    /// `v` rounded to 12 significant digits: 0.30000000000000004 -> 0.3, so ticks print cleanly.
    static func clean(_ v: Double) -> Double {
        guard v != 0, v.isFinite else { return v }
        let scale = pow(10, 11 - floor(log10(abs(v))))
        return (v * scale).rounded() / scale
    }
}
