// Element-wise passes of the conv backbone (Plugins/CNN): see include/maml_kernels.h.
//
// Three builds of one body, as small_gemm.c: AVX-512 (F+VL, FMA), AVX2+FMA and baseline,
// the build picked by mk_active_isa(). Every body works on 16-float vectors (clang vector
// extensions: one zmm, two ymm or four xmm), so the AVX2 and AVX-512 builds do the same
// operations per element in the same order (FMA in both): their results are bit-identical.
// The baseline build has no FMA and may differ in the last bits.
//
// Why these kernels (conv4 on 28x28 glyphs, one core): after the GEMMs, the time went to
// im2col's short row copies, batch norm's separate sweeps, max-pool's scatter into zeroed
// maps and the first block's K = 9 GEMMs, over maps of up to 64 x 75 x 784 floats. Here:
//   im2col   stride 1, "same" padding: each cols row is the input shifted by (ky-p, kx-p),
//            i.e. one long shifted copy of all n planes, then the border rows and
//            columns zeroed (no call per output row); rows may be padded (ld).
//   BN       the mean from row sums of the GEMM's output chunks (mk_row_sums, in cache),
//            the variance in one sweep (mk_bn_stats); pooled blocks then normalise and
//            pool each plane while it is in L1, never storing y = gamma zh + beta, and
//            keep zh at the winners for backward.
//   BN back  (pooled) the statistics from pooled-size arrays (masked gradient, winners'
//            zh), no scatter into a zeroed map; one sweep writes dz, plane by plane.
//   thin     the first block (1-3 input channels): direct convolution and weight gradient
//            over zero-padded image copies instead of K = 9 GEMMs; its backward fused with
//            batch norm's, so its dz is never stored.
// Sums: 16-float accumulators over chunks of 256, Double across chunks (the Swift code's scheme).
#include "isa.h"
#include <math.h>
#include <string.h>

#pragma clang diagnostic ignored "-Wpsabi"
typedef float cv16 __attribute__((vector_size(64)));
typedef int ci16 __attribute__((vector_size(64)));
#define AI static inline __attribute__((always_inline))
enum { CHUNK = 256 };

AI cv16 vld(const float *p) { cv16 v; memcpy(&v, p, sizeof v); return v; }
AI void vst(float *p, cv16 v) { memcpy(p, &v, sizeof v); }
AI cv16 vsplat(float x) { return (cv16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
/// Fixed pairwise order, the same in every build.
AI float vsum(cv16 v) {
    float s[16];
    memcpy(s, &v, sizeof s);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) s[i] += s[i + w];
    return s[0];
}

AI void vcopy(float *dst, const float *src, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16) vst(dst + i, vld(src + i));
    for (; i < n; i++) dst[i] = src[i];
}

/// A zero the compiler cannot see: im2col zeroes thousands of runs of a few floats per call,
/// and clang would turn each into a memset call.
static volatile float opaque_zero = 0;

AI void vzero(float *dst, long n, float zero) {
    long i = 0;
    for (; i + 16 <= n; i += 16) vst(dst + i, vsplat(zero));
    for (; i < n; i++) dst[i] = zero;
}

// MARK: - im2col, stride 1, "same" padding

/// Rows ky, kx of channel c: dst (nplanes planes of h x w, back to back) = src shifted by (dy, dx), zero outside.
/// src planes are pstride apart; when pstride == h*w, one copy covers all of them.
AI void shifted_planes(const float *src, long nplanes, long pstride, long h, long w, long dy, long dx, float *dst,
                       float zero) {
    const long plane = h * w, s = dy * w + dx;
    const long runs = pstride == plane ? 1 : nplanes, len = pstride == plane ? nplanes * plane : plane;
    for (long r = 0; r < runs; r++) {
        const float *sp = src + r * pstride;
        float *dp = dst + r * len;
        long lo = s < 0 ? -s : 0, hi = s > 0 ? len - s : len;
        if (lo > len) lo = len;
        if (hi < lo) hi = lo;
        vzero(dp, lo, zero);
        vcopy(dp + lo, sp + lo + s, hi - lo);
        vzero(dp + hi, len - hi, zero);
    }
    // The flat copy wrapped across row and plane edges: zero what lies in the padding.
    const long ady = dy < 0 ? -dy : dy, adx = dx < 0 ? -dx : dx;
    const long zr = ady < h ? ady : h, zc = adx < w ? adx : w;
    for (long b = 0; b < nplanes; b++) {
        float *dp = dst + b * plane;
        if (zr) vzero(dp + (dy < 0 ? 0 : (h - zr) * w), zr * w, zero);
        if (zc)
            for (long y = 0; y < h; y++) {
                float *row = dp + y * w + (dx < 0 ? 0 : w - zc);
                for (long x = 0; x < zc; x++) row[x] = zero;
            }
    }
}

