// comet_gpu_bench section `interference`: what a GEMM and a transfer running side by side on one
// GPU cost each other. The cost model carries it as two parameters (sim/core/cost_model.hpp):
// comm_sm_share (GEMMs slow by 1 / (1 - share) while communication runs) and
// comm_slowdown_with_compute (communication loses that share of its bandwidth while GEMMs run).
// Each is measured with one loop covering the other from start to end, so the whole measured
// loop runs beside the other work:
//   GEMM stretch: G GEMMs beside a longer communication loop, against the same G GEMMs alone;
//   communication stretch: C transfers beside a longer GEMM loop, against the same C alone.
// Transfers: `nccl` = NCCL all-to-all of equal pieces (the transport NCCL picks; NCCL_P2P_DISABLE=1
// for host shared memory), `copy-engine` = cudaMemcpyAsync of the same remote bytes to pinned host
// memory and back, which moves data without SMs. For every measured loop rank 0 prints a
// `# window` line (wall-clock seconds since the epoch) so that scripts/clock_samples.py can give
// the SM clock and power an nvidia-smi sampler saw during it.
#include <cublas_v2.h>
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "all_to_all_v.hpp"
#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "expert_ffn.hpp"
#include "gpu_error.hpp"

namespace comet::bench {
namespace {

// How much longer (alone) the covering loop is than the measured one: the covered side must not
// outlast it even when slowed. Communication beside full-GPU GEMMs can slow several-fold.
constexpr double GEMM_COVER = 1.5, COMM_COVER = 6.0;

struct Stretch {
  double alone_s = 0, beside_s = 0;
  bool covered = true;  ///< the other loop ran until this one ended
  double factor() const { return beside_s / alone_s; }
};

struct TransferFigures {
  Stretch gemm, comm;
};

double wall_clock_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One GPU's side of the section: its streams, buffers and communicator, and the loops.
class InterferenceRank {
 public:
  InterferenceRank(const InterferenceOptions& o, int rank, int ranks, const ncclUniqueId& id)
      : o_(o), rank_(rank), ranks_(ranks), a_("gemm A", o.m * o.k), b_("gemm B", o.k * o.n), c_("gemm C", o.m * o.n),
        send_("a2a send", o.bytes_per_peer * ranks), recv_("a2a recv", o.bytes_per_peer * ranks),
        agree_("loop count", 1) {
    comm_ = join_communicator(rank, ranks, id, o.max_ctas);
    // As comet validate sets them up (validate/rank_resources.cpp): communication at high priority.
    int lowest = 0, highest = 0;
    check_cuda(cudaDeviceGetStreamPriorityRange(&lowest, &highest), "stream priorities");
    check_cuda(cudaStreamCreateWithPriority(&gemm_stream_, cudaStreamNonBlocking, lowest), "stream");
    check_cuda(cudaStreamCreateWithPriority(&comm_stream_, cudaStreamNonBlocking, highest), "stream");
    check_cublas(cublasCreate(&handle_), "cuBLAS");
    check_cublas(cublasSetStream(handle_, gemm_stream_), "cuBLAS stream");
    if (o.gemm_sms > 0) check_cublas(cublasSetSmCountTarget(handle_, o.gemm_sms), "cuBLAS SM count target");
    const auto staged = static_cast<std::size_t>(remote_bytes());
    check_cuda(cudaMallocHost(&host_, std::max<std::size_t>(staged, 1)), "pinned host buffer of " + std::to_string(staged) + " B");
    for (auto* buffer : {&a_, &b_}) fill(*buffer, 11 + rank);
    check_cuda(cudaMemset(send_.get(), 1, send_.size()), "init");
    check_cuda(cudaDeviceSynchronize(), "init");
  }
  ~InterferenceRank() {
    cudaStreamSynchronize(gemm_stream_);
    cudaStreamSynchronize(comm_stream_);
    cublasDestroy(handle_);
    cudaFreeHost(host_);
    leave_communicator(comm_);
    cudaStreamDestroy(gemm_stream_);
    cudaStreamDestroy(comm_stream_);
  }
  InterferenceRank(const InterferenceRank&) = delete;
  InterferenceRank& operator=(const InterferenceRank&) = delete;

  /// Bytes the copy-engine transfer moves each way: the all-to-all's remote bytes (one piece on
  /// a single GPU, where there is no all-to-all).
  std::int64_t remote_bytes() const { return o_.bytes_per_peer * std::max(1, ranks_ - 1); }

