// Permute and unpermute: moving token rows between the source order (one row per token) and
// the send order of an all-to-all (one row per token copy, grouped by destination and expert).
// The row maps are computed on the host from the routing (validate/token_layout), so these
// kernels are pure gathers: deterministic, no atomics, any chunking gives the same rows.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace comet::kernels {

/// out[out_rows[i]] = in[rows[i]] (times scale[i] when `scale` is not null), for i < num_rows;
/// out_rows null: out[i].
///   in   [*, hidden] bf16 rows (device)      rows  [num_rows] source row of each output row
///   scale [num_rows] or nullptr (device)     out   [num_rows, hidden] bf16 (device), or [*, hidden]
///   out_rows [num_rows] or nullptr (device): where each row lands (e.g. a chunk's rows inside a
///   layer-wide buffer)
/// Used for the permute (tokens -> send buffer), the receive-side reorder to expert-major rows
/// and its inverse, and the backward unpermute (output gradient times the gate weight).
cudaError_t gather_rows(const __nv_bfloat16* in, const std::int32_t* rows, const float* scale, std::int64_t num_rows,
                        int hidden, __nv_bfloat16* out, cudaStream_t stream, const std::int32_t* out_rows = nullptr);

/// Unpermute: out[t] += sum over j < top_k with positions[t*top_k+j] >= 0 of
/// weights[t*top_k+j] * in[positions[t*top_k+j]], accumulated in fp32.
///   in [*, hidden] bf16 expert outputs in send order; positions/weights [num_tokens*top_k];
///   out [num_tokens, hidden] fp32, accumulated into (a chunk adds its copies).
/// `weights` may be nullptr (all 1: the backward permute sums the input-gradient copies).
cudaError_t combine_rows(const __nv_bfloat16* in, const std::int32_t* positions, const float* weights,
                         std::int64_t num_tokens, int top_k, int hidden, float* out, cudaStream_t stream);

}  // namespace comet::kernels