AI void im2col_body(const float *in, long channels, long n, long h, long w, long k,
                    long cstride, long bstride, float *cols, long ld) {
    const long p = k / 2;
    const float zero = opaque_zero;
    for (long c = 0; c < channels; c++)
        for (long ky = 0; ky < k; ky++)
            for (long kx = 0; kx < k; kx++)
                shifted_planes(in + c * cstride, n, bstride, h, w, ky - p, kx - p, cols + ((c * k + ky) * k + kx) * ld, zero);
}

// MARK: - Batch norm: statistics and the normalised map

/// sum x (y NULL) or sum x y over n floats: 16-float sums per chunk of 256, Double across chunks.
AI double chunked_sum(const float *x, const float *y, long n) {
    double total = 0;
    for (long start = 0; start < n; start += CHUNK) {
        const long len = n - start < CHUNK ? n - start : CHUNK;
        const float *xp = x + start, *yp = y ? y + start : 0;
        cv16 acc = vsplat(0);
        long i = 0;
        if (yp) for (; i + 16 <= len; i += 16) acc += vld(xp + i) * vld(yp + i);
        else for (; i + 16 <= len; i += 16) acc += vld(xp + i);
        float s = vsum(acc);
        if (yp) for (; i < len; i++) s += xp[i] * yp[i];
        else for (; i < len; i++) s += xp[i];
        total += s;
    }
    return total;
}

/// sum (x - mu)^2, chunked as chunked_sum.
AI double chunked_sqdev(const float *x, float mu, long n) {
    double total = 0;
    const cv16 mv = vsplat(mu);
    for (long start = 0; start < n; start += CHUNK) {
        const long len = n - start < CHUNK ? n - start : CHUNK;
        const float *xp = x + start;
        cv16 acc = vsplat(0);
        long i = 0;
        for (; i + 16 <= len; i += 16) { cv16 d = vld(xp + i) - mv; acc += d * d; }
        float s = vsum(acc);
        for (; i < len; i++) { float d = xp[i] - mu; s += d * d; }
        total += s;
    }
    return total;
}

AI void bn_forward_body(float *z, long channels, long m, float eps, const float *gamma, const float *beta,
                        float *y, float *inv_std) {
    for (long c = 0; c < channels; c++) {
        float *row = z + c * m, *yr = y ? y + c * m : 0;
        const double mean = chunked_sum(row, 0, m) / (double)m;
        const double sq = chunked_sqdev(row, (float)mean, m);
        const double s = 1 / sqrt(sq / (double)m + (double)eps);
        inv_std[c] = (float)s;
        const float mu = (float)mean, sf = (float)s, g = gamma[c], b = beta[c];
        const cv16 muv = vsplat(mu), sv = vsplat(sf), gv = vsplat(g), bv = vsplat(b);
        long i = 0;
        for (; i + 16 <= m; i += 16) {
            cv16 h = (vld(row + i) - muv) * sv;
            vst(row + i, h);
            if (yr) vst(yr + i, gv * h + bv);
        }
        for (; i < m; i++) {
            float h = (row[i] - mu) * sf;
            row[i] = h;
            if (yr) yr[i] = g * h + b;
        }
    }
}

/// sums[r] += sum of row r (chunked as chunked_sum): the GEMM's output chunk, while in cache.
AI void row_sums_body(const float *x, long rows, long width, long ld, double *sums) {
    for (long r = 0; r < rows; r++) sums[r] += chunked_sum(x + r * ld, 0, width);
}

/// mean[c] = sums[c] / m, inv_std[c] = 1/sqrt(mean (z - mean)^2 + eps): one sweep (the sums are given).
AI void bn_stats_body(const float *z, long channels, long m, float eps, const double *sums, float *mean, float *inv_std) {
    for (long c = 0; c < channels; c++) {
        const float mu = (float)(sums[c] / (double)m);
        const double sq = chunked_sqdev(z + c * m, mu, m);
        mean[c] = mu;
        inv_std[c] = (float)(1 / sqrt(sq / (double)m + (double)eps));
    }
}

