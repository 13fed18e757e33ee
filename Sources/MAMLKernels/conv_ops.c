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
//            i.e. one long shifted copy of all n planes through a lane mask that zeroes
//            the wrapped columns, then the border rows zeroed (no call per output row);
//            rows may be padded (ld).
//   BN       the mean from row sums of the GEMM's output chunks (mk_row_sums, in cache),
//            the variance in one sweep (mk_bn_stats); pooled blocks then normalise and
//            pool each plane while it is in L1, never storing y = gamma zh + beta, and
//            keep zh at the winners for backward.
//   BN back  (pooled) the statistics from pooled-size arrays (masked gradient, winners'
//            zh), no scatter into a zeroed map; one sweep writes dz, plane by plane.
//   thin     the first block (1-3 input channels): direct convolution and weight gradient
//            over zero-padded image copies instead of K = 9 GEMMs. On gradient passes its
//            maps are never stored: batch norm's mean comes from the input (tap sums), each
//            plane is computed in L1 for the variance and again to be pooled, and backward
//            computes it once more for dz, straight into the weight gradient. At 75
//            examples a map is 15 MB; computing a plane (one input channel, 3x3: each input
//            row loaded once at three shifts for three output rows) costs less than
//            writing and reading it.
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

/// v where keep is -1, +0 where it is 0 (per lane).
AI cv16 masked(cv16 v, ci16 keep) { ci16 u; memcpy(&u, &v, sizeof u); u &= keep; memcpy(&v, &u, sizeof v); return v; }

// MARK: - im2col, stride 1, "same" padding

// The flat copy below wraps across row edges; the wrapped columns must be zeroed. Done as one
// scalar store per row it was a third of im2col's time on 14x14 and 7x7 maps (one store per
// 14 or 7 floats copied); rows up to MASK_W wide are copied through a lane mask instead, one
// per (shift, column phase), built once per call.
enum { MASK_W = 64, MASK_P = 3 };
typedef struct { ci16 lanes[2 * MASK_P][MASK_W]; } column_masks;

/// Lanes of a vector starting at column phase whose column + dx is inside a row of w.
AI void build_column_masks(column_masks *cm, long w, long p) {
    for (long j = 0; j < 2 * p; j++) {
        const long dx = j < p ? j - p : j - p + 1;  // -p .. -1, 1 .. p
        for (long phase = 0; phase < w; phase++) {
            int lanes[16];
            for (long l = 0; l < 16; l++) {
                const long col = (phase + l) % w;
                lanes[l] = col + dx >= 0 && col + dx < w ? -1 : 0;
            }
            memcpy(&cm->lanes[j][phase], lanes, sizeof lanes);
        }
    }
}

