// MARK: - The sinusoid task family

import Testing
import Foundation   // sin, cos, atan2
import MAMLCore
import MAMLTasks

/// Least-squares fit of y = a sin x + b cos x; returns (A, phase, max residual)
/// for y = A sin(x - phase) = A cos(phase) sin x - A sin(phase) cos x.
func fitSinusoid(_ x: [Double], _ y: [Double]) -> (amplitude: Double, phase: Double, residual: Double) {
    var ss = 0.0, sc = 0.0, cc = 0.0, ys = 0.0, yc = 0.0
    for (xi, yi) in zip(x, y) {
        let s = sin(xi), c = cos(xi)
        ss += s * s; sc += s * c; cc += c * c; ys += yi * s; yc += yi * c
    }
    let det = ss * cc - sc * sc
    let a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det
    let residual = zip(x, y).map { abs(a * sin($0) + b * cos($0) - $1) }.max()!
    return ((a * a + b * b).squareRoot(), atan2(-b, a), residual)
}

@Suite struct SinusoidTests {
    let family = SinusoidTasks()

    @Test func tasksAreAmplitudeTimesSineOfXMinusPhase() throws {
        let task = TaskBuffer(family: family, supportShots: 10, queryShots: 15)
        var amplitudes: [Double] = [], phases: [Double] = []
        for t in 0..<300 {
            var rng = RandomGenerator(seed: 1, stream: .metaTrain, iteration: 0, task: t)
            try family.sample(split: .train, supportShots: 10, queryShots: 15, rng: &rng, into: task)
            #expect(task.supportCount == 10 && task.queryCount == 15)
            let all = doubles(task.all)
            #expect(all.x.allSatisfy { $0 >= -5 && $0 <= 5 })
            // Support and query come from one function.
            let fit = fitSinusoid(all.x, all.y)
            #expect(fit.residual < 1e-5)
            #expect(fit.amplitude >= 0.1 - 1e-5 && fit.amplitude <= 5 + 1e-5)
            #expect(fit.phase >= -1e-5 && fit.phase <= Double.pi + 1e-5)
            amplitudes.append(fit.amplitude); phases.append(fit.phase)
        }
        // The whole ranges are used.
        #expect(amplitudes.min()! < 0.5 && amplitudes.max()! > 4.6)
        #expect(phases.min()! < 0.2 && phases.max()! > 2.9)
    }

    @Test func theSameGeneratorGivesTheSameTaskAndLargerKExtendsTheSupport() throws {
        let small = TaskBuffer(family: family, supportShots: 5, queryShots: 100)
        let large = TaskBuffer(family: family, supportShots: 20, queryShots: 100)
        let start = RandomGenerator(seed: 8, stream: .evaluation, iteration: 0, task: 4)
        var r1 = start, r2 = start
        try family.sample(split: .test, supportShots: 5, queryShots: 100, rng: &r1, into: small)
        try family.sample(split: .test, supportShots: 20, queryShots: 100, rng: &r2, into: large)
        let a = doubles(small.query), b = doubles(large.query)
        #expect(a.x == b.x && a.y == b.y)
        let s = doubles(small.support), l = doubles(large.support)
        #expect(Array(l.x.prefix(5)) == s.x && Array(l.y.prefix(5)) == s.y)
    }

    @Test func aTaskTooLargeForTheBufferIsAnError() {
        let task = TaskBuffer(family: family, supportShots: 5, queryShots: 5)
        var rng = RandomGenerator(seed: 1)
        #expect(throws: MAMLError.self) {
            try family.sample(split: .train, supportShots: 6, queryShots: 5, rng: &rng, into: task)
        }
    }

    @Test func configRoundTripsThroughJSON() throws {
        let custom = SinusoidTasks(amplitudeRange: 1...2, phaseRange: 0...1, inputRange: -3...3)
        let decoded = try makeTaskFamily(name: "sinusoid", config: custom.configJSON) as? SinusoidTasks
        #expect(decoded == custom)
        let defaults = try makeTaskFamily(name: "sinusoid", config: "{}") as? SinusoidTasks
        #expect(defaults == SinusoidTasks())
        #expect(throws: MAMLError.invalidConfig(
            #"task "sinusoid" config: sinusoid "amplitude" must be [low, high] with low <= high, got [5.0, 1.0]"#)) {
            try makeTaskFamily(name: "sinusoid", config: #"{"amplitude": [5, 1]}"#)
        }
        // Null keeps the default; a value that is not two numbers names the key.
        #expect(try makeTaskFamily(name: "sinusoid", config: #"{"phase": null}"#) as? SinusoidTasks == SinusoidTasks())
        #expect(throws: MAMLError.invalidConfig(#"task "sinusoid" config: sinusoid "x" must be [low, high]"#)) {
            try makeTaskFamily(name: "sinusoid", config: #"{"x": [1, "a"]}"#)
        }
        #expect(family.name == "sinusoid" && family.inputShape == [1] && family.lossKind == .mse)
    }
}

/// A one-input batch as Double arrays.
private func doubles(_ batch: Batch) -> (x: [Double], y: [Double]) {
    ((0..<batch.n).map { Double(batch.x[$0]) }, (0..<batch.n).map { Double(batch.yFloat![$0]) })
}
