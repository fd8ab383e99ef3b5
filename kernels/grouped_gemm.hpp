// Grouped GEMM for many small experts: one launch of a CUTLASS Hopper kernel (TMA loads, wgmma,
// warp-specialised cooperative schedule, persistent over the SMs) computes every expert's GEMM,
// where the per-expert cuBLAS path launches one kernel per expert and leaves SMs idle at each
// expert's tail (DeepSeek-V3 at 4096 tokens: 128 experts of 256 rows).
//
// bf16 operands, fp32 accumulation, bf16 output, all matrices row-major:
//   run:                 C_g [m_g, n] = A_g [m_g, k] x B_g, where B_g is [k, n] (as the expert
//                        weights w13 and w2 are stored) or, with `b_transposed`, B_g^T is what is
//                        stored, [n, k] (the data gradient's dy w2^T and d_h13 w13^T);
//   run_weight_gradient: C_g [m, n] += A_g^T B_g, A_g [k_g, m] and B_g [k_g, n] (an expert's
//                        rows of activations and of output gradients: act^T dy, x^T d_h13).
// Groups without rows are skipped; the fixed dimensions must be multiples of 8 (16-byte rows
// for TMA).
//
// Built only with CUTLASS (COMET_HAVE_CUTLASS: scripts/setup.sh installs the pinned headers) and
// run only on compute capability 9.0: GroupedGemm::available() says whether this process can.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

namespace comet::kernels {

class GroupedGemm {
 public:
  GroupedGemm();
  ~GroupedGemm();
  GroupedGemm(const GroupedGemm&) = delete;
  GroupedGemm& operator=(const GroupedGemm&) = delete;

  /// Whether this build has the CUTLASS kernel and the current device runs it (sm_90); when not,
  /// `why_not` (if given) says which.
  static bool available(std::string* why_not = nullptr);

  /// Allocates, on the current device, what run() needs (argument arrays, the kernels' workspace).
  /// run() calls it the first time; call it first yourself when that first run() is inside a
  /// CUDA graph capture, where allocating is not allowed.
  cudaError_t reserve();

  /// Enqueues the grouped GEMM on `stream`. `m`, `a`, `b`, `c` are host arrays of `groups` entries
  /// (the pointers they hold are device memory). `sm_count` limits the persistent grid to that
  /// many SMs (0: all of them), leaving the rest to kernels beside it. Arguments that cannot run
  /// (n or k not a multiple of 8, a misaligned pointer) return cudaErrorInvalidValue. Nothing is
  /// synchronised and nothing allocated after reserve(): the per-group arguments travel as a
  /// kernel parameter to a small kernel that lays them out in device memory, so the call can be
  /// captured in a CUDA graph. Calls share that memory: issue them in one stream's order.
  cudaError_t run(int groups, const std::int64_t* m, std::int64_t n, std::int64_t k, const __nv_bfloat16* const* a,
                  const __nv_bfloat16* const* b, __nv_bfloat16* const* c, bool b_transposed, cudaStream_t stream,
                  int sm_count = 0);
  /// The weight gradients (see above), accumulated into `c`, with the same conditions as run().
  cudaError_t run_weight_gradient(int groups, const std::int64_t* k, std::int64_t m, std::int64_t n,
                                  const __nv_bfloat16* const* a, const __nv_bfloat16* const* b, __nv_bfloat16* const* c,
                                  cudaStream_t stream, int sm_count = 0);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace comet::kernels
