// comet_gpu_bench: the validation kernels against the plain library calls they must keep up
// with, and the interference the cost model needs, printed nccl-tests style (a `#` preamble,
// fixed-width columns, a units row). One file per section:
//   ffn           ffn_bench.cpp           expert FFN vs one dense cuBLAS GEMM of the same flops
//   a2a           a2a_bench.cpp           NCCL all-to-all-v (ragged) vs plain all-to-all, one thread per GPU
//   interference  interference_bench.cpp  a GEMM loop beside an all-to-all or copy-engine loop: how much each slows
//   fused         fused_bench.cpp         COMET's fused dispatch + GEMM: GEMM part vs cuBLAS, overlap per copy-block count
// Times: CUDA events around back-to-back runs after warm-up.
#include <CLI/CLI.hpp>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "fused_schedule.hpp"
#include "moe_model.hpp"

namespace {

bool wants(const std::vector<std::string>& sections, const std::string& name) {
  return std::find(sections.begin(), sections.end(), name) != sections.end();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"comet_gpu_bench: validation kernels against dense cuBLAS and plain NCCL all-to-all, and GEMM/communication interference"};
  std::vector<std::string> sections{"ffn", "a2a"}, models{"mixtral-8x7b", "deepseek-v3"};
  std::vector<std::int64_t> tokens{4096, 16384}, sizes{1 << 24, 1 << 26, 1 << 28};
  int ep = 2, rounds = 3, max_ctas = 0;
  comet::bench::InterferenceOptions interference;
  app.add_option("--sections", sections, "ffn, a2a, interference, fused, unpermute (default: ffn a2a)")
      ->check(CLI::IsMember({"ffn", "a2a", "interference", "fused", "unpermute"}));
  app.add_option("--models", models, "FFN section: model presets for the expert shapes");
  app.add_option("--tokens", tokens, "FFN section: tokens per GPU (rows = tokens x top_k)");
  app.add_option("--ep", ep, "FFN section: expert-parallel size the local experts come from")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "FFN and fused sections: interleaved rounds over the variants (medians, and ratios paired by round, reported)")
      ->check(CLI::PositiveNumber);
  int sources = 8;
  std::vector<int> copy_blocks{2, 4, 8, 16, 24};
  app.add_option("--sources", sources, "Fused section: GPUs sending rows (source 0 is this GPU's own rows; the others are "
                                       "host-mapped pinned memory)")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--copy-blocks", copy_blocks, "Fused section: transfer-block counts to try (copy blocks of the dispatch, send "
                                               "blocks of the combine), even (whole clusters of two; the GEMM gets the other SMs)")
      ->check(CLI::Range(2, 1024) & CLI::Validator([](std::string& v) { return std::stoi(v) % 2 == 0 ? "" : "must be even"; }, "EVEN"));
  comet::bench::FusedTransport transport = comet::bench::FusedTransport::HOST;
  app.add_option("--fused-transport", transport, "Fused section: the other GPUs' buffers in host-mapped pinned memory (host), on "
                                                 "this machine's other GPUs (peer: NVLink or PCIe peer access, 2 GPUs or more) or in "
                                                 "this GPU's own memory (local: no link, the kernels' own cost)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, comet::bench::FusedTransport>{
          {"host", comet::bench::FusedTransport::HOST}, {"peer", comet::bench::FusedTransport::PEER},
          {"local", comet::bench::FusedTransport::LOCAL}}))
      ->capture_default_str();
  std::vector<int> band_tiles{comet::kernels::FUSED_BAND_TILES};
  app.add_option("--band-tiles", band_tiles, "Fused section: tile bands (M tiles per band within an expert, each band N column by "
                                             "N column; 0 = one band per expert; the default is the kernels'): the GEMM part and the "
                                             "overlap are timed in each")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  std::vector<double> send_paces;
  app.add_option("--send-paces", send_paces, "Fused section: combine sends paced to each of these rates, GB/s for all send blocks "
                                             "together (this GPU's own rows stored by the epilogue, local last, sends per block)")
      ->check(CLI::PositiveNumber);
  std::vector<int> unpermute_blocks{2, 4, 8};
  app.add_option("--unpermute-blocks", unpermute_blocks, "Unpermute section: unpermute-block counts to try beside each send-block "
                                                         "count (--copy-blocks), even")
      ->capture_default_str()
      ->check(CLI::Range(2, 1024) & CLI::Validator([](std::string& v) { return std::stoi(v) % 2 == 0 ? "" : "must be even"; }, "EVEN"));
  bool weights_transposed = false;
  app.add_option("--weights-layout", weights_transposed,
                 "Fused section: how each expert's weights are stored, kn = W [k, n] (comet's own layout: N-major B) or nk = "
                 "W^T [n, k] (nn.Linear's: K-major B); the fused kernels, cuBLAS and CUTLASS grouped all read that layout")
      ->transform(CLI::CheckedTransformer(std::map<std::string, bool>{{"kn", false}, {"nk", true}}))
      ->default_str("kn")
      ->type_name("kn|nk");
  app.add_option("--bytes", sizes, "All-to-all section: bytes per rank");
  app.add_option("--comm-ctas", max_ctas, "All-to-all and interference sections: NCCL maxCTAs (0 = NCCL's choice)")
      ->check(CLI::NonNegativeNumber);
  std::vector<std::int64_t> gemm{interference.m, interference.n, interference.k};
  app.add_option("--gemm-mnk", gemm, "Interference section: the GEMM's M N K")->expected(3)->check(CLI::PositiveNumber);
  app.add_option("--bytes-per-peer", interference.bytes_per_peer, "Interference section: all-to-all bytes per peer")
      ->check(CLI::PositiveNumber);
  app.add_option("--gemm-sms", interference.gemm_sms,
                 "Interference section: SMs the GEMM is sized for, the rest left to the transfer (cublasSetSmCountTarget; 0 = all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--loop-seconds", interference.loop_s, "Interference section: length of each measured loop alone, seconds")
      ->check(CLI::Range(0.01, 60.0));
  double watchdog_s = 120.0;
  app.add_option("--watchdog", watchdog_s, "Seconds without a finished measurement before every NCCL communicator is "
                                           "aborted (a rank blocked on a failed peer then stops)")
      ->capture_default_str()->check(CLI::Range(1.0, 3600.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;  // --help prints and exits 0; bad input exits 2
  }
  comet::bench::set_watchdog_seconds(watchdog_s);
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
  interference.m = gemm[0], interference.n = gemm[1], interference.k = gemm[2];
  interference.max_ctas = max_ctas;
  try {
    fmt::print("# comet_gpu_bench on {} GPU(s)\n", gpus);
    if (wants(sections, "ffn")) comet::bench::ffn_section(models, tokens, ep, rounds);
    if (wants(sections, "a2a")) {
      if (gpus < 2)
        fmt::print("\n# All-to-all: skipped (needs 2 GPUs)\n");
      else
        comet::bench::a2a_section(sizes, gpus, max_ctas);
    }
    if (wants(sections, "interference")) comet::bench::interference_section(interference, gpus);
    const comet::bench::FusedOptions fused{models, tokens, ep, sources, copy_blocks, rounds, transport, band_tiles, send_paces, unpermute_blocks,
                                                weights_transposed};
    if (wants(sections, "fused")) comet::bench::fused_section(fused);
    if (wants(sections, "unpermute")) comet::bench::unpermute_section(fused);
  } catch (const std::exception& error) {
    fmt::print(stderr, "comet_gpu_bench: error: {}\n", error.what());
    return 3;
  }
  return 0;
}
