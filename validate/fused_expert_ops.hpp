// The expert ops of a `comet:B` Plan on one rank, on COMET's fused kernels (kernels/fused_*,
// docs/fused-kernels.md, "Wiring them into a policy"): each expert pass is two fused launches,
// one per projection, whose B transfer blocks move rows while the GEMM blocks compute on the
// other SMs. Forward: stage 0 pulls each source's rows from its send buffer into the expert-major
// rows while h13 = x w13 is computed tile by tile as they arrive, then act = SwiGLU(h13); stage 1
// computes y = act w2 and sends every finished tile's rows back into its source's combine buffer.
// Backward: stage 0 pulls the output gradients dy the same way into dy w2^T, then the SwiGLU
// gradient; stage 1 computes the input gradients d_h13 w13^T and sends them back.
//
// The buffers are the executor's (layer_buffers.hpp), so everything around these ops (permute,
// unpermute, the weight gradient, the numerics checks) is unchanged: the sources' pieces for this
// rank are TokenLayout's send order, their combine buffers get the rows back at the same places,
// and the expert-major buffers keep each slot's rows in the layout's slot range
// (validate/fused_route.hpp; in the kernels' wave order within it, the same in every buffer).
// One chunk (comet:B has one). The ranks' buffers must be reachable from this GPU (`peers`: its
// own on one GPU; peer-mapped buffers of the other GPUs once the executor orders launches across
// GPUs, which it does not yet).
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

#include "fused_combine_gemm.hpp"
#include "fused_dispatch_gemm.hpp"
#include "layer_buffers.hpp"
#include "token_layout.hpp"

namespace comet {

class FusedExpertOps {
 public:
  /// Prepares the four launches of `rank` over `peers[rank]`'s buffers (synchronous: once per
  /// Plan), `transfer_blocks` transfer blocks each; a wait that lasts `timeout_s` gives up (the
  /// watchdog). `silent_source` >= 0: that source's rows are never pulled (a test of the watchdog,
  /// FaultInjection). Throws GpuError when the kernels cannot run here or cannot run these shapes.
  FusedExpertOps(const TokenLayout& layout, int rank, const LayerDims& dims, const std::vector<LayerBuffers*>& peers,
                 int transfer_blocks, double timeout_s, int silent_source = -1);

  /// Whether this build and this GPU run the fused kernels; if not, why.
  static bool available(std::string* why_not);

  void forward_gate_up(cudaStream_t stream);
  void forward_down(cudaStream_t stream);
  void backward_down(cudaStream_t stream);
  void backward_gate_up(cudaStream_t stream);

  /// After the runs are synchronised: "" when no wait gave up since the ops were prepared, else
  /// which launch and the watchdog's report (kernels' watchdog_report()).
  std::string watchdog_report();
  /// After the runs are synchronised: when the transfer blocks of the last run's launch of
  /// `forward` pass's `stage` (0: the rows in, 1: the rows back) ran (kernels' transfer_span).
  kernels::TransferSpan transfer_span(bool forward, int stage);

 private:
  LayerBuffers& buffers_;
  LayerDims dims_;
  std::int64_t rows_ = 0;  // this rank's expert-major rows
  int blocks_;
  kernels::FusedDispatchGemm gate_up_, down_grad_;  // forward stage 0; backward stage 0
  kernels::FusedCombineGemm down_, gate_up_grad_;   // forward stage 1; backward stage 1
};

}  // namespace comet
