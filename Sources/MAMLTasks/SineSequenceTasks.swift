// MARK: - sine-sequences: next-value prediction on sinusoids, for recurrent backbones
//
// A task is a sinusoid s(t) = A sin(w t + phase) with its own amplitude A ~ U[0.1, 5],
// phase ~ U[0, pi] and frequency w ~ U[0.5, 2]. An example is a window of length + 1
// samples s(t0), s(t0 + dt), ..., s(t0 + length dt) with t0 ~ U[0, 2 pi] per example
// (dt = 0.3): the input is the first `length` samples ([length, 1]); the target is the
// next value at every step ("predict": "every", output [length, 1]) or only after the
// last one ("predict": "last", output [1]). Defaults are the peer benchmark scripts'
// (../shared/bench/peers/*_rnn_maml.py). MSE loss.
//
// Draw order per task: amplitude, phase, frequency, then the query windows, then the
// support windows (as sinusoid: K support windows are a prefix of a larger K's, and
// the query set does not depend on K).

import MAMLCore
import MAMLKernels

/// The sine-sequences family (see the file comment).
public struct SineSequenceTasks: TaskFamily, Equatable {
    /// Where the model predicts: the next value after every step, or only after the last.
    public enum Predict: String, Sendable { case every, last }

    public var amplitudeRange: ClosedRange<Float> = 0.1...5.0
    public var phaseRange: ClosedRange<Float> = 0...Float.pi
    public var frequencyRange: ClosedRange<Float> = 0.5...2.0
    public var startRange: ClosedRange<Float> = 0...(2 * Float.pi)
    public var dt: Float = 0.3
    public var length = 20
    public var predict = Predict.every

    static let keys = ["amplitude", "phase", "frequency", "start", "dt", "length", "predict"]

    public init(length: Int = 20, predict: Predict = .every) {
        self.length = length; self.predict = predict
    }

    /// The family from its config object (see the file comment); a missing key keeps the default.
    init(json object: JSONObject) throws(FamilyConfigError) {
        let r = try FamilyConfigReader(object, family: "sine-sequences", known: Self.keys)
        amplitudeRange = try r.range("amplitude", default: amplitudeRange)
        phaseRange = try r.range("phase", default: phaseRange)
        frequencyRange = try r.range("frequency", default: frequencyRange)
        startRange = try r.range("start", default: startRange)
        dt = try r.value("dt", expected: "a number") { $0.floatValue } ?? dt
        guard dt.isFinite, dt > 0 else { throw r.error("dt", "= \(dt), expected a positive number") }
        length = try r.int("length", default: 20, in: 1...10_000)
        if let name = try r.value("predict", expected: "\"every\" or \"last\"", { $0.stringValue }) {
            guard let p = Predict(rawValue: name) else { throw r.error("predict", "= \"\(name)\", expected \"every\" or \"last\"") }
            predict = p
        }
    }

    // MARK: TaskFamily

    public var name: String { "sine-sequences" }
    public var inputShape: [Int] { [length, 1] }
    public var outputShape: [Int] { predict == .every ? [length, 1] : [1] }
    public var lossKind: LossKind { .mse }
    public func exampleCount(shots: Int) -> Int { shots }

    public var configJSON: String {
        func r(_ x: ClosedRange<Float>) -> String { "[\(x.lowerBound), \(x.upperBound)]" }
        return "{\"amplitude\": \(r(amplitudeRange)), \"dt\": \(dt), \"frequency\": \(r(frequencyRange)), "
            + "\"length\": \(length), \"phase\": \(r(phaseRange)), \"predict\": \"\(predict.rawValue)\", \"start\": \(r(startRange))}"
    }

    public func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                       rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        guard task.inputElements == length, task.outputElements == outputShape.reduce(1, *) else {
            throw .incompatible("sine-sequences windows are \(inputShape) -> \(outputShape), the task buffer holds "
                + "\(task.inputElements) -> \(task.outputElements) floats")
        }
        try task.prepare(support: supportShots, query: queryShots)
        let amplitude = Double(rng.uniform(amplitudeRange.lowerBound, amplitudeRange.upperBound))
        let phase = Double(rng.uniform(phaseRange.lowerBound, phaseRange.upperBound))
        let frequency = Double(rng.uniform(frequencyRange.lowerBound, frequencyRange.upperBound))
        guard let sy = task.supportY, let qy = task.queryY else {
            throw .incompatible("sine-sequences tasks need float targets (MSE), the task buffer holds labels")
        }
        let every = predict == .every, outputs = every ? length : 1, step = Double(dt)
        func fill(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: length + 1) { w in
                let w = w.baseAddress!
                for i in 0..<n {
                    let t0 = Double(rng.uniform(startRange.lowerBound, startRange.upperBound))
                    let xi = x + i * length, yi = y + i * outputs
                    for k in 0...length { w[k] = frequency * (t0 + step * Double(k)) + phase }
                    mk_sin_f64(w, w, length + 1)   // the window's sines at once (MAMLKernels)
                    for k in 0...length {
                        let s = Float(amplitude * w[k])
                        if k < length { xi[k] = s }
                        if every, k >= 1 { yi[k - 1] = s } else if k == length { yi[0] = s }
                    }
                }
            }
        }
        fill(task.queryX, qy, queryShots)
        fill(task.supportX, sy, supportShots)
    }
}
