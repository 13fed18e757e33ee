// Double-precision sine over an array: see include/maml_kernels.h for the contract.
//
// Task sampling computes y = A sin(x - phase) for every support and query point, in
// double, then rounds to float; glibc's scalar sin was 5.4% of a one-core sinusoid
// MAML run. This evaluates 8 (AVX-512) or 4 (AVX2) sines at once:
//   k = nearest integer to x * 2/pi;  r = x - k pi/2 in three parts (Cody-Waite: each
//   parts have 33 significant bits, so k * part is exact for |k| < 2^19);  then the
//   Taylor series of sin r and cos r on |r| <= pi/4 up to r^17 / r^18 (truncation below
//   1e-19 relative), picked and signed by k mod 4.
// The result is within a few double ulps of the true sine, far below a float's ulp,
// so rounded to float it matches glibc's sin except when the exact value lies within
// ~1e-16 of a float rounding boundary. |x| >= 823,549 (and NaN / inf) go to libm.
// No FMA (contraction off): every build gives the same bits.
#include "isa.h"
#include <math.h>

#pragma clang fp contract(off)

#define AI static inline __attribute__((always_inline))

// pi/2 split into doubles of 33, 33 and 53 significant bits (rounded from pi's digits:
// 0x3FF921FB54400000, 0x3DD0B4611A600000, 0x3BA3198A2E037073).
static const double PIO2_1 = 1.5707963267341256;
static const double PIO2_2 = 6.077100506303966e-11;
static const double PIO2_3 = 2.0222662487959506e-21;
static const double TWO_OVER_PI = 0.6366197723675814;
static const double LIMIT = 823549.0;   // < 2^19 pi/2: |k| < 2^19, so k * PIO2_1, k * PIO2_2 are exact
static const double ROUNDER = 6755399441055744.0;   // 1.5 * 2^52: adding it rounds to an integer

AI double sine_one(double x) {
    const double t = x * TWO_OVER_PI + ROUNDER;
    const double k = t - ROUNDER;
    // k mod 4 is in the low bits of t's significand (no double-to-integer conversion, which
    // AVX-512F alone cannot vectorise).
    unsigned long long bits;
    __builtin_memcpy(&bits, &t, sizeof bits);
    const unsigned long long q = bits & 3;
    const double r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    const double z = r * r;
    // Horner from the highest term: sin r = r (1 - z/3! (1 - z/(4*5) (1 - ...))) written
    // as plain coefficients 1/n!.
    const double s = r + r * z * (-1.66666666666666666667e-01 + z * (8.33333333333333333333e-03
                   + z * (-1.98412698412698412698e-04 + z * (2.75573192239858906526e-06
                   + z * (-2.50521083854417187751e-08 + z * (1.60590438368216145994e-10
                   + z * (-7.64716373181981647590e-13 + z * 2.81145725434552076320e-15)))))));
    const double c = 1.0 + z * (-0.5 + z * (4.16666666666666666667e-02 + z * (-1.38888888888888888889e-03
                   + z * (2.48015873015873015873e-05 + z * (-2.75573192239858906526e-07
                   + z * (2.08767569878680989792e-09 + z * (-1.14707455977297247139e-11
                   + z * 4.77947733238738529744e-14)))))));
    const double v = (q & 1) ? c : s;
    return (q & 2) ? -v : v;
}

AI void sine_body(const double *x, double *y, long n) {
#pragma clang loop vectorize(assume_safety)
    for (long i = 0; i < n; i++) y[i] = sine_one(x[i]);
    for (long i = 0; i < n; i++)
        if (!(fabs(x[i]) < LIMIT)) y[i] = sin(x[i]);   // rare: large, infinite or NaN arguments
}

static void sine_baseline(const double *x, double *y, long n) { sine_body(x, y, n); }
#ifdef MK_X86
MK_TARGET_AVX2 static void sine_avx2(const double *x, double *y, long n) { sine_body(x, y, n); }
MK_TARGET_AVX512 static void sine_avx512(const double *x, double *y, long n) { sine_body(x, y, n); }
#endif

void mk_sin_f64_isa(int isa, const double *x, double *y, long n) {
    switch (mk_build(isa)) {
#ifdef MK_X86
    case 2: sine_avx512(x, y, n); return;
    case 1: sine_avx2(x, y, n); return;
#endif
    default: sine_baseline(x, y, n); return;
    }
}

void mk_sin_f64(const double *x, double *y, long n) { mk_sin_f64_isa(mk_active_isa(), x, y, n); }
