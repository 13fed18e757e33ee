import Foundation
import Testing
import MAMLKernels
@testable import RNNNetwork

// MARK: - The C cell kernels (cell_ops.c) against the scalar Swift reference (CellReference.swift)
//
// Every cell, plain and dual, every build the CPU has, with hidden sizes that exercise the
// 16-unit blocks, the 8-unit blocks and the one-unit tails: the forward and backward steps
// agree with the reference (libm tanh / exp, no FMA) to a few parts in 10^6, the AVX2 and
// AVX-512 builds bit for bit, and the probe is 0 for finite pre-activations and NaN otherwise.

@Suite struct CellOpsTests {
    static let isas: [Int32] = [0, 1, 2].filter {
        $0 == 0 || ($0 == 1 && mk_avx2_available() != 0) || ($0 == 2 && mk_avx512_available() != 0)
    }
    static let shapes: [(n: Int, h: Int)] = [(1, 1), (2, 5), (1, 8), (3, 13), (2, 16), (1, 23), (2, 24), (3, 40), (1, 41)]

    /// All buffers of one step (values and R-values), filled from a seed; copies share nothing.
    final class Step {
        let n: Int, h: Int, g: Int
        var bufs: [String: UnsafeMutablePointer<Float>] = [:]
        var sizes: [String: Int] = [:]
        static let names = ["gates", "hidden", "hPrev", "hNew", "cPrev", "cNew", "extra",
                            "top", "carry", "cellCarry", "dInput", "dHidden"]

        init(n: Int, h: Int, gates: Int, seed: UInt64) {
            self.n = n; self.h = h; g = gates
            var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
            for name in Self.names {
                let count = ["gates", "hidden", "dInput", "dHidden"].contains(name) ? n * gates * h : n * h
                for key in [name, "r" + name] {
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                    for i in 0..<count {
                        state ^= state << 13; state ^= state >> 7; state ^= state << 17
                        let u = Float(state >> 40) / Float(1 << 24)
                        // Gates and states in (0, 1) like activations; the rest in (-2, 2).
                        p[i] = ["gates", "extra", "hNew"].contains(name) && key == name ? u : u * 4 - 2
                    }
                    bufs[key] = p; sizes[key] = count
                }
            }
        }

        init(copying other: Step) {
            n = other.n; h = other.h; g = other.g; sizes = other.sizes
            for (key, p) in other.bufs {
                let q = UnsafeMutablePointer<Float>.allocate(capacity: sizes[key]!)
                q.update(from: p, count: sizes[key]!)
                bufs[key] = q
            }
        }

        deinit { for p in bufs.values { p.deallocate() } }

        func pair(_ name: String, _ dual: Bool) -> mk_pair { mk_pair(v: bufs[name]!, r: dual ? bufs["r" + name]! : nil) }
        func ref(_ name: String, _ dual: Bool) -> FloatPair { FloatPair(bufs[name]!, dual ? bufs["r" + name]! : nil) }

        var cStep: (Bool) -> mk_cell_step {
            { d in mk_cell_step(gates: self.pair("gates", d), hidden: self.pair("hidden", d), h_prev: self.pair("hPrev", d),
                                h_new: self.pair("hNew", d), c_prev: self.pair("cPrev", d), c_new: self.pair("cNew", d),
                                extra: self.pair("extra", d)) }
        }
        var cGrads: (Bool) -> mk_cell_grads {
            { d in mk_cell_grads(top: self.pair("top", d), carry: self.pair("carry", d), cell_carry: self.pair("cellCarry", d),
                                 d_input: self.pair("dInput", d), d_hidden: self.pair("dHidden", d)) }
        }
        var refStep: (Bool) -> StepBuffers {
            { d in StepBuffers(gates: self.ref("gates", d), hidden: self.ref("hidden", d), hPrev: self.ref("hPrev", d),
                               hNew: self.ref("hNew", d), cPrev: self.ref("cPrev", d), cNew: self.ref("cNew", d),
                               extra: self.ref("extra", d)) }
        }
        var refGrads: (Bool) -> StepGradients {
            { d in StepGradients(top: self.ref("top", d), carry: self.ref("carry", d), cellCarry: self.ref("cellCarry", d),
                                 dInput: self.ref("dInput", d), dHidden: self.ref("dHidden", d)) }
        }

