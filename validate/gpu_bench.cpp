// comet_gpu_bench: the validation kernels against the plain library calls they must keep up
// with, printed nccl-tests style (a `#` preamble, fixed-width columns, a units row).
//   ffn    grouped SwiGLU experts (ragged per-expert cuBLAS GEMMs + activation) against one dense
//          cuBLAS GEMM of the same flops, at the experts' shapes of a model on an EP=2 node
//   a2a    NCCL all-to-all-v with ragged pieces against a plain NCCL all-to-all of the same
//          total bytes (one thread per GPU), bus bandwidth as nccl-tests computes it
// Times: CUDA events around `iters` back-to-back runs after warm-up; median of 5 such samples.
#include <CLI/CLI.hpp>
#include <cublas_v2.h>
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "all_to_all_v.hpp"
#include "device_buffer.hpp"
#include "expert_ffn.hpp"
#include "gpu_error.hpp"
#include "median.hpp"
#include "moe_model.hpp"
#include "op_graphs.hpp"
#include "random_fill.hpp"

namespace comet {
namespace {

using bf16 = __nv_bfloat16;

/// Median over 5 samples of the mean seconds of `iters` calls of `work` on `stream`.
double time_s(const std::function<void()>& work, cudaStream_t stream, int iters) {
  for (int i = 0; i < 3; ++i) work();
  cudaEvent_t start, end;
  check_cuda(cudaEventCreate(&start), "event");
  check_cuda(cudaEventCreate(&end), "event");
  std::vector<double> samples;
  for (int s = 0; s < 5; ++s) {
    check_cuda(cudaEventRecord(start, stream), "record");
    for (int i = 0; i < iters; ++i) work();
    check_cuda(cudaEventRecord(end, stream), "record");
    check_cuda(cudaEventSynchronize(end), "synchronize");
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, start, end), "elapsed");
    samples.push_back(ms * 1e-3 / iters);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return median(samples);
}

void fill(DeviceBuffer<bf16>& b, std::uint64_t seed) {
  check_cuda(kernels::random_fill_bf16(b.get(), b.size(), seed, 0.05f, nullptr), "fill " + b.name());
}

constexpr int LANES = 4;

void ffn_section(const std::vector<std::string>& models, const std::vector<std::int64_t>& tokens_list, int ep, int rounds) {
  fmt::print("# Expert FFN: forward of the local experts (h13 = x w13, SwiGLU, y = act w2; per-expert cuBLAS GEMMs, bf16, fp32 accumulate)\n");
  fmt::print("# rows = tokens/GPU x top_k, uniform over experts/EP local experts (EP {}); dense = one GEMM rows x H x 3F\n", ep);
  fmt::print("# ffn = as comet validate runs it: the experts spread over {} lanes (parallel streams, kernels/expert_lanes.hpp),\n"
             "# captured once in a CUDA graph and replayed (validate/op_graphs.hpp); lanes = the same without the graph\n"
             "# (launched from the host every time); 1 stream = without lanes and graph\n",
             LANES);
  fmt::print("# {} interleaved rounds: times are medians over rounds; ratio = dense time / FFN time; range = its lowest and\n"
             "# highest value in one round\n",
             rounds);
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11} {:>7} {:>8}\n", "model", "tokens", "experts",
             "rows/e", "H", "F", "ffn_time", "ffn_rate", "dense_time", "dense_rate", "ratio", "range", "lanes", "1stream");
  fmt::print("{:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>11} {:>7} {:>8}\n", "#", "", "", "", "", "",
             "ms", "TFLOP/s", "ms", "TFLOP/s", "%", "%", "%", "%");
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
      const std::vector<std::function<void()>> variants{
          [&] { graph.launch(0, stream, [&](cudaStream_t on) { forward_on(&lanes, on); }); },
          [&] { forward_on(&lanes, stream); }, [&] { forward_on(nullptr, stream); }, dense};
      std::vector<std::vector<double>> times(variants.size());
      std::vector<double> ratios;
      for (int r = 0; r < rounds; ++r) {
        for (std::size_t v = 0; v < variants.size(); ++v) times[v].push_back(time_s(variants[v], stream, 5));
        ratios.push_back(times.back().back() / times[0].back());
      }
      std::vector<double> t;
      for (auto& samples : times) t.push_back(median(samples));
      const double ffn = t[0], dense_s = t[3];
      const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
      fmt::print("{:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10.3f} {:>10.1f} {:>10.3f} {:>10.1f} {:>7.1f} {:>11} {:>7.1f} {:>8.1f}\n", name, tokens,
                 local, per_expert, h, f, ffn * 1e3, flops / ffn * 1e-12, dense_s * 1e3, flops / dense_s * 1e-12,
                 100.0 * dense_s / ffn, fmt::format("{:.1f}-{:.1f}", 100.0 * *low, 100.0 * *high), 100.0 * dense_s / t[1], 100.0 * dense_s / t[2]);
    }
  }
  cublasDestroy(handle);
  cudaStreamDestroy(stream);
}