/// Rows ky, kx of channel c: dst (nplanes planes of h x w, back to back) = src shifted by (dy, dx), zero outside.
/// src planes are pstride apart; when pstride == h*w, one copy covers all of them.
/// With mask (the column masks of dx, see column_masks), the wrapped columns are zeroed as copied.
AI void shifted_planes(const float *src, long nplanes, long pstride, long h, long w, long dy, long dx, float *dst,
                       float zero, const ci16 *mask) {
    const long plane = h * w, s = dy * w + dx;
    const long runs = pstride == plane ? 1 : nplanes, len = pstride == plane ? nplanes * plane : plane;
    for (long r = 0; r < runs; r++) {
        const float *sp = src + r * pstride;
        float *dp = dst + r * len;
        long lo = s < 0 ? -s : 0, hi = s > 0 ? len - s : len;
        if (lo > len) lo = len;
        if (hi < lo) hi = lo;
        vzero(dp, lo, zero);
        if (mask) {  // runs start at a plane, so a position's column is its offset mod w
            long i = lo, phase = lo % w;
            const long step = 16 % w;
            for (; i + 16 <= hi; i += 16) {
                vst(dp + i, masked(vld(sp + i + s), mask[phase]));
                phase += step;
                if (phase >= w) phase -= w;
            }
            for (; i < hi; i++) {
                const long col = i % w;
                dp[i] = col + dx >= 0 && col + dx < w ? sp[i + s] : zero;
            }
        } else {
            vcopy(dp + lo, sp + lo + s, hi - lo);
        }
        vzero(dp + hi, len - hi, zero);
    }
    // The flat copy wrapped across row and plane edges: zero what lies in the padding.
    const long ady = dy < 0 ? -dy : dy, adx = dx < 0 ? -dx : dx;
    const long zr = ady < h ? ady : h, zc = adx < w ? adx : w;
    for (long b = 0; b < nplanes; b++) {
        float *dp = dst + b * plane;
        if (zr) vzero(dp + (dy < 0 ? 0 : (h - zr) * w), zr * w, zero);
        if (zc && !mask)
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
    column_masks cm;
    const int use_masks = w <= MASK_W && p <= MASK_P;
    if (use_masks) build_column_masks(&cm, w, p);
    for (long c = 0; c < channels; c++)
        for (long ky = 0; ky < k; ky++)
            for (long kx = 0; kx < k; kx++) {
                const long dx = kx - p;
                const ci16 *mask = use_masks && dx ? cm.lanes[dx < 0 ? dx + p : dx + p - 1] : 0;
                shifted_planes(in + c * cstride, n, bstride, h, w, ky - p, dx, cols + ((c * k + ky) * k + kx) * ld, zero,
                               mask);
            }
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

/// sum (x - mu)^2 over one chunk of len <= CHUNK floats: a 16-float sum, then the tail.
AI float chunk_sqdev(const float *xp, float mu, long len) {
    const cv16 mv = vsplat(mu);
    cv16 acc = vsplat(0);
    long i = 0;
    for (; i + 16 <= len; i += 16) { cv16 d = vld(xp + i) - mv; acc += d * d; }
    float s = vsum(acc);
    for (; i < len; i++) { float d = xp[i] - mu; s += d * d; }
    return s;
}

/// sum (x - mu)^2, chunked as chunked_sum.
AI double chunked_sqdev(const float *x, float mu, long n) {
    double total = 0;
    for (long start = 0; start < n; start += CHUNK)
        total += chunk_sqdev(x + start, mu, n - start < CHUNK ? n - start : CHUNK);
    return total;
}

/// chunked_sqdev of a sequence handed over in pieces (planes computed one at a time): the
/// same chunks and sums, so the same bits. Pieces of whole vectors (vec) feed a running vector
/// sum; others go through buf.
typedef struct { float buf[CHUNK]; cv16 acc; long fill; double total; float mu; int vec; } sqdev_stream;

AI sqdev_stream sqdev_start(float mu, long piece) {
    sqdev_stream s;
    s.acc = vsplat(0); s.fill = 0; s.total = 0; s.mu = mu; s.vec = piece % 16 == 0;
    return s;
}

AI void sqdev_push(sqdev_stream *s, const float *x, long n) {
    if (s->vec) {  // chunk boundaries fall between vectors: chunk_sqdev's sums without a copy
        const cv16 mv = vsplat(s->mu);
        for (long i = 0; i < n; i += 16) {
            const cv16 d = vld(x + i) - mv;
            s->acc += d * d;
            s->fill += 16;
            if (s->fill == CHUNK) { s->total += vsum(s->acc); s->acc = vsplat(0); s->fill = 0; }
        }
        return;
    }
    while (n > 0) {
        if (s->fill == 0 && n >= CHUNK) { s->total += chunk_sqdev(x, s->mu, CHUNK); x += CHUNK; n -= CHUNK; continue; }
        const long take = CHUNK - s->fill < n ? CHUNK - s->fill : n;
        vcopy(s->buf + s->fill, x, take);
        s->fill += take; x += take; n -= take;
        if (s->fill == CHUNK) { s->total += chunk_sqdev(s->buf, s->mu, CHUNK); s->fill = 0; }
    }
}

AI double sqdev_finish(sqdev_stream *s) {
    if (!s->fill) return s->total;
    return s->total + (s->vec ? vsum(s->acc) : chunk_sqdev(s->buf, s->mu, s->fill));
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

AI float bn_inv_std(double sqdev, long m, float eps) { return (float)(1 / sqrt(sqdev / (double)m + (double)eps)); }

/// mean[c] = sums[c] / m, inv_std[c] = 1/sqrt(mean (z - mean)^2 + eps): one sweep (the sums are given).
AI void bn_stats_body(const float *z, long channels, long m, float eps, const double *sums, float *mean, float *inv_std) {
    for (long c = 0; c < channels; c++) {
        const float mu = (float)(sums[c] / (double)m);
        mean[c] = mu;
        inv_std[c] = bn_inv_std(chunked_sqdev(z + c * m, mu, m), m, eps);
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
///
/// Rows of fewer than 16 windows are read and written 16 at a time where the map has room
/// (in_room floats readable from src, out_room writable from dst): the extra lanes read the next
/// row and are written over the next row's windows, which are written after (planes in order).
/// Only at the end of the map do they go through zero-padded copies.
AI void pool_plane(const float *src, long h, long w, float g, float b, float *dst, int *arg, float *win,
                   long in_room, long out_room) {
    const long ho = h / 2, wo = w / 2;
    const cv16 gv = vsplat(g), bv = vsplat(b), zero = vsplat(0);
    const ci16 lane2 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    for (long oy = 0; oy < ho; oy++) {
        const float *r0 = src + 2 * oy * w, *r1 = r0 + w;
        for (long ox0 = 0; ox0 < wo; ox0 += 16) {
            const long cnt = wo - ox0 < 16 ? wo - ox0 : 16;
            float t0[32], t1[32];
            const float *p0 = r0 + 2 * ox0, *p1 = r1 + 2 * ox0;
            if (cnt < 16 && (2 * oy + 1) * w + 2 * ox0 + 32 > in_room) {  // the map's end: zero-padded copies
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
            if (cnt == 16 || oy * wo + ox0 + 16 <= out_room) { vst(d, best); vst(hw, hz); memcpy(ar, &at, sizeof at); }
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

/// z <- (z - mu) s over one plane.
AI void normalise_plane(float *z, long plane, float mu, float s) {
    const cv16 muv = vsplat(mu), sv = vsplat(s);
    long i = 0;
    for (; i + 16 <= plane; i += 16) vst(z + i, (vld(z + i) - muv) * sv);
    for (; i < plane; i++) z[i] = (z[i] - mu) * s;
}

/// Per channel c and plane (n planes of h x w): z <- zh = (z - mean) inv_std (every element), then
/// pool = relu(max over each 2x2 window of gamma zh + beta), argmax = the winner's index in its
/// plane (first maximum in scan order), winner = zh there. The plane is still in L1 when pooled.
AI void bn_pool_relu_body(float *z, long channels, long n, long h, long w, const float *mean, const float *inv_std,
                          const float *gamma, const float *beta, float *pool, int *argmax, float *winner) {
    const long ho = h / 2, wo = w / 2, plane = h * w, oplane = ho * wo;
    for (long c = 0; c < channels; c++) {
        const float g = gamma[c], b = beta[c], mu = mean[c], s = inv_std[c];
        for (long q = c * n; q < (c + 1) * n; q++) {
            float *src = z + q * plane;
            normalise_plane(src, plane, mu, s);
            pool_plane(src, h, w, g, b, pool + q * oplane, argmax + q * oplane, winner + q * oplane,
                       (channels * n - q) * plane, (channels * n - q) * oplane);
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

/// Output channel wt's plane of padded image b (pad from pad_planes) into dst (h x w, row stride w).
AI void thin_plane_body(const float *pad, long b, long cin, long h, long w, long k, const float *wt, float *dst) {
    const long ph = h + 2 * (k / 2), pw = w + 2 * (k / 2), nv = row_vectors(w);
    const float *pb = pad + b * cin * ph * pw;
    for (long v = 0; v < nv; v++) {
        const long x = vec_start(v, w);
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
        }
        for (; y < h; y++) {
            cv16 acc = vsplat(0);
            for (long c = 0; c < cin; c++)
                for (long ky = 0; ky < k; ky++) {
                    const float *src = pb + (c * ph + y + ky) * pw + x;
                    for (long kx = 0; kx < k; kx++) acc += vsplat(wt[(c * k + ky) * k + kx]) * vld(src + kx);
                }
            store_row(dst + y * w, x, w, acc);
        }
    }
}

// One input channel, 3x3 (conv4's first block), rows of at least 16: thin_plane_body's loads
// (9 per output vector, most of them split across cache lines) were its limit. Here each
// padded input row is loaded once per vector at its three shifts and feeds the three output
// rows it belongs to, two vectors at a time (six FMA chains); each output's taps are still
// added in (ky, kx) order from 0, so the values are thin_plane_body's bit for bit.

/// Taps ky of a 3x3 kernel (K0, K1, K2) on one loaded row (P0, P1, P2 at x, x+1, x+2).
#define TAPS3(ACC, K0, K1, K2, P0, P1, P2) do { ACC += (K0) * (P0); ACC += (K1) * (P1); ACC += (K2) * (P2); } while (0)

AI void thin_plane_k3(const float *pb, long h, long w, const float *wt, float *dst) {
    const long pw = w + 2, nv = row_vectors(w);
    cv16 k[9];
    for (int t = 0; t < 9; t++) k[t] = vsplat(wt[t]);
    for (long v = 0; v < nv; v += 2) {
        const long xa = vec_start(v, w), xb = vec_start(v + 1 < nv ? v + 1 : v, w);
        cv16 a2 = vsplat(0), a1 = a2, b2 = a2, b1 = a2;  // rows r-2 and r-1, in flight
        for (long r = 0; r < h + 2; r++) {
            const float *s = pb + r * pw;
            const cv16 pa0 = vld(s + xa), pa1 = vld(s + xa + 1), pa2 = vld(s + xa + 2);
            const cv16 pb0 = vld(s + xb), pb1 = vld(s + xb + 1), pb2 = vld(s + xb + 2);
            if (r >= 2) {  // row r-2 complete
                TAPS3(a2, k[6], k[7], k[8], pa0, pa1, pa2);
                TAPS3(b2, k[6], k[7], k[8], pb0, pb1, pb2);
                vst(dst + (r - 2) * w + xa, a2); vst(dst + (r - 2) * w + xb, b2);
            }
            if (r >= 1 && r <= h) { TAPS3(a1, k[3], k[4], k[5], pa0, pa1, pa2); TAPS3(b1, k[3], k[4], k[5], pb0, pb1, pb2); }
            cv16 a0 = vsplat(0), b0 = a0;
            if (r < h) { TAPS3(a0, k[0], k[1], k[2], pa0, pa1, pa2); TAPS3(b0, k[0], k[1], k[2], pb0, pb1, pb2); }
            a2 = a1; a1 = a0; b2 = b1; b1 = b0;
        }
    }
}

/// Output channel wt's plane of padded image b into dst (h x w).
AI void thin_plane(const float *pad, long b, long cin, long h, long w, long k, const float *wt, float *dst) {
    if (cin == 1 && k == 3 && w >= 16) thin_plane_k3(pad + b * (h + 2) * (w + 2), h, w, wt, dst);
    else thin_plane_body(pad, b, cin, h, w, k, wt, dst);
}

/// tap[t] = the sum of the padded input under tap t (c, ky, kx) over the n images: window sums of
/// each padded row, in Double, in a fixed order. The sum of an output channel's n*h*w values is
/// then sum over t of weight[t] tap[t] (thin_channel_sum): batch norm's mean without a sweep over
/// the outputs, and closer to the exact mean than a sum of the rounded outputs.
AI void thin_tap_sums(const float *pad, long cin, long n, long h, long w, long k, double *tap) {
    const long ph = h + 2 * (k / 2), pw = w + 2 * (k / 2);
    double win[k];
    for (long t = 0; t < cin * k * k; t++) tap[t] = 0;
    for (long b = 0; b < n; b++)
        for (long c = 0; c < cin; c++)
            for (long r = 0; r < ph; r++) {
                const float *row = pad + ((b * cin + c) * ph + r) * pw;
                for (long kx = 0; kx < k; kx++) {
                    double sum = 0;
                    for (long x = 0; x < w; x++) sum += row[kx + x];
                    win[kx] = sum;
                }
                for (long ky = 0; ky < k; ky++)  // padded row r feeds output row r - ky through tap row ky
                    if (r - ky >= 0 && r - ky < h)
                        for (long kx = 0; kx < k; kx++) tap[(c * k + ky) * k + kx] += win[kx];
            }
}

AI double thin_channel_sum(const float *wt, const double *tap, long kk) {
    double sum = 0;
    for (long t = 0; t < kk; t++) sum += (double)wt[t] * tap[t];
    return sum;
}

AI void conv_thin_forward_body(const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride,
                               const float *weight, long cout, float *out, long ldo, double *sums, float *pad) {
    const long plane = h * w, kk = cin * k * k;
    pad_planes(in, cin, n, h, w, k / 2, cstride, bstride, pad);
    if (sums) {
        double tap[kk];
        thin_tap_sums(pad, cin, n, h, w, k, tap);
        for (long co = 0; co < cout; co++) sums[co] += thin_channel_sum(weight + co * kk, tap, kk);
    }
    for (long co = 0; co < cout; co++)
        for (long b = 0; b < n; b++) thin_plane(pad, b, cin, h, w, k, weight + co * kk, out + co * ldo + b * plane);
}

/// mk_conv_thin_forward (sums from 0), mk_bn_stats and mk_bn_pool_relu for the first block
/// without its n*h*w map per channel: each plane is computed into zp (L1) for batch norm's
/// variance sweep, then again to be normalised and pooled, in the order those kernels read it.
AI void bn_pool_relu_thin_body(const float *in, long cin, long n, long h, long w, long k, long cstride,
                               long bstride, const float *weight, long cout, float eps, const float *gamma,
                               const float *beta, float *mean, float *inv_std, float *pool, int *argmax,
                               float *winner, float *pad, float *zp) {
    const long plane = h * w, m = n * plane, oplane = (h / 2) * (w / 2), kk = cin * k * k;
    double tap[kk];
    pad_planes(in, cin, n, h, w, k / 2, cstride, bstride, pad);
    thin_tap_sums(pad, cin, n, h, w, k, tap);
    for (long c = 0; c < cout; c++) {
        const float *wt = weight + c * kk;
        const float mu = (float)(thin_channel_sum(wt, tap, kk) / (double)m);
        sqdev_stream st = sqdev_start(mu, plane);
        for (long b = 0; b < n; b++) {
            thin_plane(pad, b, cin, h, w, k, wt, zp);
            sqdev_push(&st, zp, plane);
        }
        const float s = bn_inv_std(sqdev_finish(&st), m, eps);
        mean[c] = mu; inv_std[c] = s;
        for (long b = 0; b < n; b++) {
            const long q = c * n + b;
            thin_plane(pad, b, cin, h, w, k, wt, zp);
            normalise_plane(zp, plane, mu, s);
            pool_plane(zp, h, w, gamma[c], beta[c], pool + q * oplane, argmax + q * oplane, winner + q * oplane,
                       plane, (cout * n - q) * oplane);
        }
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
/// thin_taps_image for one input channel, 3x3, w >= 16: per vector, each padded row loaded once at
/// its three shifts feeds the taps of the three gradient rows it meets (the same order per tap).
AI void thin_taps_k3(const float *g, const float *pb, long h, long w, double *acc) {
    const long pw = w + 2, nv = row_vectors(w);
    cv16 s[9];
    for (int t = 0; t < 9; t++) s[t] = vsplat(0);
    for (long v = 0; v < nv; v++) {
        const long x = vec_start(v, w);
        const ci16 keep = fresh_lanes(v, w);
        cv16 g1 = vsplat(0), g2 = g1;  // gradient rows r-1 and r-2
        for (long r = 0; r < h + 2; r++) {
            const float *row = pb + r * pw + x;
            const cv16 p0 = vld(row), p1 = vld(row + 1), p2 = vld(row + 2);
            const cv16 g0 = r < h ? masked(vld(g + r * w + x), keep) : vsplat(0);
            if (r < h) { s[0] += g0 * p0; s[1] += g0 * p1; s[2] += g0 * p2; }
            if (r >= 1 && r <= h) { s[3] += g1 * p0; s[4] += g1 * p1; s[5] += g1 * p2; }
            if (r >= 2) { s[6] += g2 * p0; s[7] += g2 * p1; s[8] += g2 * p2; }
            g2 = g1; g1 = g0;
        }
    }
    for (int t = 0; t < 9; t++) acc[t] += vsum(s[t]);
}

AI void thin_taps_image(const float *g, const float *pad, long b, long cin, long h, long w, long k, double *acc) {
    const long p = k / 2, ph = h + 2 * p, pw = w + 2 * p, kk = cin * k * k, nv = row_vectors(w);
    if (cin == 1 && k == 3 && w >= 16) { thin_taps_k3(g, pad + b * ph * pw, h, w, acc); return; }
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

/// mk_bn_pool_backward then mk_conv_thin_weight_grad for the first block after
/// bn_pool_relu_thin: each plane of zh computed again into zp (L1), dz in its place, straight
/// into the weight gradient. Neither map is stored.
AI void bn_pool_backward_thin_body(const float *weight, const float *mean, const float *inv_std, long cout, long n,
                                   long h, long w, const float *gamma, float *gp, const float *pool,
                                   const int *argmax, const float *winner, float *dgamma, float *dbeta,
                                   const float *in, long cin, long k, long cstride, long bstride, double *acc,
                                   float *pad, float *zp) {
    const long ho = h / 2, wo = w / 2, plane = h * w, oplane = ho * wo, m = n * plane, mp = n * oplane;
    const long kk = cin * k * k;
    pad_planes(in, cin, n, h, w, k / 2, cstride, bstride, pad);
    for (long c = 0; c < cout; c++) {
        float *g = gp + c * mp;
        const float *wc = winner + c * mp;
        const bn_coefficients co = bn_pool_sums(g, pool + c * mp, wc, mp, m, inv_std[c], gamma[c], dgamma + c, dbeta + c);
        for (long q = 0; q < n; q++) {
            thin_plane(pad, q, cin, h, w, k, weight + c * kk, zp);
            normalise_plane(zp, plane, mean[c], inv_std[c]);
            bn_pool_dz_plane(zp, g + q * oplane, wc + q * oplane, argmax + c * mp + q * oplane, plane, oplane, co, zp);
            thin_taps_image(zp, pad, q, cin, h, w, k, acc + c * kk);
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

#define BPR_P (const float *in, long cin, long n, long h, long w, long k, long cstride, long bstride, \
               const float *weight, long cout, float eps, const float *gamma, const float *beta, float *mean, \
               float *inv_std, float *pool, int *argmax, float *winner, float *pad, float *zp)
#define BPR_A (in, cin, n, h, w, k, cstride, bstride, weight, cout, eps, gamma, beta, mean, inv_std, pool, argmax, \
               winner, pad, zp)
MK_BUILDS(bn_pool_relu_thin, BPR_P, BPR_A)
void mk_bn_pool_relu_thin_isa(int isa, const float *in, long cin, long n, long h, long w, long k, long cstride,
                              long bstride, const float *weight, long cout, float eps, const float *gamma,
                              const float *beta, float *mean, float *inv_std, float *pool, int *argmax, float *winner,
                              float *pad, float *zp) { MK_PICK(bn_pool_relu_thin, isa, BPR_A); }
void mk_bn_pool_relu_thin BPR_P { MK_PICK(bn_pool_relu_thin, mk_active_isa(), BPR_A); }

#define BPT_P (const float *weight, const float *mean, const float *inv_std, long cout, long n, long h, long w, \
               const float *gamma, float *gp, const float *pool, const int *argmax, const float *winner, \
               float *dgamma, float *dbeta, const float *in, long cin, long k, long cstride, long bstride, \
               double *acc, float *pad, float *zp)
#define BPT_A (weight, mean, inv_std, cout, n, h, w, gamma, gp, pool, argmax, winner, dgamma, dbeta, in, cin, k, \
               cstride, bstride, acc, pad, zp)
MK_BUILDS(bn_pool_backward_thin, BPT_P, BPT_A)
void mk_bn_pool_backward_thin_isa(int isa, const float *weight, const float *mean, const float *inv_std, long cout,
                                  long n, long h, long w, const float *gamma, float *gp, const float *pool,
                                  const int *argmax, const float *winner, float *dgamma, float *dbeta,
                                  const float *in, long cin, long k, long cstride, long bstride, double *acc,
                                  float *pad, float *zp) { MK_PICK(bn_pool_backward_thin, isa, BPT_A); }
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

void mk_conv_unflip_t(const float *g, long cout, long cin, long k, float *w) {
    const long kk = k * k;
    for (long co = 0; co < cout; co++)
        for (long t = 0; t < kk; t++) {
            const float *src = g + (co * kk + kk - 1 - t) * cin;
            for (long ci = 0; ci < cin; ci++) w[(co * cin + ci) * kk + t] = src[ci];
        }
}
