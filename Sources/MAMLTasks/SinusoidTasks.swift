// MARK: - Sinusoid regression (Finn et al. 2017, section 5.1)
//
// A task is y = A sin(x - phase) with A ~ U[0.1, 5.0], phase ~ U[0, pi]; its
// examples have x ~ U[-5, 5]. Input [1], output [1], MSE loss.
//
// Draw order per task: amplitude, phase, then the query points, then the
// support points. Query first means that evaluating the same task with
// different support sizes K uses the same function and the same query set,
// and the K support points are a prefix of a larger K's support points.

import MAMLCore
import MAMLKernels

/// The sinusoid regression family; the ranges default to the MAML paper's.
public struct SinusoidTasks: TaskFamily, Equatable {
    public var amplitudeRange: ClosedRange<Float>
    public var phaseRange: ClosedRange<Float>
    public var inputRange: ClosedRange<Float>

    public init(amplitudeRange: ClosedRange<Float> = 0.1...5.0,
                phaseRange: ClosedRange<Float> = 0...Float.pi,
                inputRange: ClosedRange<Float> = -5...5) {
        self.amplitudeRange = amplitudeRange; self.phaseRange = phaseRange; self.inputRange = inputRange
    }

    public var name: String { "sinusoid" }
    public var inputShape: [Int] { [1] }
    public var outputShape: [Int] { [1] }
    public var lossKind: LossKind { .mse }
    public func exampleCount(shots: Int) -> Int { shots }

    public var configJSON: String {
        func r(_ x: ClosedRange<Float>) -> String { "[\(x.lowerBound), \(x.upperBound)]" }
        return "{\"amplitude\": \(r(amplitudeRange)), \"phase\": \(r(phaseRange)), \"x\": \(r(inputRange))}"
    }

    /// The family from its config object ("amplitude", "phase", "x": [low, high] each; a missing
    /// or null key keeps the default). makeTaskFamily has refused unknown keys.
    init(json object: JSONObject) throws(FamilyConfigError) {
        var given = object
        for key in given.keys where given[key] == .null { given[key] = nil }
        let r = try FamilyConfigReader(given, family: "sinusoid", known: nil)
        amplitudeRange = try r.range("amplitude", default: 0.1...5.0)
        phaseRange = try r.range("phase", default: 0...Float.pi)
        inputRange = try r.range("x", default: -5...5)
    }

    /// The split does not change the distribution: evaluation tasks differ from
    /// training tasks through their random stream.
    public func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                       rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        try task.prepare(support: supportShots, query: queryShots)
        let (amplitude, phase) = drawFunction(&rng)
        guard let sy = task.supportY, let qy = task.queryY else {
            throw .incompatible("sinusoid tasks need float targets (MSE), the task buffer holds labels")
        }
        func fill(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { s in
                let s = s.baseAddress!
                for i in 0..<n {
                    let xi = rng.uniform(inputRange.lowerBound, inputRange.upperBound)
                    x[i] = xi
                    s[i] = Double(xi) - phase
                }
                mk_sin_f64(s, s, n)   // all n sines at once (MAMLKernels: libm's value in float)
                for i in 0..<n { y[i] = Float(amplitude * s[i]) }
            }
        }
        fill(task.queryX, qy, queryShots)
        fill(task.supportX, sy, supportShots)
    }

    /// The function of the task `rng` would sample, y = amplitude * sin(x - phase): its first two
    /// draws, as `sample` makes them (for plotting the true curve; `rng` itself is not advanced).
    public func function(rng: RandomGenerator) -> (amplitude: Double, phase: Double) {
        var copy = rng
        return drawFunction(&copy)
    }

    private func drawFunction(_ rng: inout RandomGenerator) -> (amplitude: Double, phase: Double) {
        let amplitude = Double(rng.uniform(amplitudeRange.lowerBound, amplitudeRange.upperBound))
        let phase = Double(rng.uniform(phaseRange.lowerBound, phaseRange.upperBound))
        return (amplitude, phase)
    }
}
