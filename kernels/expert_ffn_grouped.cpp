#include "expert_ffn_grouped.hpp"

#include <vector>

#include "swiglu.hpp"

namespace comet::kernels {
namespace {

// Per expert, the start of its rows in a buffer of `width` columns.
std::vector<__nv_bfloat16*> rows_of(__nv_bfloat16* base, const ExpertRows& rows, std::int64_t width) {
  std::vector<__nv_bfloat16*> out;
  for (int e = 0; e < rows.experts(); ++e) out.push_back(base + rows.first[e] * width);
  return out;
}

std::vector<const __nv_bfloat16*> rows_of(const __nv_bfloat16* base, const ExpertRows& rows, std::int64_t width) {
  std::vector<const __nv_bfloat16*> out;
  for (int e = 0; e < rows.experts(); ++e) out.push_back(base + rows.first[e] * width);
  return out;
}

// One activation launch per run of adjacent experts (one in all for a chunk's own buffers).
template <typename Launch>
cudaError_t per_row_run(const ExpertRows& rows, Launch launch) {
  for (int e = 0; e < rows.experts();) {
    const std::int64_t first = rows.first[e];
    std::int64_t count = 0;
    while (e < rows.experts() && rows.first[e] == first + count) count += rows.count[e++];
    if (count == 0) continue;  // experts without rows (the loop took at least one)
    if (cudaError_t error = launch(first, count); error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t expert_ffn_forward_grouped(GroupedGemm& gemm, ExpertFfnShape shape, const ExpertRows& rows,
                                       const __nv_bfloat16* x, const __nv_bfloat16* const* w13,
                                       const __nv_bfloat16* const* w2, __nv_bfloat16* h13, __nv_bfloat16* act,
                                       __nv_bfloat16* y, cudaStream_t stream, int sm_count) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  const int experts = rows.experts();
  const std::vector<__nv_bfloat16*> h13_rows = rows_of(h13, rows, 2 * f), y_rows = rows_of(y, rows, h);
  cudaError_t error = gemm.run(experts, rows.count.data(), 2 * f, h, rows_of(x, rows, h).data(), w13, h13_rows.data(),
                               false, stream, sm_count);
  if (error == cudaSuccess)
    error = per_row_run(rows, [&](std::int64_t first, std::int64_t count) {
      return swiglu_forward(h13 + first * 2 * f, count, shape.ffn, act + first * f, stream);
    });
  if (error == cudaSuccess)
    error = gemm.run(experts, rows.count.data(), h, f, rows_of(static_cast<const __nv_bfloat16*>(act), rows, f).data(), w2,
                     y_rows.data(), false, stream, sm_count);
  return error;
}

cudaError_t expert_ffn_backward_data_grouped(GroupedGemm& gemm, ExpertFfnShape shape, const ExpertRows& rows,
                                             const __nv_bfloat16* dy, const __nv_bfloat16* h13,
                                             const __nv_bfloat16* const* w13, const __nv_bfloat16* const* w2,
                                             const ExpertFfnGrads& g, cudaStream_t stream, int sm_count) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  const int experts = rows.experts();
  // d_act = dy w2^T: w2 [F, H] is B^T stored; dx = d_h13 w13^T: w13 [H, 2F] likewise.
  const std::vector<__nv_bfloat16*> d_act_rows = rows_of(g.d_act, rows, f), dx_rows = rows_of(g.dx, rows, h);
  cudaError_t error = gemm.run(experts, rows.count.data(), f, h, rows_of(dy, rows, h).data(), w2, d_act_rows.data(), true,
                               stream, sm_count);
  if (error == cudaSuccess)
    error = per_row_run(rows, [&](std::int64_t first, std::int64_t count) {
      return swiglu_backward(h13 + first * 2 * f, g.d_act + first * f, count, shape.ffn, g.d_h13 + first * 2 * f, stream);
    });
  if (error == cudaSuccess)
    error = gemm.run(experts, rows.count.data(), h, 2 * f,
                     rows_of(static_cast<const __nv_bfloat16*>(g.d_h13), rows, 2 * f).data(), w13, dx_rows.data(), true,
                     stream, sm_count);
  return error;
}

cudaError_t expert_ffn_backward_weights_grouped(GroupedGemm& gemm, ExpertFfnShape shape, const ExpertRows& rows,
                                                const __nv_bfloat16* dy, const __nv_bfloat16* x, const __nv_bfloat16* act,
                                                const ExpertFfnGrads& g, cudaStream_t stream, int sm_count) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  const int experts = rows.experts();
  const std::vector<const __nv_bfloat16*> dy_rows = rows_of(dy, rows, h);
  cudaError_t error = gemm.run_weight_gradient(experts, rows.count.data(), f, h, rows_of(act, rows, f).data(), dy_rows.data(),
                                               g.d_w2, stream, sm_count);
  if (error == cudaSuccess)
    error = gemm.run_weight_gradient(experts, rows.count.data(), h, 2 * f, rows_of(x, rows, h).data(),
                                     rows_of(static_cast<const __nv_bfloat16*>(g.d_h13), rows, 2 * f).data(), g.d_w13, stream,
                                     sm_count);
  return error;
}

}  // namespace comet::kernels
