// comet_gpu_bench section `a2a`: NCCL all-to-all-v with ragged pieces against a plain NCCL
// all-to-all whose busiest rank moves as many remote bytes as the all-to-all-v's busiest rank
// (sent or received: what bounds either), one thread per GPU. Until stop 34 the reference had the
// same total bytes instead, so its busiest rank moved 1.17x the mean piece against the ragged
// one's 1.5x, and the ratio charged the all-to-all-v for moving more.
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <vector>

#include "all_to_all_v.hpp"
#include "bench_common.hpp"
#include "bench_sections.hpp"
#include "gpu_error.hpp"

namespace comet::bench {
namespace {

// Bytes rank r sends to rank p in the ragged case: the mean piece scaled by 0.5 .. 1.5.
std::int64_t ragged_piece(std::int64_t mean, int r, int p, int ranks) {
  const double factor = 0.5 + static_cast<double>((r * 7 + p * 3) % (2 * ranks)) / (2 * ranks - 1);
  return static_cast<std::int64_t>(mean * factor) / 256 * 256;
}

struct A2aTimes {
  double ragged_s = 0, uniform_s = 0, ragged_remote_bytes = 0, uniform_remote_bytes = 0;
};

// The most remote bytes one rank sends or receives in the ragged all-to-all-v (the same on every
// rank: it is computed from every rank's pieces).
std::int64_t busiest_remote_bytes(std::int64_t mean, int ranks) {
  std::int64_t busiest = 0;
  for (int r = 0; r < ranks; ++r) {
    std::int64_t sent = 0, received = 0;
    for (int p = 0; p < ranks; ++p) {
      if (p == r) continue;
      sent += ragged_piece(mean, r, p, ranks);
      received += ragged_piece(mean, p, r, ranks);
    }
    busiest = std::max({busiest, sent, received});
  }
  return busiest;
}

// One rank of the all-to-all benchmark: joins the communicator, then times both variants at
// every size (the same sequence of NCCL calls on every rank).
std::vector<A2aTimes> a2a_rank(int r, int ranks, const ncclUniqueId& id, const std::vector<std::int64_t>& sizes, int max_ctas) {
  ncclComm_t comm = join_communicator(r, ranks, id, max_ctas);
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
    }
    // Equal pieces whose remote bytes per rank are the ragged case's busiest rank's. Every rank
    // computes the same piece from every rank's pieces: NCCL pairs a send with a receive of the
    // same size, and a mismatch hangs both.
    const std::int64_t busiest = busiest_remote_bytes(mean, ranks);
    const std::int64_t uniform = ranks > 1 ? busiest / (ranks - 1) / 256 * 256 : mean / 256 * 256;
    t.ragged_remote_bytes = static_cast<double>(busiest);
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
  leave_communicator(comm);
  return out;
}

}  // namespace

void a2a_section(const std::vector<std::int64_t>& sizes, int ranks, int max_ctas) {
  fmt::print("\n# All-to-all: {} GPUs, one thread each; a2a-v = ragged pieces (0.5x .. 1.5x the mean), a2a = equal pieces\n", ranks);
  fmt::print("# whose busiest rank moves as many remote bytes as the a2a-v's busiest rank (sent or received); busbw = those\n");
  fmt::print("# remote bytes / time of the slowest rank; ratio = a2a-v busbw / a2a busbw\n");
  ncclUniqueId id{};
  check_nccl(ncclGetUniqueId(&id), "NCCL id");
  std::vector<std::vector<A2aTimes>> per_rank(ranks);
  run_per_gpu(ranks, [&](int r) { per_rank[r] = a2a_rank(r, ranks, id, sizes, max_ctas); });
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

}  // namespace comet::bench