AI cv16 vsel(ci16 m, cv16 a, cv16 b) {  // m ? a : b per lane (m is 0 or -1)
    ci16 ai, bi;
    memcpy(&ai, &a, sizeof ai); memcpy(&bi, &b, sizeof bi);
    ai = (ai & m) | (bi & ~m);
    memcpy(&a, &ai, sizeof a);
    return a;
}

/// The 2x2 windows of one normalised plane (see mk_bn_pool_relu), 16 windows of a row pair at a
/// time: even and odd columns split by shuffles, the four candidates compared in scan order.
AI void pool_plane(const float *src, long h, long w, float g, float b, float *dst, int *arg, float *win) {
    const long ho = h / 2, wo = w / 2;
    const cv16 gv = vsplat(g), bv = vsplat(b), zero = vsplat(0);
    const ci16 lane2 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    for (long oy = 0; oy < ho; oy++) {
        const float *r0 = src + 2 * oy * w, *r1 = r0 + w;
        for (long ox0 = 0; ox0 < wo; ox0 += 16) {
            const long cnt = wo - ox0 < 16 ? wo - ox0 : 16;
            float t0[32], t1[32];
            const float *p0 = r0 + 2 * ox0, *p1 = r1 + 2 * ox0;
            if (cnt < 16) {  // a short row: zero-padded copies, never reading past the row
                for (long i = 0; i < 32; i++) { t0[i] = i < 2 * cnt ? p0[i] : 0; t1[i] = i < 2 * cnt ? p1[i] : 0; }
                p0 = t0; p1 = t1;
            }
            const cv16 l0 = vld(p0), h0 = vld(p0 + 16), l1 = vld(p1), h1 = vld(p1 + 16);
            const cv16 e0 = __builtin_shufflevector(l0, h0, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const cv16 o0 = __builtin_shufflevector(l0, h0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            const cv16 e1 = __builtin_shufflevector(l1, h1, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const cv16 o1 = __builtin_shufflevector(l1, h1, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            const int base = (int)(2 * oy * w + 2 * ox0), wi = (int)w;
            ci16 at = lane2 + base;
            cv16 best = gv * e0 + bv, hz = e0;
            cv16 v = gv * o0 + bv;
            ci16 m = v > best;
            best = vsel(m, v, best); hz = vsel(m, o0, hz); at = (m & (lane2 + (base + 1))) | (~m & at);
            v = gv * e1 + bv; m = v > best;
            best = vsel(m, v, best); hz = vsel(m, e1, hz); at = (m & (lane2 + (base + wi))) | (~m & at);
            v = gv * o1 + bv; m = v > best;
            best = vsel(m, v, best); hz = vsel(m, o1, hz); at = (m & (lane2 + (base + wi + 1))) | (~m & at);
            best = vsel(best > zero, best, zero);
            float *d = dst + oy * wo + ox0, *hw = win + oy * wo + ox0;
            int *ar = arg + oy * wo + ox0;
            if (cnt == 16) { vst(d, best); vst(hw, hz); memcpy(ar, &at, sizeof at); }
            else {
                float tb[16], th[16];
                int ta[16];
                vst(tb, best); vst(th, hz); memcpy(ta, &at, sizeof ta);
                for (long i = 0; i < cnt; i++) { d[i] = tb[i]; hw[i] = th[i]; ar[i] = ta[i]; }
            }
        }
    }
}

// MARK: - Pooled blocks: normalise, affine map, 2x2 max-pool and ReLU in one sweep

/// Per channel c and plane (n planes of h x w): z <- zh = (z - mean) inv_std (every element), then
/// pool = relu(max over each 2x2 window of gamma zh + beta), argmax = the winner's index in its
/// plane (first maximum in scan order), winner = zh there. The plane is still in L1 when pooled.
AI void bn_pool_relu_body(float *z, long channels, long n, long h, long w, const float *mean, const float *inv_std,
                          const float *gamma, const float *beta, float *pool, int *argmax, float *winner) {
    const long ho = h / 2, wo = w / 2, plane = h * w, oplane = ho * wo;
    for (long c = 0; c < channels; c++) {
        const float g = gamma[c], b = beta[c], mu = mean[c], s = inv_std[c];
        const cv16 muv = vsplat(mu), sv = vsplat(s);
        for (long q = c * n; q < (c + 1) * n; q++) {
            float *src = z + q * plane;
            long i = 0;
            for (; i + 16 <= plane; i += 16) vst(src + i, (vld(src + i) - muv) * sv);
            for (; i < plane; i++) src[i] = (src[i] - mu) * s;
            pool_plane(src, h, w, g, b, pool + q * oplane, argmax + q * oplane, winner + q * oplane);
        }
    }
}

// MARK: - Pooled blocks: ReLU mask, scatter to the winners and batch-norm backward in one sweep

/// Coefficients of one channel's dz: dz = sc (g - ma - zh mb).
typedef struct { float ma, mb, sc; } bn_coefficients;

/// Channel c's pooled gradient g (mp floats) masked in place where pool <= 0, its sums into
/// dgamma, dbeta, and the coefficients of dz (m = n*h*w positions per channel).
AI bn_coefficients bn_pool_sums(float *g, const float *pl, const float *wc, long mp, long m, float inv_std,
                                float gamma, float *dgamma, float *dbeta) {
    long i = 0;
    for (; i + 16 <= mp; i += 16) {
        ci16 keep = vld(pl + i) > vsplat(0), gv;  // lanes -1 where pool > 0
        memcpy(&gv, g + i, sizeof gv);
        gv &= keep;
        memcpy(g + i, &gv, sizeof gv);
    }
    for (; i < mp; i++) g[i] = pl[i] > 0 ? g[i] : 0;
    const double a = chunked_sum(g, 0, mp), bsum = chunked_sum(g, wc, mp);
    *dgamma = (float)bsum; *dbeta = (float)a;
    return (bn_coefficients){(float)(a / (double)m), (float)(bsum / (double)m), inv_std * gamma};
}

/// One plane of dz: every position from zh, then the winners with their gradient.
AI void bn_pool_dz_plane(const float *hq, const float *gq, const float *wq, const int *aq, long plane, long oplane,
                         bn_coefficients k, float *oq) {
    const cv16 mav = vsplat(k.ma), mbv = vsplat(k.mb), scv = vsplat(k.sc);
    long i = 0;
    for (; i + 16 <= plane; i += 16) vst(oq + i, scv * (vsplat(0) - mav - vld(hq + i) * mbv));
    for (; i < plane; i++) oq[i] = k.sc * (0 - k.ma - hq[i] * k.mb);
    for (long j = 0; j < oplane; j++) oq[aq[j]] = k.sc * (gq[j] - k.ma - wq[j] * k.mb);
}

/// Per channel: gp (pooled gradient, masked in place where pool <= 0); dz (n planes of h x w) =
/// s gamma (g - mean g - zh mean(g zh)) with g = gp at the winners, 0 elsewhere; sums into dgamma,
/// dbeta. The sums read only pooled-size arrays (winner holds zh at the winners).
AI void bn_pool_backward_body(const float *zh, const float *inv_std, long channels, long n, long h, long w,
                              const float *gamma, float *gp, const float *pool, const int *argmax,
                              const float *winner, float *dz, float *dgamma, float *dbeta) {
    const long ho = h / 2, wo = w / 2, plane = h * w, oplane = ho * wo, m = n * plane, mp = n * oplane;
    for (long c = 0; c < channels; c++) {
        float *g = gp + c * mp;
        const float *wc = winner + c * mp, *hc = zh + c * m;
        const bn_coefficients k = bn_pool_sums(g, pool + c * mp, wc, mp, m, inv_std[c], gamma[c], dgamma + c, dbeta + c);
        for (long q = 0; q < n; q++)  // plane by plane: the winners' fix-up finds the plane in L1
            bn_pool_dz_plane(hc + q * plane, g + q * oplane, wc + q * oplane, argmax + c * mp + q * oplane, plane,
                             oplane, k, dz + c * m + q * plane);
    }
}

// MARK: - Thin first layers (few input channels) as direct convolutions

// conv4's first block has one input channel: as a GEMM, K = 9, so the product is bound by
// writing and re-reading its 64 x n*784 output (OpenBLAS: ~14 GFLOP/s, 3% of the flops and
// ~8% of the GEMM time at 75 examples). Direct loops over zero-padded copies of the input
// planes write each output once, and batch norm's sums come along.

/// Zero-padded copies of images [0, n) (cin planes each, (h+2p) x (w+2p), image-major) into pad.
AI void pad_planes(const float *in, long cin, long n, long h, long w, long p, long cstride, long bstride, float *pad) {
    const long ph = h + 2 * p, pw = w + 2 * p;
    for (long b = 0; b < n; b++)
        for (long c = 0; c < cin; c++) {
            float *dst = pad + (b * cin + c) * ph * pw;
            const float *src = in + b * bstride + c * cstride;
            for (long i = 0; i < ph * pw; i++) dst[i] = 0;
            for (long y = 0; y < h; y++) vcopy(dst + (y + p) * pw + p, src + y * w, w);
        }
    for (long i = 0; i < 16; i++) pad[n * cin * ph * pw + i] = 0;  // read by the last row's vectors
}

/// Lanes x0 .. x0+15 that lie inside a row of w: all ones, else zero.
AI ci16 lanes_below(long left) {
    const ci16 idx = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int l = left < 16 ? (int)left : 16;
    return idx < (ci16){l, l, l, l, l, l, l, l, l, l, l, l, l, l, l, l};
}

AI cv16 masked(cv16 v, ci16 keep) { ci16 u; memcpy(&u, &v, sizeof u); u &= keep; memcpy(&v, &u, sizeof v); return v; }

// Rows of w >= 16 floats are covered by vectors at x = 0, 16, ... and a last one at x = w - 16,
// overlapping the one before: full-width loads and stores, no scalar tails. The overlap's
// lanes are stored twice with the same value and masked out of the sums. Rows narrower than
// 16 go through a zero-padded stack vector.

/// Start of the v-th vector of a row of w floats (nvec = row_vectors(w) of them).
AI long vec_start(long v, long w) { return w >= 16 && 16 * v + 16 > w ? w - 16 : 16 * v; }
AI long row_vectors(long w) { return (w + 15) / 16; }
/// Lanes of vector v not already covered by vector v - 1.
AI ci16 fresh_lanes(long v, long w) {
    const ci16 idx = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    if (w < 16) return lanes_below(w);
    const int skip = (int)(16 * v - vec_start(v, w));  // 0 except for an overlapping last vector
    return idx >= (ci16){skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip, skip};
}

AI cv16 load_row(const float *g, long x, long w) {
    if (w >= 16) return vld(g + x);
    float t[16];
    for (int i = 0; i < 16; i++) t[i] = i < w ? g[i] : 0;
    return vld(t);
}

AI void store_row(float *dst, long x, long w, cv16 v) {
    if (w >= 16) { vst(dst + x, v); return; }
    float t[16];
    vst(t, v);
    for (long i = 0; i < w; i++) dst[i] = t[i];
}

AI void conv_thin_forward_body(const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride,
                               const float *weight, long cout, float *out, long ldo, double *sums, float *pad) {
    const long p = k / 2, ph = h + 2 * p, pw = w + 2 * p, plane = h * w, kk = cin * k * k, nv = row_vectors(w);
    pad_planes(in, cin, n, h, w, p, cstride, bstride, pad);
    for (long co = 0; co < cout; co++) {
        const float *wt = weight + co * kk;
        double total = 0;
        for (long b = 0; b < n; b++) {
            float *dst = out + co * ldo + b * plane;
            const float *pb = pad + b * cin * ph * pw;
            cv16 rowsum = vsplat(0);
            for (long v = 0; v < nv; v++) {
                const long x = vec_start(v, w);
                const ci16 keep = fresh_lanes(v, w);
                long y = 0;
                for (; y + 4 <= h; y += 4) {  // four rows: four independent FMA chains
                    cv16 a0 = vsplat(0), a1 = a0, a2 = a0, a3 = a0;
                    for (long c = 0; c < cin; c++)
                        for (long ky = 0; ky < k; ky++) {
                            const float *src = pb + (c * ph + y + ky) * pw + x;
                            for (long kx = 0; kx < k; kx++) {
                                const cv16 wv = vsplat(wt[(c * k + ky) * k + kx]);
                                a0 += wv * vld(src + kx); a1 += wv * vld(src + pw + kx);
                                a2 += wv * vld(src + 2 * pw + kx); a3 += wv * vld(src + 3 * pw + kx);
                            }
                        }
                    store_row(dst + y * w, x, w, a0); store_row(dst + (y + 1) * w, x, w, a1);
                    store_row(dst + (y + 2) * w, x, w, a2); store_row(dst + (y + 3) * w, x, w, a3);
                    rowsum += masked((a0 + a1) + (a2 + a3), keep);
                }
                for (; y < h; y++) {
                    cv16 acc = vsplat(0);
                    for (long c = 0; c < cin; c++)
                        for (long ky = 0; ky < k; ky++) {
                            const float *src = pb + (c * ph + y + ky) * pw + x;
                            for (long kx = 0; kx < k; kx++) acc += vsplat(wt[(c * k + ky) * k + kx]) * vld(src + kx);
                        }
                    store_row(dst + y * w, x, w, acc);
                    rowsum += masked(acc, keep);
                }
            }
            total += vsum(rowsum);
        }
        if (sums) sums[co] += total;
    }
}

/// Taps [T0, T0 + NT) (inputs SRC[0..<NT]) of one image and output channel: acc += g . shifted input.
#define THIN_TAPS(NT, SRC, T0)                                                                       \
    do {                                                                                             \
        cv16 s_[NT];                                                                                 \
        for (int q_ = 0; q_ < NT; q_++) s_[q_] = vsplat(0);                                          \
        for (long v = 0; v < nv; v++) {                                                              \
            const long x = vec_start(v, w);                                                          \
            const ci16 keep = fresh_lanes(v, w);                                                     \
            for (long y = 0; y < h; y++) {                                                           \
                const cv16 gv = masked(load_row(g + y * w, x, w), keep);                             \
                for (int q_ = 0; q_ < NT; q_++) s_[q_] += gv * vld((SRC)[q_] + y * pw + x);          \
            }                                                                                        \
        }                                                                                            \
        for (int q_ = 0; q_ < NT; q_++) acc[T0 + q_] += vsum(s_[q_]);                                \
    } while (0)

/// acc[t] += g (one h x w plane) . tap t of padded image b (pad from pad_planes), for all cin*k*k taps.
AI void thin_taps_image(const float *g, const float *pad, long b, long cin, long h, long w, long k, double *acc) {
    const long p = k / 2, ph = h + 2 * p, pw = w + 2 * p, kk = cin * k * k, nv = row_vectors(w);
    for (long t0 = 0; t0 < kk; t0 += 9) {  // 9 taps at once (a 3x3 kernel's), each its own accumulator
        const float *src[9];
        for (long j = 0; j < 9 && t0 + j < kk; j++) {
            const long t = t0 + j, c = t / (k * k), ky = t / k % k, kx = t % k;
            src[j] = pad + (b * cin + c) * ph * pw + ky * pw + kx;
        }
        if (kk - t0 >= 9) THIN_TAPS(9, src, t0);
        else
            for (long j = 0; j < kk - t0; j++) THIN_TAPS(1, src + j, t0 + j);  // the last few taps
    }
}
#undef THIN_TAPS

AI void conv_thin_weight_grad_body(const float *in, long cin, long n, long h, long w, long k, long cstride,
                                   long bstride, const float *gout, long cout, long ldg, double *acc, float *pad) {
    const long plane = h * w, kk = cin * k * k;
    pad_planes(in, cin, n, h, w, k / 2, cstride, bstride, pad);
    for (long co = 0; co < cout; co++)
        for (long b = 0; b < n; b++) thin_taps_image(gout + co * ldg + b * plane, pad, b, cin, h, w, k, acc + co * kk);
}

/// mk_bn_pool_backward then mk_conv_thin_weight_grad for the first block, with each plane of dz
/// in dzp (h*w floats, L1) instead of a whole-batch map: dz is never stored.
AI void bn_pool_backward_thin_body(const float *zh, const float *inv_std, long cout, long n, long h, long w,
                                   const float *gamma, float *gp, const float *pool, const int *argmax,
                                   const float *winner, float *dgamma, float *dbeta, const float *in, long cin,
                                   long k, long cstride, long bstride, double *acc, float *pad, float *dzp) {
    const long ho = h / 2, wo = w / 2, plane = h * w, oplane = ho * wo, m = n * plane, mp = n * oplane;
    const long kk = cin * k * k;
    pad_planes(in, cin, n, h, w, k / 2, cstride, bstride, pad);
    for (long c = 0; c < cout; c++) {
        float *g = gp + c * mp;
        const float *wc = winner + c * mp, *hc = zh + c * m;
        const bn_coefficients co = bn_pool_sums(g, pool + c * mp, wc, mp, m, inv_std[c], gamma[c], dgamma + c, dbeta + c);
        for (long q = 0; q < n; q++) {
            bn_pool_dz_plane(hc + q * plane, g + q * oplane, wc + q * oplane, argmax + c * mp + q * oplane, plane,
                             oplane, co, dzp);
            thin_taps_image(dzp, pad, q, cin, h, w, k, acc + c * kk);
        }
    }
}

// MARK: - The three builds and dispatch

#define MK_BUILDS(NAME, PARAMS, ARGS)                                                          \
    static void NAME##_base PARAMS { NAME##_body ARGS; }                                       \
    MK_X86_BUILDS(NAME, PARAMS, ARGS)
#ifdef MK_X86
#define MK_X86_BUILDS(NAME, PARAMS, ARGS)                                                      \
    MK_TARGET_AVX2 static void NAME##_avx2 PARAMS { NAME##_body ARGS; }                         \
    MK_TARGET_AVX512 static void NAME##_avx512 PARAMS { NAME##_body ARGS; }
#define MK_PICK(NAME, ISA, ARGS)                                                               \
    do {                                                                                       \
        const int build_ = mk_build(ISA);                                                      \
        if (build_ == 2) { NAME##_avx512 ARGS; return; }                                       \
        if (build_ == 1) { NAME##_avx2 ARGS; return; }                                         \
        NAME##_base ARGS;                                                                      \
    } while (0)
#else
#define MK_X86_BUILDS(NAME, PARAMS, ARGS)
#define MK_PICK(NAME, ISA, ARGS) do { (void)(ISA); NAME##_base ARGS; } while (0)
#endif

#define IM2COL_P (const float *in, long channels, long n, long h, long w, long k, long cstride, long bstride, \
                  float *cols, long ld)
#define IM2COL_A (in, channels, n, h, w, k, cstride, bstride, cols, ld)
MK_BUILDS(im2col, IM2COL_P, IM2COL_A)
void mk_im2col_same_isa(int isa, const float *in, long channels, long n, long h, long w, long k,
                        long cstride, long bstride, float *cols, long ld) { MK_PICK(im2col, isa, IM2COL_A); }
void mk_im2col_same IM2COL_P { MK_PICK(im2col, mk_active_isa(), IM2COL_A); }

#define BNF_P (float *z, long channels, long m, float eps, const float *gamma, const float *beta, float *y, float *inv_std)
#define BNF_A (z, channels, m, eps, gamma, beta, y, inv_std)
MK_BUILDS(bn_forward, BNF_P, BNF_A)
void mk_bn_forward_isa(int isa, float *z, long channels, long m, float eps, const float *gamma, const float *beta,
                       float *y, float *inv_std) { MK_PICK(bn_forward, isa, BNF_A); }
void mk_bn_forward BNF_P { MK_PICK(bn_forward, mk_active_isa(), BNF_A); }

#define RS_P (const float *x, long rows, long width, long ld, double *sums)
#define RS_A (x, rows, width, ld, sums)
MK_BUILDS(row_sums, RS_P, RS_A)
void mk_row_sums_isa(int isa, const float *x, long rows, long width, long ld, double *sums) { MK_PICK(row_sums, isa, RS_A); }
void mk_row_sums RS_P { MK_PICK(row_sums, mk_active_isa(), RS_A); }

#define BNS_P (const float *z, long channels, long m, float eps, const double *sums, float *mean, float *inv_std)
#define BNS_A (z, channels, m, eps, sums, mean, inv_std)
MK_BUILDS(bn_stats, BNS_P, BNS_A)
void mk_bn_stats_isa(int isa, const float *z, long channels, long m, float eps, const double *sums, float *mean,
                     float *inv_std) { MK_PICK(bn_stats, isa, BNS_A); }
void mk_bn_stats BNS_P { MK_PICK(bn_stats, mk_active_isa(), BNS_A); }

#define BNP_P (float *z, long channels, long n, long h, long w, const float *mean, const float *inv_std, \
               const float *gamma, const float *beta, float *pool, int *argmax, float *winner)
#define BNP_A (z, channels, n, h, w, mean, inv_std, gamma, beta, pool, argmax, winner)
MK_BUILDS(bn_pool_relu, BNP_P, BNP_A)
void mk_bn_pool_relu_isa(int isa, float *z, long channels, long n, long h, long w, const float *mean,
                         const float *inv_std, const float *gamma, const float *beta, float *pool, int *argmax,
                         float *winner) { MK_PICK(bn_pool_relu, isa, BNP_A); }
void mk_bn_pool_relu BNP_P { MK_PICK(bn_pool_relu, mk_active_isa(), BNP_A); }

#define BNB_P (const float *zh, const float *inv_std, long channels, long n, long h, long w, const float *gamma, \
               float *gp, const float *pool, const int *argmax, const float *winner, float *dz, float *dgamma, \
               float *dbeta)
#define BNB_A (zh, inv_std, channels, n, h, w, gamma, gp, pool, argmax, winner, dz, dgamma, dbeta)
MK_BUILDS(bn_pool_backward, BNB_P, BNB_A)
void mk_bn_pool_backward_isa(int isa, const float *zh, const float *inv_std, long channels, long n, long h, long w,
                             const float *gamma, float *gp, const float *pool, const int *argmax, const float *winner,
                             float *dz, float *dgamma, float *dbeta) { MK_PICK(bn_pool_backward, isa, BNB_A); }
void mk_bn_pool_backward BNB_P { MK_PICK(bn_pool_backward, mk_active_isa(), BNB_A); }

#define CTF_P (const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride, \
               const float *weight, long cout, float *out, long ldo, double *sums, float *pad)
#define CTF_A (in, cin, n, h, w, k, cstride, bstride, weight, cout, out, ldo, sums, pad)
MK_BUILDS(conv_thin_forward, CTF_P, CTF_A)
void mk_conv_thin_forward_isa(int isa, const float *in, long cin, long n, long h, long w, long k, long cstride,
                              long bstride, const float *weight, long cout, float *out, long ldo, double *sums,
                              float *pad) { MK_PICK(conv_thin_forward, isa, CTF_A); }
void mk_conv_thin_forward CTF_P { MK_PICK(conv_thin_forward, mk_active_isa(), CTF_A); }

#define CTW_P (const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride, \
               const float *gout, long cout, long ldg, double *acc, float *pad)
#define CTW_A (in, cin, n, h, w, k, cstride, bstride, gout, cout, ldg, acc, pad)
MK_BUILDS(conv_thin_weight_grad, CTW_P, CTW_A)
void mk_conv_thin_weight_grad_isa(int isa, const float *in, long cin, long n, long h, long w, long k, long cstride,
                                  long bstride, const float *gout, long cout, long ldg, double *acc,
                                  float *pad) { MK_PICK(conv_thin_weight_grad, isa, CTW_A); }
void mk_conv_thin_weight_grad CTW_P { MK_PICK(conv_thin_weight_grad, mk_active_isa(), CTW_A); }

#define BPT_P (const float *zh, const float *inv_std, long cout, long n, long h, long w, const float *gamma, \
               float *gp, const float *pool, const int *argmax, const float *winner, float *dgamma, float *dbeta, \
               const float *in, long cin, long k, long cstride, long bstride, double *acc, float *pad, float *dzp)