  TransferFigures measure(const std::string& transfer) {
    const std::function<void()> gemm = [&] {
      check_cublas(kernels::gemm_bf16(handle_, false, false, o_.m, o_.n, o_.k, a_.get(), b_.get(), c_.get(), false), "GEMM");
    };
    std::function<void()> comm = [&] { copy_through_host(); };
    if (transfer == "nccl")
      comm = [&] {
        check_nccl(kernels::all_to_all(send_.get(), recv_.get(), o_.bytes_per_peer, ranks_, comm_, comm_stream_), "all-to-all");
      };
    const double gemm_once = time_s(gemm, gemm_stream_, 3), comm_once = time_s(comm, comm_stream_, 3);
    TransferFigures f;
    const int g = agreed_count(o_.loop_s / gemm_once);
    f.gemm.alone_s = timed_loops(transfer + " gemm-alone", gemm, g, comm, 0).gemm_s;
    const LoopTimes gemm_beside = timed_loops(transfer + " gemm-beside", gemm, g, comm,
                                              agreed_count(GEMM_COVER * g * gemm_once / comm_once));
    f.gemm.beside_s = gemm_beside.gemm_s;
    f.gemm.covered = gemm_beside.comm_end_after_gemm_end_s >= 0.0;
    const int c = agreed_count(o_.loop_s / comm_once);
    f.comm.alone_s = timed_loops(transfer + " comm-alone", gemm, 0, comm, c).comm_s;
    const LoopTimes comm_beside = timed_loops(transfer + " comm-beside", gemm,
                                              agreed_count(COMM_COVER * c * comm_once / gemm_once), comm, c);
    f.comm.beside_s = comm_beside.comm_s;
    f.comm.covered = comm_beside.comm_end_after_gemm_end_s <= 0.0;
    return f;
  }

 private:
  // Device -> pinned host -> device, the remote bytes each way: a transfer on copy engines.
  void copy_through_host() {
    check_cuda(cudaMemcpyAsync(host_, send_.get(), remote_bytes(), cudaMemcpyDeviceToHost, comm_stream_), "copy to host");
    check_cuda(cudaMemcpyAsync(recv_.get(), host_, remote_bytes(), cudaMemcpyHostToDevice, comm_stream_), "copy to device");
  }

  // ceil(wanted), at least 1, the largest over the ranks: NCCL needs the same calls on every rank.
  int agreed_count(double wanted) {
    const int mine = std::max(1, static_cast<int>(std::ceil(wanted)));
    check_cuda(cudaMemcpy(agree_.get(), &mine, sizeof(int), cudaMemcpyHostToDevice), "upload count");
    check_nccl(ncclAllReduce(agree_.get(), agree_.get(), 1, ncclInt32, ncclMax, comm_, comm_stream_), "agree on count");
    int agreed = 0;
    check_cuda(cudaMemcpyAsync(&agreed, agree_.get(), sizeof(int), cudaMemcpyDeviceToHost, comm_stream_), "download count");
    check_cuda(cudaStreamSynchronize(comm_stream_), "agree on count");
    return agreed;
  }

  struct LoopTimes {
    double gemm_s = 0, comm_s = 0;
    double comm_end_after_gemm_end_s = 0;  ///< > 0: the transfers outlasted the GEMMs
  };

  // `gemms` GEMMs on the GEMM stream and `transfers` on the communication stream, each launched
  // from its own host thread (a thread blocked on one stream's full launch queue would otherwise
  // leave gaps in the other's loop), both released together.
  LoopTimes timed_loops(const std::string& window, const std::function<void()>& gemm, int gemms,
                        const std::function<void()>& comm, int transfers) {
    std::array<cudaEvent_t, 4> events{};  // GEMM start, GEMM end, transfer start, transfer end
    for (auto& e : events) check_cuda(cudaEventCreate(&e), "event");
    check_cuda(cudaDeviceSynchronize(), "idle before the loops");
    const double wall_start = wall_clock_s();
    std::latch go(2);
    int device = 0;
    check_cuda(cudaGetDevice(&device), "current GPU");
    std::string comm_error;
    std::thread comm_thread([&] {
      try {
        check_cuda(cudaSetDevice(device), "select GPU");
        go.arrive_and_wait();
        check_cuda(cudaEventRecord(events[2], comm_stream_), "record");
        for (int i = 0; i < transfers; ++i) comm();
        check_cuda(cudaEventRecord(events[3], comm_stream_), "record");
      } catch (const std::exception& error) {
        comm_error = error.what();
      }
    });
    go.arrive_and_wait();
    check_cuda(cudaEventRecord(events[0], gemm_stream_), "record");
    for (int i = 0; i < gemms; ++i) gemm();
    check_cuda(cudaEventRecord(events[1], gemm_stream_), "record");
    comm_thread.join();
    if (!comm_error.empty()) throw GpuError(comm_error);
    check_cuda(cudaDeviceSynchronize(), "finish the loops");
    if (rank_ == 0) fmt::print("# window {} {:.3f} {:.3f}\n", window, wall_start, wall_clock_s());
    LoopTimes t;
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, events[0], events[1]), "elapsed");
    t.gemm_s = gemms > 0 ? ms * 1e-3 : 0.0;
    check_cuda(cudaEventElapsedTime(&ms, events[2], events[3]), "elapsed");
    t.comm_s = transfers > 0 ? ms * 1e-3 : 0.0;
    check_cuda(cudaEventElapsedTime(&ms, events[1], events[3]), "elapsed");
    t.comm_end_after_gemm_end_s = ms * 1e-3;
    for (auto& e : events) cudaEventDestroy(e);
    progress();  // a measured loop finished: the watchdog's clock restarts
    return t;
  }

