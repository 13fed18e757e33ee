import MAMLKernels
import MAMLPluginKit
import Testing
@testable import CNNNetwork

// MARK: - conv_ops.c: every kernel, on every build the CPU has, against plain loops
//
// Each kernel runs as build 0 (baseline), 1 (AVX2+FMA) and 2 (AVX-512), skipping builds
// the CPU lacks, and is compared with a scalar reference here; the AVX2 and AVX-512
// builds must agree bit for bit. Shapes cover odd widths (vector tails), maps smaller
// than the kernel, planes that are not contiguous (NCHW input) and padded row strides.

/// The builds this CPU can run.
private let builds: [Int32] = [0] + (mk_avx2_available() != 0 ? [1] : []) + (mk_avx512_available() != 0 ? [2] : [])

private func randoms(_ count: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in offset + scale * rng.nextFloat(symmetric: 1) }
}

@Suite struct ConvOpsTests {
    // MARK: im2col

    /// (channels, n, h, w, k, contiguous planes)
    static let im2colShapes: [(Int, Int, Int, Int, Int, Bool)] = [
        (1, 3, 28, 28, 3, true), (2, 2, 7, 5, 3, false), (3, 4, 3, 3, 3, true), (2, 3, 1, 2, 3, true),
        (1, 2, 2, 1, 5, false), (2, 2, 6, 9, 5, true), (3, 2, 4, 4, 1, false), (1, 5, 17, 3, 3, true),
    ]

