// comet_gpu_bench section `ffn`: the expert FFN as comet validate runs it against one dense cuBLAS
// GEMM of the same flops (the issue's 70% target).
#include <cublas_v2.h>
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "expert_ffn.hpp"
#include "expert_ffn_grouped.hpp"
#include "gpu_error.hpp"
#include "median.hpp"
#include "moe_model.hpp"
#include "op_graphs.hpp"

namespace comet::bench {

namespace {
constexpr int LANES = 4;
}  // namespace

void ffn_section(const std::vector<std::string>& models, const std::vector<std::int64_t>& tokens_list, int ep, int rounds) {
  fmt::print("# Expert FFN: forward of the local experts (h13 = x w13, SwiGLU, y = act w2; per-expert cuBLAS GEMMs, bf16, fp32 accumulate)\n");
  fmt::print("# rows = tokens/GPU x top_k, uniform over experts/EP local experts (EP {}); dense = one GEMM rows x H x 3F\n", ep);
  fmt::print("# ffn = as comet validate runs it: the experts spread over {} lanes (parallel streams, kernels/expert_lanes.hpp),\n"
             "# captured once in a CUDA graph and replayed (validate/op_graphs.hpp); lanes = the same without the graph\n"
             "# (launched from the host every time); 1 stream = without lanes and graph; grouped = each projection one CUTLASS\n"
             "# grouped GEMM over all experts (kernels/grouped_gemm.hpp), captured and replayed like ffn (- when not available)\n",
             LANES);
  fmt::print("# {} interleaved rounds: times are medians over rounds; ratio = dense time / FFN time; range = its lowest and\n"
             "# highest value in one round\n",
             rounds);
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11} {:>7} {:>8} {:>8}\n", "model", "tokens",
             "experts", "rows/e", "H", "F", "ffn_time", "ffn_rate", "dense_time", "dense_rate", "ratio", "range", "lanes", "1stream",
             "grouped");
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11} {:>7} {:>8} {:>8}\n", "#", "", "", "", "",
             "", "ms", "TFLOP/s", "ms", "TFLOP/s", "%", "%", "%", "%", "%");
  std::string grouped_why_not;
  const bool grouped_available = kernels::GroupedGemm::available(&grouped_why_not);
  if (!grouped_available) fmt::print("# grouped: {}\n", grouped_why_not);
  kernels::GroupedGemm grouped_gemm;
  cublasHandle_t handle = nullptr;
  check_cublas(cublasCreate(&handle), "cuBLAS");
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreate(&stream), "stream");
  kernels::ExpertLanes lanes(LANES, 0);
  for (const std::string& name : models) {
    const MoeModel m = *find_model_preset(name);
    const int local = std::max(1, m.experts / ep);
    const std::int64_t h = m.hidden, f = m.expert_ffn;
    for (std::int64_t tokens : tokens_list) {
      const std::int64_t rows = tokens * m.top_k, per_expert = rows / local, used = per_expert * local;
      DeviceBuffer<bf16> x("x", used * h), h13("h13", used * 2 * f), act("act", used * f), y("y", used * h);
      DeviceBuffer<bf16> w13("w13", local * h * 2 * f), w2("w2", local * f * h);
      DeviceBuffer<bf16> dense_b("dense weights", h * 3 * f), dense_c("dense output", used * 3 * f);
      for (auto* b : {&x, &w13, &w2, &dense_b}) fill(*b, 7);
      std::vector<const bf16*> p13, p2;
      std::vector<std::int64_t> offsets;
      for (int e = 0; e <= local; ++e) offsets.push_back(e * per_expert);
      const kernels::ExpertRows rows_of_experts = kernels::ExpertRows::from_offsets(offsets);
      for (int e = 0; e < local; ++e) p13.push_back(w13.get() + e * h * 2 * f), p2.push_back(w2.get() + e * f * h);
      const kernels::ExpertFfnShape shape{static_cast<int>(h), static_cast<int>(f)};
      const double flops = 2.0 * static_cast<double>(used) * h * 3.0 * f;
      auto forward_on = [&](kernels::ExpertLanes* with, cudaStream_t on) {
        check_cublas(kernels::expert_ffn_forward(handle, shape, rows_of_experts, x.get(), p13.data(), p2.data(), h13.get(),
                                                 act.get(), y.get(), on, with),
                     "expert FFN");
      };
      const std::function<void()> dense = [&] {
        check_cublas(cublasSetStream(handle, stream), "stream");
        check_cublas(kernels::gemm_bf16(handle, false, false, used, 3 * f, h, x.get(), dense_b.get(), dense_c.get(), false), "dense");
      };
      // Every round times every variant once, interleaved, so a change of the machine's state
      // shows in all of them; medians over rounds, and the spread of the first variant's ratio.
      OpGraphs graph(true);
      std::vector<std::function<void()>> variants{
          [&] { graph.launch(0, stream, [&](cudaStream_t on) { forward_on(&lanes, on); }); },
          [&] { forward_on(&lanes, stream); }, [&] { forward_on(nullptr, stream); }, dense};
      if (grouped_available) {
        // Once outside the graph: the GEMM's workspace is sized on its first call, not while captured.
        auto grouped = [&](cudaStream_t on) {
          check_cuda(kernels::expert_ffn_forward_grouped(grouped_gemm, shape, rows_of_experts, x.get(), p13.data(), p2.data(),
                                                         h13.get(), act.get(), y.get(), on),
                     "grouped expert FFN");
        };
        grouped(stream);
        variants.push_back([&] { graph.launch(1, stream, grouped); });
      }
      std::vector<std::vector<double>> times(variants.size());
      std::vector<double> ratios;
      for (int r = 0; r < rounds; ++r) {
        for (std::size_t v = 0; v < variants.size(); ++v) times[v].push_back(time_s(variants[v], stream, 5));
        ratios.push_back(times[3].back() / times[0].back());  // dense over ffn
      }
      std::vector<double> t;
      for (auto& samples : times) t.push_back(median(samples));
      const double ffn = t[0], dense_s = t[3];
      const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
      const std::string grouped_ratio = t.size() > 4 ? fmt::format("{:.1f}", 100.0 * dense_s / t[4]) : "-";
      fmt::print("{:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10.3f} {:>10.1f} {:>10.3f} {:>10.1f} {:>7.1f} {:>11} {:>7.1f} {:>8.1f} {:>8}\n",
                 name, tokens, local, per_expert, h, f, ffn * 1e3, flops / ffn * 1e-12, dense_s * 1e3, flops / dense_s * 1e-12,
                 100.0 * dense_s / ffn, fmt::format("{:.1f}-{:.1f}", 100.0 * *low, 100.0 * *high), 100.0 * dense_s / t[1],
                 100.0 * dense_s / t[2], grouped_ratio);
    }
  }
  cublasDestroy(handle);
  cudaStreamDestroy(stream);
}

}  // namespace comet::bench
