// The SwiGLU activation of an expert FFN, between its up and down projections.
// A row of `h13` is [gate (F) | up (F)]: both up projections come out of one GEMM with the
// two weight matrices side by side, so the activation reads one buffer.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace comet::kernels {

/// act[r, f] = silu(h13[r, f]) * h13[r, ffn + f], fp32 math, for r < rows, f < ffn.
cudaError_t swiglu_forward(const __nv_bfloat16* h13, std::int64_t rows, int ffn, __nv_bfloat16* act, cudaStream_t stream);

/// Gradient of swiglu_forward: from d_act [rows, ffn] to d_h13 [rows, 2*ffn].
cudaError_t swiglu_backward(const __nv_bfloat16* h13, const __nv_bfloat16* d_act, std::int64_t rows, int ffn,
                            __nv_bfloat16* d_h13, cudaStream_t stream);

}  // namespace comet::kernels