        func values(_ key: String) -> [Float] { Array(UnsafeBufferPointer(start: bufs[key]!, count: sizes[key]!)) }
    }

    /// Every buffer of a and b within tolerance (relative to the buffer's largest magnitude).
    static func expectClose(_ a: Step, _ b: Step, _ what: String) {
        for key in a.bufs.keys.sorted() {
            let x = a.values(key), y = b.values(key)
            let scale = max(x.map(\.magnitude).max() ?? 0, 1)
            for i in x.indices {
                #expect(abs(x[i] - y[i]) <= 4e-6 * scale, "\(what) \(key)[\(i)]: \(x[i]) vs \(y[i])")
                if abs(x[i] - y[i]) > 4e-6 * scale { return }
            }
        }
    }

    static func expectSameBits(_ a: Step, _ b: Step, _ what: String) {
        for key in a.bufs.keys.sorted() {
            #expect(a.values(key).map(\.bitPattern) == b.values(key).map(\.bitPattern), "\(what) \(key)")
        }
    }

    @Test func forwardAndBackwardMatchTheSwiftReference() {
        for cell in RecurrentCell.allCases {
            for (n, h) in Self.shapes {
                for dual in [false, true] {
                    let base = Step(n: n, h: h, gates: cell.gates, seed: UInt64(n * 1000 + h * 10) + (dual ? 1 : 0))
                    let want = Step(copying: base)
                    let probe = dual ? cell.forwardStep(Dual.self, Dual.self, n: n, h: h, want.refStep(true))
                                     : cell.forwardStep(Float.self, Float.self, n: n, h: h, want.refStep(false))
                    #expect(probe.isFinite)
                    if dual { cell.backwardStep(Dual.self, Dual.self, n: n, h: h, want.refStep(true), want.refGrads(true)) }
                    else { cell.backwardStep(Float.self, Float.self, n: n, h: h, want.refStep(false), want.refGrads(false)) }
                    var runs: [Int32: Step] = [:]
                    for isa in Self.isas {
                        let got = Step(copying: base)
                        var step = got.cStep(dual), grads = got.cGrads(dual)
                        #expect(mk_cell_forward_isa(isa, cell.kernelCode, dual ? 1 : 0, n, h, &step) == 0)
                        mk_cell_backward_isa(isa, cell.kernelCode, dual ? 1 : 0, n, h, &step, &grads)
                        Self.expectClose(got, want, "\(cell) dual \(dual) n \(n) h \(h) isa \(isa)")
                        runs[isa] = got
                    }
                    if let a = runs[1], let b = runs[2] { Self.expectSameBits(a, b, "\(cell) dual \(dual) n \(n) h \(h) avx2 vs avx512") }
                }
            }
        }
    }

    @Test func probeIsNaNExactlyWhenAPreActivationIsNotFinite() {
        for cell in RecurrentCell.allCases {
            for isa in Self.isas {
                for (n, h) in [(2, 41), (1, 9)] {
                    for spot in [0, n * cell.gates * h - 1] {
                        for dual: Int32 in [0, 1] {
                            let s = Step(n: n, h: h, gates: cell.gates, seed: 5)
                            s.bufs["hidden"]![spot] = .infinity
                            var step = s.cStep(dual == 1)
                            let probe = mk_cell_forward_isa(isa, cell.kernelCode, dual, n, h, &step)
                            // GRU's n block of `hidden` enters through r * hn: still a non-finite pre-activation.
                            #expect(probe.isNaN, "\(cell) isa \(isa) n \(n) h \(h) at \(spot) dual \(dual)")
                        }
                    }
                }
            }
        }
    }
}