    @Test(arguments: im2colShapes.indices)
    func im2colMatchesLoopsOnEveryBuild(index: Int) {
        let (channels, n, h, w, k, contiguous) = Self.im2colShapes[index]
        let plane = h * w, p = k / 2
        // Contiguous: CNHW (planes of one channel back to back); else NCHW (example-major).
        let cs = contiguous ? n * plane : plane, bs = contiguous ? plane : channels * plane
        let input = randoms(channels * n * plane, seed: UInt64(index + 1))
        let width = n * plane, ld = width + 3, rows = channels * k * k
        var want = [Float](repeating: 0, count: rows * width)
        for c in 0..<channels { for ky in 0..<k { for kx in 0..<k { for b in 0..<n { for y in 0..<h { for x in 0..<w {
            let iy = y + ky - p, ix = x + kx - p
            let value = iy >= 0 && iy < h && ix >= 0 && ix < w ? input[c * cs + b * bs + iy * w + ix] : 0
            want[((c * k + ky) * k + kx) * width + b * plane + y * w + x] = value
        } } } } } }
        for isa in builds {
            var cols = [Float](repeating: .nan, count: rows * ld)
            mk_im2col_same_isa(isa, input, channels, n, h, w, k, cs, bs, &cols, ld)
            for r in 0..<rows {
                #expect(Array(cols[(r * ld)..<(r * ld + width)]) == Array(want[(r * width)..<((r + 1) * width)]),
                        "build \(isa) row \(r)")
                let untouched = cols[(r * ld + width)..<((r + 1) * ld)].allSatisfy { $0.isNaN }
                #expect(untouched, "build \(isa): wrote past row \(r)")
            }
        }
        // The network's Conv2D.im2col takes this kernel for stride-1 "same" geometries.
        let geo = ConvGeometry(inChannels: channels, inHeight: h, inWidth: w, outChannels: 1, kernel: k, stride: 1, padding: p)
        #expect(geo.isSameStride1)
        var cols = [Float](repeating: .nan, count: rows * width)
        Conv2D.im2col(geo, input: input, n: n, channelStride: cs, batchStride: bs, cols: &cols)
        #expect(cols == want)
    }

    // MARK: Batch norm forward

    @Test(arguments: [1, 7, 16, 33, 300, 517])
    func batchNormForwardMatchesDoubleStatistics(m: Int) {
        let channels = 3
        let z = randoms(channels * m, seed: UInt64(m), scale: 2, offset: 3)
        let gamma: [Float] = [1, 0.5, -2], beta: [Float] = [0, 1, -0.25]
        var results: [Int32: ([Float], [Float], [Float])] = [:]
        for isa in builds {
            var zh = z, y = [Float](repeating: .nan, count: z.count), inv = [Float](repeating: .nan, count: channels)
            mk_bn_forward_isa(isa, &zh, channels, m, 1e-5, gamma, beta, &y, &inv)
            var zhOnly = z, invOnly = inv
            mk_bn_forward_isa(isa, &zhOnly, channels, m, 1e-5, gamma, beta, nil, &invOnly)  // y NULL: zh alone
            #expect(zhOnly == zh && invOnly == inv, "build \(isa)")
            for c in 0..<channels {
                let row = z[(c * m)..<((c + 1) * m)].map(Double.init)
                let mean = row.reduce(0, +) / Double(m)
                let s = 1 / (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(m) + 1e-5).squareRoot()
                #expect(abs(Double(inv[c]) - s) <= 1e-5 * s, "build \(isa) c \(c)")
                for i in 0..<m {
                    let h = (row[i] - mean) * s
                    #expect(abs(Double(zh[c * m + i]) - h) < 1e-4 * max(1, s), "build \(isa) c \(c) i \(i)")
                    #expect(abs(Double(y[c * m + i]) - (Double(gamma[c]) * h + Double(beta[c]))) < 1e-4 * max(1, s),
                            "build \(isa) c \(c) i \(i)")
                }
            }
            results[isa] = (zh, y, inv)
        }
        if let a = results[1], let b = results[2] { #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2, "AVX2 and AVX-512 differ") }
    }

    // MARK: Pooled blocks: affine, pool, ReLU forward; the fused backward

    /// (channels, n, h, w): odd sizes drop the last row / column as PyTorch's floor.
    static let poolShapes: [(Int, Int, Int, Int)] = [(2, 3, 4, 4), (3, 2, 5, 7), (1, 4, 28, 28), (2, 5, 3, 3), (2, 2, 2, 3), (3, 1, 14, 14)]

    @Test(arguments: poolShapes.indices)
    func normalisePoolReluMatchesLoops(index: Int) {
        let (channels, n, h, w) = Self.poolShapes[index]
        let plane = h * w, ho = h / 2, wo = w / 2
        let z = randoms(channels * n * plane, seed: UInt64(40 + index), scale: 2, offset: 0.5)
        let mean = (0..<channels).map { Float($0) * 0.2 + 0.4 }, inv = (0..<channels).map { 1 / (Float($0) + 1.5) }
        let gamma = (0..<channels).map { Float($0 % 2 == 0 ? 1.5 : -0.75) }, beta = (0..<channels).map { Float($0) * 0.1 - 0.1 }
        var results: [Int32: ([Float], [Float], [Int32], [Float])] = [:]
        for isa in builds {
            var zh = z, pool = [Float](repeating: .nan, count: channels * n * ho * wo)
            var arg = [Int32](repeating: -1, count: pool.count), win = pool
            mk_bn_pool_relu_isa(isa, &zh, channels, n, h, w, mean, inv, gamma, beta, &pool, &arg, &win)
            for c in 0..<channels { for i in 0..<(n * plane) {
                let want = (Double(z[c * n * plane + i]) - Double(mean[c])) * Double(inv[c])
                #expect(abs(Double(zh[c * n * plane + i]) - want) < 1e-6, "build \(isa): every element normalised")
            } }
            for c in 0..<channels { for b in 0..<n { for oy in 0..<ho { for ox in 0..<wo {
                let q = c * n + b
                var best = -Float.infinity, at = -1
                for dy in 0..<2 { for dx in 0..<2 {
                    let i = (2 * oy + dy) * w + 2 * ox + dx
                    let y = gamma[c] * zh[q * plane + i] + beta[c]
                    if y > best { best = y; at = i }
                } }
                let j = (q * ho + oy) * wo + ox
                #expect(Int(arg[j]) == at, "build \(isa) c \(c) b \(b) (\(oy), \(ox))")
                #expect(abs(pool[j] - max(best, 0)) <= 1e-6, "build \(isa)")
                #expect(win[j] == zh[q * plane + Int(arg[j])], "build \(isa): winner value")
            } } } }
            results[isa] = (zh, pool, arg, win)
        }
        if let a = results[1], let b = results[2] { #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3 == b.3, "AVX2 and AVX-512 differ") }
    }

    @Test(arguments: poolShapes.indices)
    func poolBackwardMatchesScatterAndBatchNormBackward(index: Int) {
        let (channels, n, h, w) = Self.poolShapes[index]
        let plane = h * w, ho = h / 2, wo = w / 2, m = n * plane, mp = n * ho * wo
        let zh = randoms(channels * m, seed: UInt64(70 + index))
        let gamma = (0..<channels).map { Float($0 % 2 == 0 ? 1.25 : -0.5) }, beta = [Float](repeating: 0.05, count: channels)
        let inv = (0..<channels).map { Float(1 + $0) * 0.7 }
        var pool = [Float](repeating: 0, count: channels * mp), arg = [Int32](repeating: 0, count: pool.count), win = pool
        var zhCopy = zh  // mean 0, inv_std 1: zh unchanged
        mk_bn_pool_relu_isa(0, &zhCopy, channels, n, h, w, [Float](repeating: 0, count: channels),
                            [Float](repeating: 1, count: channels), gamma, beta, &pool, &arg, &win)
        #expect(zhCopy == zh)
        if pool.count >= 16 { #expect(pool.contains { $0 == 0 } && pool.contains { $0 > 0 }, "the ReLU mask should matter") }
        let gOut = randoms(pool.count, seed: UInt64(90 + index))
        // Reference: mask, scatter into a zeroed map, batch-norm backward in Double.
        var full = [Double](repeating: 0, count: channels * m)
        for c in 0..<channels { for b in 0..<n { for j in 0..<(ho * wo) {
            let q = c * n + b, jj = q * ho * wo + j
            if pool[jj] > 0 { full[c * m + b * plane + Int(arg[jj])] = Double(gOut[jj]) }
        } } }
        var results: [Int32: ([Float], [Float], [Float], [Float])] = [:]
        for isa in builds {
            var g = gOut, dz = [Float](repeating: .nan, count: channels * m)
            var dg = [Float](repeating: .nan, count: channels), db = dg
            mk_bn_pool_backward_isa(isa, zh, inv, channels, n, h, w, gamma, &g, pool, arg, win, &dz, &dg, &db)
            #expect(g == zip(gOut, pool).map { $1 > 0 ? $0 : 0 }, "build \(isa): masked pooled gradient")
            for c in 0..<channels {
                let row = full[(c * m)..<((c + 1) * m)], hrow = zh[(c * m)..<((c + 1) * m)].map(Double.init)
                let a = row.reduce(0, +), bsum = zip(row, hrow).reduce(0) { $0 + $1.0 * $1.1 }
                #expect(abs(Double(db[c]) - a) < 1e-4 && abs(Double(dg[c]) - bsum) < 1e-4, "build \(isa) c \(c)")
                let scale = Double(inv[c]) * Double(gamma[c])
                for i in 0..<m {
                    let want = scale * (row[c * m + i] - a / Double(m) - hrow[i] * bsum / Double(m))
                    #expect(abs(Double(dz[c * m + i]) - want) < 1e-5, "build \(isa) c \(c) i \(i)")
                }
            }
            results[isa] = (g, dz, dg, db)
        }
        if let a = results[1], let b = results[2] {
            #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2 && a.3 == b.3, "AVX2 and AVX-512 differ")
        }
    }

    // MARK: Row sums and statistics

    @Test(arguments: [(1, 1), (3, 15), (2, 16), (4, 257), (2, 600)])
    func rowSumsAddToWhatIsThere(rows: Int, width: Int) {
        let ld = width + 5
        let x = randoms(rows * ld, seed: UInt64(rows * 1000 + width), scale: 3, offset: 1)
        var results: [Int32: [Double]] = [:]
        for isa in builds {
            var sums = (0..<rows).map { Double($0) + 0.5 }
            mk_row_sums_isa(isa, x, rows, width, ld, &sums)
            for r in 0..<rows {
                let want = Double(r) + 0.5 + x[(r * ld)..<(r * ld + width)].reduce(0) { $0 + Double($1) }
                #expect(abs(sums[r] - want) < 1e-4 * Double(width), "build \(isa) row \(r)")
            }
            results[isa] = sums
        }
        if let a = results[1], let b = results[2] { #expect(a == b, "AVX2 and AVX-512 differ") }
    }

    @Test(arguments: [1, 9, 16, 300, 1000])
    func statisticsFromGivenSums(m: Int) {
        let channels = 3
        let z = randoms(channels * m, seed: UInt64(m + 7), scale: 2, offset: 3)
        let sums = (0..<channels).map { c in z[(c * m)..<((c + 1) * m)].reduce(0) { $0 + Double($1) } }
        var results: [Int32: ([Float], [Float])] = [:]
        for isa in builds {
            var mean = [Float](repeating: .nan, count: channels), inv = mean
            mk_bn_stats_isa(isa, z, channels, m, 1e-5, sums, &mean, &inv)
            for c in 0..<channels {
                let row = z[(c * m)..<((c + 1) * m)].map(Double.init), mu = sums[c] / Double(m)
                let s = 1 / (row.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(m) + 1e-5).squareRoot()
                #expect(mean[c] == Float(mu), "build \(isa) c \(c)")
                #expect(abs(Double(inv[c]) - s) <= 1e-5 * s, "build \(isa) c \(c)")
            }
            results[isa] = (mean, inv)
        }
        if let a = results[1], let b = results[2] { #expect(a.0 == b.0 && a.1 == b.1, "AVX2 and AVX-512 differ") }
    }

    // MARK: Thin first layers as direct convolutions

    /// (cin, n, h, w, k, contiguous planes)
    static let thinShapes: [(Int, Int, Int, Int, Int, Bool)] = [
        (1, 3, 28, 28, 3, true), (1, 2, 5, 7, 3, true), (3, 2, 6, 17, 3, false), (1, 2, 1, 1, 3, true),
        (2, 1, 9, 33, 5, false), (1, 4, 16, 16, 1, true), (1, 2, 9, 40, 3, false), (1, 1, 5, 17, 3, true),
    ]

    @Test(arguments: thinShapes.indices)
    func thinConvolutionMatchesLoops(index: Int) {
        let (cin, n, h, w, k, contiguous) = Self.thinShapes[index]
        let cout = 5, plane = h * w, p = k / 2, kk = cin * k * k
        let cs = contiguous ? n * plane : plane, bs = contiguous ? plane : cin * plane
        let input = randoms(cin * n * plane, seed: UInt64(200 + index))
        let weight = randoms(cout * kk, seed: UInt64(300 + index))
        let gout = randoms(cout * n * plane, seed: UInt64(400 + index))
        func x(_ c: Int, _ b: Int, _ y: Int, _ xx: Int) -> Double {
            y >= 0 && y < h && xx >= 0 && xx < w ? Double(input[c * cs + b * bs + y * w + xx]) : 0
        }
        var want = [Double](repeating: 0, count: cout * n * plane), wantGrad = [Double](repeating: 0, count: cout * kk)
        for o in 0..<cout { for b in 0..<n { for y in 0..<h { for xx in 0..<w {
            var s = 0.0
            for c in 0..<cin { for ky in 0..<k { for kx in 0..<k {
                let v = x(c, b, y + ky - p, xx + kx - p)
                s += Double(weight[o * kk + (c * k + ky) * k + kx]) * v
                wantGrad[o * kk + (c * k + ky) * k + kx] += Double(gout[o * n * plane + b * plane + y * w + xx]) * v
            } } }
            want[o * n * plane + b * plane + y * w + xx] = s
        } } } }
        let ldo = n * plane + 7  // a row stride wider than the rows
        var results: [Int32: ([Float], [Double], [Double])] = [:]
        for isa in builds {
            var out = [Float](repeating: .nan, count: cout * ldo), sums = [Double](repeating: 1, count: cout)
            var pad = [Float](repeating: .nan, count: mk_conv_thin_scratch(cin, n, h, w, k))
            mk_conv_thin_forward_isa(isa, input, cin, n, h, w, k, cs, bs, weight, cout, &out, ldo, &sums, &pad)
            for o in 0..<cout {
                for i in 0..<(n * plane) {
                    #expect(abs(Double(out[o * ldo + i]) - want[o * n * plane + i]) < 1e-5, "build \(isa) o \(o) i \(i)")
                }
                let untouched = out[(o * ldo + n * plane)..<((o + 1) * ldo)].allSatisfy { $0.isNaN }
                #expect(untouched, "build \(isa): wrote past row \(o)")
                let rowSum = want[(o * n * plane)..<((o + 1) * n * plane)].reduce(0, +)
                #expect(abs(sums[o] - 1 - rowSum) < 1e-4, "build \(isa): sums add to what is there")
            }
            var acc = [Double](repeating: 0.5, count: cout * kk)
            pad = [Float](repeating: .nan, count: pad.count)
            mk_conv_thin_weight_grad_isa(isa, input, cin, n, h, w, k, cs, bs, gout, cout, n * plane, &acc, &pad)
            for i in 0..<(cout * kk) { #expect(abs(acc[i] - 0.5 - wantGrad[i]) < 1e-4, "build \(isa) weight \(i)") }
            results[isa] = (out, sums, acc)
        }
        if let a = results[1], let b = results[2] {
            #expect(a.0.elementsEqual(b.0) { $0 == $1 || ($0.isNaN && $1.isNaN) } && a.1 == b.1 && a.2 == b.2,
                    "AVX2 and AVX-512 differ")
        }
    }

    /// (cin, n, h, w, k): 28x28 glyphs; planes that are not a multiple of 16 floats or of batch
    /// norm's 256-float chunks (so chunks span planes); a plane of exactly one chunk; 1x1 kernels;
    /// rows of three vectors (the 3x3 kernel's pairs and a last single one) and an odd height.
    static let fusedShapes: [(Int, Int, Int, Int, Int)] = [
        (1, 3, 28, 28, 3), (1, 3, 6, 8, 3), (2, 2, 5, 7, 3), (1, 5, 10, 10, 3), (1, 2, 16, 16, 3), (3, 1, 4, 18, 1),
        (1, 2, 3, 3, 5), (1, 2, 7, 40, 3),
    ]

    /// The first block's forward through the unfused kernels (input NCHW, as the network's x):
    /// zh [cout, n*h*w], the statistics and the pooled outputs.
    static func unfusedFirstBlock(_ isa: Int32, _ input: [Float], cin: Int, n: Int, h: Int, w: Int, k: Int,
                                  weight: [Float], gamma: [Float], beta: [Float])
        -> (zh: [Float], mean: [Float], inv: [Float], pool: [Float], arg: [Int32], win: [Float]) {
        let cout = gamma.count, plane = h * w, mp = n * (h / 2) * (w / 2)
        var z = [Float](repeating: .nan, count: cout * n * plane), sums = [Double](repeating: 0, count: cout)
        var pad = [Float](repeating: .nan, count: mk_conv_thin_scratch(cin, n, h, w, k))
        mk_conv_thin_forward_isa(isa, input, cin, n, h, w, k, plane, cin * plane, weight, cout, &z, n * plane, &sums, &pad)
        var mean = [Float](repeating: .nan, count: cout), inv = mean
        mk_bn_stats_isa(isa, z, cout, n * plane, 1e-5, sums, &mean, &inv)
        var pool = [Float](repeating: .nan, count: cout * mp), arg = [Int32](repeating: -1, count: pool.count), win = pool
        mk_bn_pool_relu_isa(isa, &z, cout, n, h, w, mean, inv, gamma, beta, &pool, &arg, &win)
        return (z, mean, inv, pool, arg, win)
    }

    /// The fused first-block forward gives exactly what the three kernels give, on every build,
    /// and writes nothing but its outputs' ranges.
    @Test(arguments: fusedShapes.indices)
    func fusedFirstBlockForwardIsConvolutionStatisticsThenPool(index: Int) {
        let (cin, n, h, w, k) = Self.fusedShapes[index]
        let cout = 3, plane = h * w, mp = n * (h / 2) * (w / 2)
        // Inputs with a large mean: the variance sweep around it is what keeps precision.
        let input = randoms(cin * n * plane, seed: UInt64(800 + index), offset: 3)
        let weight = randoms(cout * cin * k * k, seed: UInt64(900 + index))
        let gamma: [Float] = [1.2, -0.7, 0.4], beta: [Float] = [0.1, -0.2, 0]
        for isa in builds {
            let want = Self.unfusedFirstBlock(isa, input, cin: cin, n: n, h: h, w: w, k: k, weight: weight,
                                              gamma: gamma, beta: beta)
            var mean = [Float](repeating: .nan, count: cout), inv = mean
            var pool = [Float](repeating: .nan, count: cout * mp + 1), arg = [Int32](repeating: -1, count: pool.count)
            var win = pool, zp = [Float](repeating: .nan, count: plane)
            var pad = [Float](repeating: .nan, count: mk_conv_thin_scratch(cin, n, h, w, k))
            mk_bn_pool_relu_thin_isa(isa, input, cin, n, h, w, k, plane, cin * plane, weight, cout, 1e-5, gamma, beta,
                                     &mean, &inv, &pool, &arg, &win, &pad, &zp)
            #expect(mean == want.mean && inv == want.inv, "build \(isa): statistics")
            #expect(Array(pool.prefix(cout * mp)) == want.pool && Array(arg.prefix(cout * mp)) == want.arg
                    && Array(win.prefix(cout * mp)) == want.win, "build \(isa): pooled outputs")
            #expect(pool.last!.isNaN && arg.last! == -1 && win.last!.isNaN, "build \(isa): wrote past the outputs")
            if mp >= 8 { #expect(pool.contains { $0 > 0 } && pool.contains { $0 == 0 }, "ReLU passes some, not all") }
        }
    }

    /// The fused first-block backward gives exactly what the two kernels give on the stored map.
    @Test(arguments: [(1, 3, 6, 8, 3), (1, 2, 28, 28, 3), (2, 2, 5, 7, 3), (3, 1, 4, 18, 1), (1, 2, 7, 40, 3)])
    func fusedFirstBlockBackwardIsBackwardThenWeightGradient(cin: Int, n: Int, h: Int, w: Int, k: Int) {
        let cout = 3, plane = h * w, mp = n * (h / 2) * (w / 2), kk = cin * k * k
        let input = randoms(cin * n * plane, seed: UInt64(500 + h)), weight = randoms(cout * kk, seed: UInt64(600 + w))
        let gamma: [Float] = [1.2, -0.7, 0.4], beta: [Float] = [0.1, -0.2, 0]
        let gOut = randoms(cout * mp, seed: UInt64(700 + n))
        for isa in builds {
            let f = Self.unfusedFirstBlock(isa, input, cin: cin, n: n, h: h, w: w, k: k, weight: weight,
                                           gamma: gamma, beta: beta)
            var g1 = gOut, dz = [Float](repeating: .nan, count: cout * n * plane), dg1 = [Float](repeating: .nan, count: cout)
            var db1 = dg1, acc1 = [Double](repeating: 0, count: cout * kk)
            var pad = [Float](repeating: .nan, count: mk_conv_thin_scratch(cin, n, h, w, k))
            mk_bn_pool_backward_isa(isa, f.zh, f.inv, cout, n, h, w, gamma, &g1, f.pool, f.arg, f.win, &dz, &dg1, &db1)
            mk_conv_thin_weight_grad_isa(isa, input, cin, n, h, w, k, plane, cin * plane, dz, cout, n * plane, &acc1, &pad)
            var g2 = gOut, dg2 = [Float](repeating: .nan, count: cout), db2 = dg2, acc2 = [Double](repeating: 0, count: cout * kk)
            var zp = [Float](repeating: .nan, count: plane)
            pad = [Float](repeating: .nan, count: pad.count)
            mk_bn_pool_backward_thin_isa(isa, weight, f.mean, f.inv, cout, n, h, w, gamma, &g2, f.pool, f.arg, f.win,
                                         &dg2, &db2, input, cin, k, plane, cin * plane, &acc2, &pad, &zp)
            #expect(g1 == g2 && dg1 == dg2 && db1 == db2 && acc1 == acc2, "build \(isa)")
            #expect(acc1.contains { $0 != 0 })
        }
    }

    // MARK: Weight flip

    @Test func flipRotatesKernelsAndSwapsChannels() {
        let cout = 3, cin = 2, k = 3
        let w = (0..<(cout * cin * k * k)).map(Float.init)
        var wt = [Float](repeating: .nan, count: w.count), back = wt
        mk_conv_flip(w, cout, cin, k, &wt)
        for o in 0..<cout { for c in 0..<cin { for ky in 0..<k { for kx in 0..<k {
            #expect(wt[((c * cout + o) * k + (k - 1 - ky)) * k + (k - 1 - kx)] == w[((o * cin + c) * k + ky) * k + kx])
        } } } }
        mk_conv_flip(wt, cin, cout, k, &back)
        #expect(back == w)
        // The weight gradient as gcols in^T: [cout, k, k, cin], kernels rotated.
        let g = (0..<(cout * k * k * cin)).map(Float.init)
        var fromG = [Float](repeating: .nan, count: g.count)
        mk_conv_unflip_t(g, cout, cin, k, &fromG)
        for o in 0..<cout { for c in 0..<cin { for ky in 0..<k { for kx in 0..<k {
            #expect(fromG[((o * cin + c) * k + ky) * k + kx] == g[((o * k + (k - 1 - ky)) * k + (k - 1 - kx)) * cin + c])
        } } } }
    }
}