  const InterferenceOptions& o_;
  int rank_, ranks_;
  DeviceBuffer<bf16> a_, b_, c_;
  DeviceBuffer<std::uint8_t> send_, recv_;
  DeviceBuffer<int> agree_;
  void* host_ = nullptr;
  ncclComm_t comm_ = nullptr;
  cudaStream_t gemm_stream_ = nullptr, comm_stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
};

// The worse of two ranks' stretches (the one whose beside / alone is larger).
Stretch worse(const Stretch& a, const Stretch& b) { return b.factor() > a.factor() ? b : a; }

std::string stretch_text(const Stretch& s) {
  // Not covered: the other loop ended first, so part of this one ran alone: a lower bound.
  return fmt::format("{}{:.3f}", s.covered ? "" : ">", s.factor());
}

}  // namespace

void interference_section(const InterferenceOptions& o, int ranks) {
  fmt::print("\n# Interference: {} GPU(s), one thread each; a bf16 GEMM {}x{}x{} (fp32 accumulate) looped on one stream, a\n",
             ranks, o.m, o.n, o.k);
  fmt::print("# transfer looped on another; nccl = NCCL all-to-all of {} B per peer (NCCL maxCTAs {}), copy-engine =\n",
             o.bytes_per_peer, o.max_ctas > 0 ? std::to_string(o.max_ctas) : "default");
  fmt::print("# cudaMemcpyAsync of the same remote bytes to pinned host memory and back (no SMs); GEMMs sized for {} SMs,\n",
             o.gemm_sms > 0 ? std::to_string(o.gemm_sms) : "all");
  fmt::print("# transfers on a high-priority stream (as comet validate runs them); each measured loop\n");
  fmt::print("# runs ~{} s alone and is covered from start to end by the other loop when beside it ('>' = it was not:\n", o.loop_s);
  fmt::print("# a lower bound); x = beside / alone, worst GPU; sm_share = 1 - 1/gemm_x (cost model comm_sm_share),\n");
  fmt::print("# slowdown = 1 - 1/comm_x (comm_slowdown_with_compute)\n");
  ncclUniqueId id{};
  check_nccl(ncclGetUniqueId(&id), "NCCL id");
  std::vector<std::string> transfers{"copy-engine"};
  if (ranks > 1)
    transfers.insert(transfers.begin(), "nccl");
  else
    fmt::print("# nccl: skipped (an all-to-all needs 2 GPUs)\n");
  std::vector<std::vector<TransferFigures>> per_rank(ranks);
  run_per_gpu(ranks, [&](int r) {
    InterferenceRank rank(o, r, ranks, id);
    for (const std::string& transfer : transfers) per_rank[r].push_back(rank.measure(transfer));
  });
  fmt::print("{:<12} {:>11} {:>11} {:>7} {:>11} {:>11} {:>7} {:>9} {:>9}\n", "transfer", "gemm_alone", "gemm_beside", "gemm_x",
             "comm_alone", "comm_beside", "comm_x", "sm_share", "slowdown");
  fmt::print("{:<12} {:>11} {:>11} {:>7} {:>11} {:>11} {:>7} {:>9} {:>9}\n", "#", "ms", "ms", "", "ms", "ms", "", "", "");
  for (std::size_t t = 0; t < transfers.size(); ++t) {
    Stretch gemm = per_rank[0][t].gemm, comm = per_rank[0][t].comm;
    for (int r = 1; r < ranks; ++r) gemm = worse(gemm, per_rank[r][t].gemm), comm = worse(comm, per_rank[r][t].comm);
    fmt::print("{:<12} {:>11.2f} {:>11.2f} {:>7} {:>11.2f} {:>11.2f} {:>7} {:>9.3f} {:>9.3f}\n", transfers[t], gemm.alone_s * 1e3,
               gemm.beside_s * 1e3, stretch_text(gemm), comm.alone_s * 1e3, comm.beside_s * 1e3, stretch_text(comm),
               1.0 - 1.0 / gemm.factor(), 1.0 - 1.0 / comm.factor());
  }
}

}  // namespace comet::bench