#define BPT_A (zh, inv_std, cout, n, h, w, gamma, gp, pool, argmax, winner, dgamma, dbeta, in, cin, k, cstride, \
               bstride, acc, pad, dzp)
MK_BUILDS(bn_pool_backward_thin, BPT_P, BPT_A)
void mk_bn_pool_backward_thin_isa(int isa, const float *zh, const float *inv_std, long cout, long n, long h, long w,
                                  const float *gamma, float *gp, const float *pool, const int *argmax,
                                  const float *winner, float *dgamma, float *dbeta, const float *in, long cin, long k,
                                  long cstride, long bstride, double *acc, float *pad,
                                  float *dzp) { MK_PICK(bn_pool_backward_thin, isa, BPT_A); }
void mk_bn_pool_backward_thin BPT_P { MK_PICK(bn_pool_backward_thin, mk_active_isa(), BPT_A); }

// MARK: - Weight flip for the input gradient (a permutation: one build)

void mk_conv_flip(const float *w, long cout, long cin, long k, float *wt) {
    const long kk = k * k;
    for (long co = 0; co < cout; co++)
        for (long ci = 0; ci < cin; ci++) {
            const float *src = w + (co * cin + ci) * kk;
            float *dst = wt + (ci * cout + co) * kk;
            for (long t = 0; t < kk; t++) dst[t] = src[kk - 1 - t];
        }
}
