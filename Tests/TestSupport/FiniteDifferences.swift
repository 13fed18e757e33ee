import Testing

// MARK: - Central finite differences of a Double function, shared by the reference networks
//
// A library target (not a test target) so that MLPNetworkTests, CNNNetworkTests and
// RNNNetworkTests use one copy.

/// d f / d theta_i by central differences, one coordinate at a time.
public func centralGradient(_ f: ([Double]) -> Double, at start: [Double], h: Double) -> [Double] {
    var theta = start
    return (0..<theta.count).map { i in
        let t = theta[i]
        theta[i] = t + h; let up = f(theta)
        theta[i] = t - h; let down = f(theta)
        theta[i] = t
        return (up - down) / (2 * h)
    }
}

/// (H v)_i by a central difference in both theta_i and the direction v.
public func centralHVP(_ f: ([Double]) -> Double, at base: [Double], direction v: [Float], h: Double) -> [Double] {
    (0..<base.count).map { i in
        func at(_ si: Double, _ sv: Double) -> Double {
            var t = base
            for j in t.indices { t[j] += sv * h * Double(v[j]) }
            t[i] += si * h
            return f(t)
        }
        return (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)
    }
}

/// The largest absolute difference between got and want, and the largest |want| (the scale).
public func maxError(_ got: [Float], _ want: [Double]) -> (abs: Double, scale: Double) {
    let scale = want.map(abs).max() ?? 0
    let err = zip(got, want).map { abs(Double($0) - $1) }.max() ?? 0
    return (err, scale)
}

/// Symmetry of the Hessian, u.Hv == v.Hu, in Double, relative to sum |u_i (Hv)_i|.
public func expectSymmetricHessian(u: [Float], hv: [Float], v: [Float], hu: [Float],
                            sourceLocation: SourceLocation = #_sourceLocation) {
    let uHv = zip(u, hv).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    let vHu = zip(v, hu).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    let norm = zip(u, hv).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
    #expect(abs(uHv - vHu) <= 1e-5 * max(1, norm), "u.Hv \(uHv) vs v.Hu \(vHu)", sourceLocation: sourceLocation)
}

/// A vector-Jacobian product by central differences: the gradient of s(theta) = u . outputs(theta).
public func centralVJP(_ outputs: ([Double]) -> [Double], u: [Float], at params: [Float], h: Double) -> [Double] {
    centralGradient({ theta in zip(outputs(theta), u).reduce(0.0) { $0 + $1.0 * Double($1.1) } },
                    at: params.map(Double.init), h: h)
}

/// Expects `got` within `tolerance` * max(1, scale) of `want` (maxError), on a problem that is not degenerate.
public func expectClose(_ got: [Float], _ want: [Double], tolerance: Double, _ what: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    let (err, scale) = maxError(got, want)
    #expect(scale > 1e-3, "degenerate problem", sourceLocation: sourceLocation)
    #expect(err <= tolerance * max(1, scale), "\(what) error \(err), scale \(scale)", sourceLocation: sourceLocation)
}
