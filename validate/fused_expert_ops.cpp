#include "fused_expert_ops.hpp"

#include <fmt/format.h>

#include "fused_route.hpp"
#include "gpu_error.hpp"
#include "swiglu.hpp"

namespace comet {

bool FusedExpertOps::available(std::string* why_not) {
  return kernels::FusedDispatchGemm::available(why_not) && kernels::FusedCombineGemm::available(why_not);
}

FusedExpertOps::FusedExpertOps(const TokenLayout& layout, int rank, const LayerDims& dims, const std::vector<LayerBuffers*>& peers,
                               int transfer_blocks, double timeout_s, int silent_source)
    : buffers_(*peers.at(static_cast<std::size_t>(rank))), dims_(dims), blocks_(transfer_blocks) {
  if (std::string why; !available(&why)) throw GpuError("the fused kernels of comet:B cannot run here: " + why);
  if (layout.num_chunks() != 1) throw std::logic_error("FusedExpertOps: a comet:B Plan has one chunk");
  if (static_cast<int>(peers.size()) != layout.num_ranks()) throw std::logic_error("FusedExpertOps: one buffer set per rank");
  const kernels::DispatchRoute route = fused_route(layout, 0, rank);
  const std::vector<std::int64_t> offsets = fused_source_offsets(layout, 0, rank);
  const std::int64_t h = dims.hidden, f = dims.ffn;
  // Each source's piece for this rank (its send buffer: x rows forward, gated dy rows backward),
  // and where its rows come back (its combine receive buffer, at the same rows). One chunk: slot 0.
  std::vector<const bf16*> sources;
  std::vector<bf16*> destinations;
  for (std::size_t s = 0; s < peers.size(); ++s) {
    sources.push_back(peers[s]->staging[0].send.get() + offsets[s] * h);
    destinations.push_back(peers[s]->staging[0].combine_recv.get() + offsets[s] * h);
  }
  LayerBuffers& b = buffers_;
  const auto check = [&](cudaError_t e, const char* what) {
    if (e == cudaErrorInvalidValue)
      throw GpuError(fmt::format("the fused kernels cannot run {} of this model (hidden {}, expert ffn {}: multiples of 8 needed)", what,
                                 dims.hidden, dims.ffn));
    check_cuda(e, what);
  };
  // Forward stage 0: x [rows, h] x w13 [h, 2f]. Backward stage 0: dy [rows, h] x w2^T (w2 stored [f, h]).
  kernels::FusedDispatchSchedule gate_up = kernels::FusedDispatchGemm::schedule_for(route, 2 * f);
  kernels::FusedDispatchSchedule down_grad = kernels::FusedDispatchGemm::schedule_for(route, f);
  for (kernels::FusedDispatchSchedule* schedule : {&gate_up, &down_grad})
    std::erase_if(schedule->copies, [&](const kernels::RowCopy& c) { return c.source == silent_source; });
  check(gate_up_.prepare(gate_up, h, 2 * f, {sources, b.x_experts.get(), b.w13.get(), b.h13.get()}), "the gate and up projections");
  check(down_grad_.prepare(down_grad, h, f, {sources, b.dy.get(), b.w2.get(), b.d_act.get()}, /*weights_transposed=*/true),
        "the down projection's data gradient");
  // Forward stage 1: act [rows, f] x w2 [f, h]. Backward stage 1: d_h13 [rows, 2f] x w13^T (w13 stored [h, 2f]).
  const kernels::FusedCombineSchedule back = kernels::FusedCombineGemm::schedule_for(route, h);
  check(down_.prepare(back, f, h, {b.act.get(), b.w2.get(), b.y.get(), destinations, {}}), "the down projection");
  check(gate_up_grad_.prepare(back, 2 * f, h, {b.d_h13.get(), b.w13.get(), b.y.get(), destinations, {}}, /*weights_transposed=*/true),
        "the gate and up projections' data gradient");
  for (auto* kernel : {&gate_up_, &down_grad_}) kernel->set_timeout(timeout_s);
  for (auto* kernel : {&down_, &gate_up_grad_}) kernel->set_timeout(timeout_s);
  rows_ = gate_up.total_rows();
}

void FusedExpertOps::forward_gate_up(cudaStream_t stream) {
  check_cuda(gate_up_.run(blocks_, stream), "fused dispatch + gate/up GEMM");
  check_cuda(kernels::swiglu_forward(buffers_.h13.get(), rows_, dims_.ffn, buffers_.act.get(), stream), "SwiGLU");
}

void FusedExpertOps::forward_down(cudaStream_t stream) { check_cuda(down_.run(blocks_, stream), "fused down GEMM + combine"); }

void FusedExpertOps::backward_down(cudaStream_t stream) {
  check_cuda(down_grad_.run(blocks_, stream), "fused combine-grad + down GEMM data gradient");
  check_cuda(kernels::swiglu_backward(buffers_.h13.get(), buffers_.d_act.get(), rows_, dims_.ffn, buffers_.d_h13.get(), stream),
             "SwiGLU gradient");
}

void FusedExpertOps::backward_gate_up(cudaStream_t stream) {
  check_cuda(gate_up_grad_.run(blocks_, stream), "fused gate/up GEMM data gradient + dispatch-grad");
}

kernels::TransferSpan FusedExpertOps::transfer_span(bool forward, int stage) {
  if (stage == 0) return forward ? gate_up_.transfer_span() : down_grad_.transfer_span();
  return forward ? down_.transfer_span() : gate_up_grad_.transfer_span();
}

std::string FusedExpertOps::watchdog_report() {
  const auto report = [](const char* launch, auto& kernel) -> std::string {
    if (kernel.watchdog() < 0) return "";
    return fmt::format("the fused {} gave up waiting: {}", launch, kernel.watchdog_report());
  };
  for (const std::string& text : {report("dispatch + gate/up GEMM", gate_up_), report("down GEMM + combine", down_),
                                  report("combine-grad + down GEMM gradient", down_grad_),
                                  report("gate/up GEMM gradient + dispatch-grad", gate_up_grad_)})
    if (!text.empty()) return text;
  return "";
}

}  // namespace comet
