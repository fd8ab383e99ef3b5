// GPU test (label "gpu", 2+ GPUs): the all-to-all-v moves ragged pieces, zero-sized ones
// included, to the right offsets; one thread per GPU as in the real executor.
#include <gtest/gtest.h>
#include <nccl.h>

#include <thread>
#include <vector>

#include "all_to_all_v.hpp"
#include "gpu_test_support.hpp"

namespace comet {
namespace {

using namespace comet::testing;

// Bytes rank s sends to rank d (0 for some pairs).
std::int64_t piece(int s, int d) { return (s + 1) * 1000 + d * 24 - ((s + d) % 3 == 1 ? (s + 1) * 1000 + d * 24 : 0); }
std::uint8_t value(int s, int d, std::int64_t i) { return static_cast<std::uint8_t>((s * 31 + d * 7 + i) % 251); }

TEST(AllToAllV, RaggedPiecesArriveAtTheirOffsets) {
  COMET_REQUIRE_GPUS(2);
  const int ranks = std::min(gpu_count(), 4);
  ncclUniqueId id{};
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  std::vector<std::vector<std::uint8_t>> received(ranks);
  std::vector<std::vector<std::int64_t>> recv_offsets(ranks);
  std::vector<std::thread> threads;
  std::vector<ncclResult_t> results(ranks, ncclSuccess);
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      cudaSetDevice(r);
      ncclComm_t comm = nullptr;
      results[r] = ncclCommInitRank(&comm, ranks, id, r);
      if (results[r] != ncclSuccess) return;
      std::vector<std::int64_t> send_off{0}, send_bytes, recv_off{0}, recv_bytes;
      std::vector<std::uint8_t> send;
      for (int d = 0; d < ranks; ++d) {
        send_bytes.push_back(piece(r, d));
        for (std::int64_t i = 0; i < piece(r, d); ++i) send.push_back(value(r, d, i));
        send_off.push_back(send_off.back() + piece(r, d));
        recv_bytes.push_back(piece(d, r));
        recv_off.push_back(recv_off.back() + piece(d, r));
      }
      std::uint8_t* d_send = to_device(send);
      std::uint8_t* d_recv = to_device(std::vector<std::uint8_t>(recv_off.back(), 0xEE));
      results[r] = kernels::all_to_all_v(d_send, send_off.data(), send_bytes.data(), d_recv, recv_off.data(), recv_bytes.data(),
                                         ranks, r, true, comm, nullptr);
      cudaDeviceSynchronize();
      received[r] = to_host(d_recv, recv_off.back());
      recv_offsets[r] = recv_off;
      cudaFree(d_send), cudaFree(d_recv);
      ncclCommDestroy(comm);
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < ranks; ++r) {
    ASSERT_EQ(results[r], ncclSuccess) << "rank " << r;
    for (int s = 0; s < ranks; ++s)
      for (std::int64_t i = 0; i < piece(s, r); ++i)
        ASSERT_EQ(received[r][recv_offsets[r][s] + i], value(s, r, i)) << "rank " << r << " from " << s << " byte " << i;
  }
}

}  // namespace
}  // namespace comet