// Bytes rank r sends to rank p in the ragged case: the mean piece scaled by 0.5 .. 1.5.
std::int64_t ragged_piece(std::int64_t mean, int r, int p, int ranks) {
  const double factor = 0.5 + static_cast<double>((r * 7 + p * 3) % (2 * ranks)) / (2 * ranks - 1);
  return static_cast<std::int64_t>(mean * factor) / 256 * 256;
}

struct A2aTimes {
  double ragged_s = 0, uniform_s = 0, ragged_remote_bytes = 0, uniform_remote_bytes = 0;
};

// One rank of the all-to-all benchmark: joins the communicator, then times both variants at
// every size (the same sequence of NCCL calls on every rank).
std::vector<A2aTimes> a2a_rank(int r, int ranks, const ncclUniqueId& id, const std::vector<std::int64_t>& sizes) {
  check_cuda(cudaSetDevice(r), "select GPU");
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, ranks, id, r), "NCCL init");
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  std::vector<A2aTimes> out;
  for (std::int64_t total : sizes) {
    const std::int64_t mean = total / ranks;
    A2aTimes t;
    std::vector<std::int64_t> send_off{0}, send_bytes, recv_off{0}, recv_bytes;
    for (int p = 0; p < ranks; ++p) {
      send_bytes.push_back(ragged_piece(mean, r, p, ranks));
      recv_bytes.push_back(ragged_piece(mean, p, r, ranks));
      send_off.push_back(send_off.back() + send_bytes.back());
      recv_off.push_back(recv_off.back() + recv_bytes.back());
      if (p != r) t.ragged_remote_bytes += static_cast<double>(send_bytes.back());
    }
    // Same total bytes in equal pieces. Every rank must compute the same piece from the global
    // total: NCCL pairs a send with a receive of the same size, and a mismatch hangs both.
    std::int64_t all_ranks_total = 0;
    for (int s = 0; s < ranks; ++s)
      for (int p = 0; p < ranks; ++p) all_ranks_total += ragged_piece(mean, s, p, ranks);
    const std::int64_t uniform = all_ranks_total / ranks / ranks / 256 * 256;
    t.uniform_remote_bytes = static_cast<double>(uniform) * (ranks - 1);
    DeviceBuffer<std::uint8_t> send("send", std::max(send_off.back(), uniform * ranks));
    DeviceBuffer<std::uint8_t> recv("recv", std::max(recv_off.back(), uniform * ranks));
    check_cuda(cudaMemsetAsync(send.get(), 1, send.size(), stream), "init");
    t.ragged_s = time_s([&] {
      check_nccl(kernels::all_to_all_v(send.get(), send_off.data(), send_bytes.data(), recv.get(), recv_off.data(),
                                       recv_bytes.data(), ranks, r, true, comm, stream), "a2a-v");
    }, stream, 20);
    t.uniform_s = time_s([&] { check_nccl(kernels::all_to_all(send.get(), recv.get(), uniform, ranks, comm, stream), "a2a"); },
                         stream, 20);
    out.push_back(t);
  }
  check_cuda(cudaStreamSynchronize(stream), "synchronize");
  cudaStreamDestroy(stream);
  ncclCommDestroy(comm);
  return out;
}

