// Private to MAMLKernels: the target attributes of the builds and the build an `_isa` entry point
// runs, one place for every kernel file (small_gemm.c detects the CPU at load time).
#ifndef MK_ISA_H
#define MK_ISA_H

#include "maml_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define MK_X86 1
#define MK_TARGET_AVX2 __attribute__((target("avx2,fma")))
/// min_vector_width: loops the compiler vectorises may use zmm registers too.
#define MK_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma"), min_vector_width(512)))
#endif

/// The highest build at most `isa` (0 baseline, 1 AVX2+FMA, 2 AVX-512) this CPU runs.
static inline int mk_build(int isa) {
    return isa >= 2 && mk_avx512_available() ? 2 : isa >= 1 && mk_avx2_available() ? 1 : 0;
}

#endif
