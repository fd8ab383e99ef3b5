// The sections of comet_gpu_bench, one file each; every one prints an nccl-tests style table (a
// `#` preamble, fixed-width columns, a units row) on stdout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fused_schedule.hpp"

namespace comet::bench {

/// Expert FFN (ragged per-expert GEMMs on lanes, from a CUDA graph) against one dense GEMM of the
/// same flops, for each model preset and tokens per GPU (ffn_bench.cpp).
void ffn_section(const std::vector<std::string>& models, const std::vector<std::int64_t>& tokens_list, int ep, int rounds);

/// Where the fused section puts the other GPUs' buffers: host-mapped pinned memory, the machine's
/// other GPUs (peer access), or this GPU's own memory (`local`: no link at all, so what the fused
/// launch costs beyond its GEMM is the kernel's own, not a transport's).
enum class FusedTransport { HOST, PEER, LOCAL };

struct FusedOptions {
  std::vector<std::string> models;   ///< model presets for the expert shapes
  std::vector<std::int64_t> tokens;  ///< tokens per GPU (rows = tokens x top_k)
  int ep = 2;                        ///< expert-parallel size the local experts come from
  int sources = 8;                   ///< GPUs sending rows, source 0 this GPU's own rows
  std::vector<int> blocks;           ///< transfer-block counts to try (even: whole clusters)
  int rounds = 3;                    ///< interleaved rounds (medians reported)
  FusedTransport transport = FusedTransport::HOST;
  std::vector<int> band_tiles{kernels::FUSED_BAND_TILES};  ///< tile bands to time the GEMM part and the overlap in
  std::vector<double> send_paces;    ///< GB/s, all send blocks together: paced combine sends to time too
  std::vector<int> unpermute_blocks{2, 4, 8};  ///< unpermute section: unpermute-block counts (even)
  bool weights_transposed = false;   ///< fused section: each expert's weights stored [n, k] (W^T) instead of [k, n]
};

/// COMET's fused dispatch + expert GEMM and expert GEMM + combine on GPU 0: the GEMM part against
/// cuBLAS and the CUTLASS grouped GEMM (in each tile band), then the overlap at each
/// transfer-block count (fused_bench.cpp). Local experts = experts / ep.
void fused_section(const FusedOptions& options);

/// The fused combine with this GPU's unpermute in the same launch (unpermute blocks reducing its
/// tokens as their rows land) against the launch and then combine_rows, on GPU 0, at each send-
/// and unpermute-block count (fused_unpermute_bench.cpp).
void unpermute_section(const FusedOptions& options);

/// NCCL all-to-all-v with ragged pieces against a plain all-to-all of the same total bytes, for
/// each size in bytes per rank, one thread per GPU (a2a_bench.cpp).
void a2a_section(const std::vector<std::int64_t>& sizes, int ranks, int max_ctas);

struct InterferenceOptions {
  std::int64_t m = 8192, n = 14336, k = 4096;  ///< the GEMM, M x N x K, bf16 in and out
  std::int64_t bytes_per_peer = 64 << 20;      ///< all-to-all piece, bytes
  int max_ctas = 0;                            ///< NCCL maxCTAs (0 = NCCL's choice)
  int gemm_sms = 0;                            ///< cublasSetSmCountTarget of the GEMM (0 = all SMs)
  double loop_s = 0.5;                         ///< length of the measured loop run alone, seconds
};

/// A GEMM loop beside a communication loop on the same GPU: how much each slows the other, the
/// cost model's comm_sm_share and comm_slowdown_with_compute (interference_bench.cpp).
void interference_section(const InterferenceOptions& options, int ranks);

}  // namespace comet::bench
