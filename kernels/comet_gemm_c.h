/* comet's expert GEMM kernels behind a C API of raw device pointers and streams, for callers
 * outside C++ (scripts/grouped_mm_vs_comet.py loads it with ctypes and times it beside
 * torch._grouped_mm in one process, on the same tensors).
 *
 * Every kernel computes, expert by expert over expert-major rows,
 *   D [rows_e, n] = A [rows_e, k] x B_e,
 * with B_e stored [k, n] row-major, or, with weights_transposed, B_e^T stored [n, k] (torch's
 * `b.transpose(-2, -1)` of a contiguous [experts, n, k] tensor). bf16 operands and output, fp32
 * accumulation. A is [sum rows, k], B [experts][k][n] (or [experts][n][k]), D [sum rows, n], all
 * contiguous device memory; k and n multiples of 8.
 *
 * Kinds:
 *  - COMET_GEMM_GROUPED: kernels::GroupedGemm, the expert FFN's grouped GEMM;
 *  - COMET_GEMM_FUSED_DISPATCH: the fused dispatch kernel's GEMM part with every row already here
 *    (one source, this GPU; no copy blocks, every arrival flag raised first);
 *  - COMET_GEMM_FUSED_COMBINE: the fused combine kernel's GEMM part (no send blocks: the output
 *    stays in D).
 * These are the "GEMM part" rows of comet_gpu_bench's fused section.
 *
 * Errors: comet_gemm_create returns NULL and comet_gemm_run a nonzero cudaError_t; then
 * comet_gemm_last_error() says why (this thread's last failure). */
#ifndef COMET_GEMM_C_H
#define COMET_GEMM_C_H

#include <stdint.h>

/* The library exports these functions alone. */
#if defined(__GNUC__)
#define COMET_GEMM_API __attribute__((visibility("default")))
#else
#define COMET_GEMM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum comet_gemm_kind { COMET_GEMM_GROUPED = 0, COMET_GEMM_FUSED_DISPATCH = 1, COMET_GEMM_FUSED_COMBINE = 2 };

typedef struct comet_gemm comet_gemm;

/* Prepares `kind` on the current device for these shapes and buffers (synchronous; the pointers
 * must stay valid until comet_gemm_destroy). rows: `experts` host entries, each >= 0.
 * band_tiles: the fused kernels' bands of M tiles per expert (0: whole experts; ignored by
 * COMET_GEMM_GROUPED). */
COMET_GEMM_API comet_gemm* comet_gemm_create(int kind, int experts, const int64_t* rows, int64_t k, int64_t n, const void* a, const void* b, void* d,
                              int weights_transposed, int band_tiles);

/* Enqueues one run on `stream` (a cudaStream_t; NULL: the legacy default stream). Returns the
 * cudaError_t of the launch (0: success). */
COMET_GEMM_API int comet_gemm_run(comet_gemm* gemm, void* stream);

/* Frees what comet_gemm_create allocated (after the runs are synchronised). NULL is ignored. */
COMET_GEMM_API void comet_gemm_destroy(comet_gemm* gemm);

/* Why this thread's last create or run failed ("" if none did). */
COMET_GEMM_API const char* comet_gemm_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* COMET_GEMM_C_H */