void a2a_section(const std::vector<std::int64_t>& sizes, int ranks) {
  fmt::print("\n# All-to-all: {} GPUs, one thread each; a2a-v = ragged pieces (0.5x .. 1.5x the mean), a2a = equal pieces\n", ranks);
  fmt::print("# of the same total bytes; busbw = remote bytes of the busiest rank / time of the slowest rank\n");
  ncclUniqueId id{};
  check_nccl(ncclGetUniqueId(&id), "NCCL id");
  std::vector<std::vector<A2aTimes>> per_rank(ranks);
  std::vector<std::string> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        per_rank[r] = a2a_rank(r, ranks, id, sizes);
      } catch (const std::exception& error) {
        errors[r] = error.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const std::string& e : errors)
    if (!e.empty()) throw GpuError(e);
  fmt::print("{:>12} {:>10} {:>10} {:>10} {:>10} {:>7}\n", "bytes/rank", "a2av_time", "a2av_bus", "a2a_time", "a2a_bus", "ratio");
  fmt::print("{:>12} {:>10} {:>10} {:>10} {:>10} {:>7}\n", "B", "ms", "GB/s", "ms", "GB/s", "%");
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    double tv = 0, tu = 0, busiest = 0, uniform_remote = 0;
    for (const auto& rank : per_rank) {
      tv = std::max(tv, rank[i].ragged_s);
      tu = std::max(tu, rank[i].uniform_s);
      busiest = std::max(busiest, rank[i].ragged_remote_bytes);
      uniform_remote = std::max(uniform_remote, rank[i].uniform_remote_bytes);
    }
    fmt::print("{:>12} {:>10.3f} {:>10.1f} {:>10.3f} {:>10.1f} {:>7.1f}\n", sizes[i], tv * 1e3, busiest / tv * 1e-9, tu * 1e3,
               uniform_remote / tu * 1e-9, 100.0 * (busiest / tv) / (uniform_remote / tu));
  }
}

}  // namespace
}  // namespace comet

int main(int argc, char** argv) {
  CLI::App app{"comet_gpu_bench: validation kernels against dense cuBLAS and plain NCCL all-to-all"};
  std::vector<std::string> sections{"ffn", "a2a"}, models{"mixtral-8x7b", "deepseek-v3"};
  std::vector<std::int64_t> tokens{4096, 16384}, sizes{1 << 24, 1 << 26, 1 << 28};
  int ep = 2, rounds = 3;
  app.add_option("--sections", sections, "ffn, a2a")->check(CLI::IsMember({"ffn", "a2a"}));
  app.add_option("--models", models, "Model presets for the FFN shapes");
  app.add_option("--tokens", tokens, "Tokens per GPU (rows = tokens x top_k)");
  app.add_option("--ep", ep, "Expert-parallel size the local experts come from")->check(CLI::PositiveNumber);
  app.add_option("--bytes", sizes, "All-to-all bytes per rank");
  app.add_option("--rounds", rounds, "FFN section: interleaved rounds over the variants (medians reported)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows appear as they are measured, even under a pipe
  for (const std::string& m : models)
    if (!comet::find_model_preset(m)) {
      fmt::print(stderr, "comet_gpu_bench: error: unknown model preset '{}'\n", m);
      return 2;
    }
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) {
    fmt::print(stderr, "comet_gpu_bench: no CUDA GPU here\n");
    return 2;
  }
  try {
    fmt::print("# comet_gpu_bench on {} GPU(s)\n", gpus);
    if (std::find(sections.begin(), sections.end(), "ffn") != sections.end()) comet::ffn_section(models, tokens, ep, rounds);
    if (std::find(sections.begin(), sections.end(), "a2a") != sections.end()) {
      if (gpus < 2)
        fmt::print("\n# All-to-all: skipped (needs 2 GPUs)\n");
      else
        comet::a2a_section(sizes, gpus);
    }
  } catch (const std::exception& error) {
    fmt::print(stderr, "comet_gpu_bench: error: {}\n", error.what());
    return 3;
  }
  return 0;
}
