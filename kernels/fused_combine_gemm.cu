#include "fused_combine_gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef COMET_HAVE_CUTLASS
#include "fused_launch.cuh"
#endif

namespace comet::kernels {

FusedCombineSchedule FusedCombineGemm::schedule_for(const DispatchRoute& route, std::int64_t n) {
  return make_fused_combine_schedule(route, TILE_M, static_cast<int>(std::max<std::int64_t>(1, (n + TILE_N - 1) / TILE_N)), CLUSTER_M);
}

#ifdef COMET_HAVE_CUTLASS
namespace fused_detail {

// Stores from registers: a consumer warp's stores are issued when it moves on to its next tile,
// where the scheduler counts it done (TMA stores would still be in flight).
using CombineVariants = FusedVariants<cutlass::epilogue::PtrArrayNoSmemWarpSpecialized>;
constexpr unsigned CONSUMER_WARPS = decltype(CombineVariants::b_stored)::Kernel::NumMmaThreads / 32;
static_assert(CONSUMER_WARPS == decltype(CombineVariants::b_transposed)::Kernel::NumMmaThreads / 32);
static_assert(FUSED_TILE_M == FusedCombineGemm::TILE_M && FUSED_TILE_N == FusedCombineGemm::TILE_N &&
              FUSED_CLUSTER_M == FusedCombineGemm::CLUSTER_M);

}  // namespace fused_detail

using namespace fused_detail;

struct FusedCombineGemm::State {
  std::uint64_t timeout_ns = 10'000'000'000ull;
  bool prepared = false, has_gemm = false;
  int tile_count = 0, send_count = 0, done_count = 0;
  DeviceArray<ArrivalTile> tiles;
  DeviceArray<RowTask> sends;
  DeviceArray<unsigned> done, timed_out;
  CombineVariants gemm;

  int blocks() { return gemm.visit([](auto& v) { return v.blocks; }); }
  cudaError_t launch(int send_blocks, int gemm_blocks, cudaStream_t stream) {
    const TransferList list{sends.get(), send_count, send_blocks, done.get(), timed_out.get(), timeout_ns};
    return gemm.visit([&](auto& v) { return v.launch(list, gemm_blocks, stream); });
  }
  cudaError_t reset(unsigned char done_byte, cudaStream_t stream) {
    if (cudaError_t e = cudaMemsetAsync(done.get(), done_byte, sizeof(unsigned) * std::max(done_count, 1), stream); e != cudaSuccess) return e;
    return cudaMemsetAsync(timed_out.get(), 0, sizeof(unsigned), stream);
  }
};

FusedCombineGemm::FusedCombineGemm() : state_(std::make_unique<State>()) {}
FusedCombineGemm::~FusedCombineGemm() = default;

bool FusedCombineGemm::available(std::string* why_not) { return fused_kernels_run_here(why_not); }

void FusedCombineGemm::set_timeout(double seconds) { state_->timeout_ns = static_cast<std::uint64_t>(std::max(seconds, 1e-3) * 1e9); }

cudaError_t FusedCombineGemm::prepare(const FusedCombineSchedule& schedule, std::int64_t k, std::int64_t n,
                                      const FusedCombineBuffers& buffers, bool weights_transposed) {
  State& s = *state_;
  s.prepared = false;
  s.gemm.transposed = weights_transposed;
  if (k % 8 != 0 || n % 8 != 0 || k <= 0 || n <= 0 || k > INT32_MAX || n > INT32_MAX) return cudaErrorInvalidValue;
  if (schedule.tile_m != TILE_M || schedule.cluster_m != CLUSTER_M || schedule.n_tiles != static_cast<int>((n + TILE_N - 1) / TILE_N))
    return cudaErrorInvalidValue;
  if (!aligned16(buffers.act) || !aligned16(buffers.weights) || !aligned16(buffers.out)) return cudaErrorInvalidValue;
  if (cudaError_t e = s.timed_out.resize(1); e != cudaSuccess) return e;
  const int experts = static_cast<int>(schedule.expert_first_row.size()) - 1;

  std::vector<int> group_of(static_cast<std::size_t>(std::max(experts, 0)), -1);
  std::vector<GroupOperands> groups;
  const auto* act = reinterpret_cast<const Element*>(buffers.act);
  const auto* weights = reinterpret_cast<const Element*>(buffers.weights);
  auto* out = reinterpret_cast<Element*>(buffers.out);
  for (int e = 0; e < experts; ++e) {
    const std::int64_t first = schedule.expert_first_row[e], rows = schedule.expert_first_row[e + 1] - first;
    if (rows == 0) continue;
    if (rows > INT32_MAX) return cudaErrorInvalidValue;
    group_of[e] = static_cast<int>(groups.size());
    groups.push_back({static_cast<int>(rows), act + first * k, weights + static_cast<std::int64_t>(e) * k * n, out + first * n});
  }
  std::vector<ArrivalTile> tiles;
  for (const GemmTile& t : schedule.tiles) {
    if (t.expert < 0 || t.expert >= experts || group_of[t.expert] < 0) return cudaErrorInvalidValue;
    const std::int64_t rows = schedule.expert_first_row[t.expert + 1] - schedule.expert_first_row[t.expert];
    tiles.push_back({group_of[t.expert], t.m, t.n, -1, static_cast<int>((rows + TILE_M - 1) / TILE_M)});
  }
  // Sends: the tile's columns of each row, from the output to the destination (row strides n).
  std::vector<RowTask> sends;
  const long long stride = n / 8;
  for (const RowSend& send : schedule.sends) {
    if (send.source < 0 || send.source >= static_cast<int>(buffers.destinations.size())) return cudaErrorInvalidValue;
    __nv_bfloat16* dest = buffers.destinations[send.source];
    if (!aligned16(dest)) return cudaErrorInvalidValue;
    const std::int64_t column = static_cast<std::int64_t>(send.n) * TILE_N, columns = std::min<std::int64_t>(TILE_N, n - column);
    sends.push_back({reinterpret_cast<const int4*>(buffers.out + send.row * n + column), reinterpret_cast<int4*>(dest + send.dest_row * n + column),
                     send.rows, columns / 8, stride, stride, send.done_flag, CONSUMER_WARPS, -1, 0});
  }
  for (cudaError_t e : {s.tiles.upload(tiles), s.sends.upload(sends), s.done.resize(static_cast<std::size_t>(schedule.done_flags()))})
    if (e != cudaSuccess) return e;
  s.tile_count = static_cast<int>(tiles.size());
  s.send_count = static_cast<int>(sends.size());
  s.done_count = schedule.done_flags();
  s.has_gemm = !groups.empty();
  const ArrivalTileScheduler<8>::Arguments scheduler{s.tiles.get(), s.tile_count, 0, CLUSTER_M, CLUSTER_M, nullptr, nullptr,
                                                     s.timed_out.get(), s.timeout_ns, s.done.get()};
  if (cudaError_t e = s.gemm.visit([&](auto& v) { return v.prepare(groups, static_cast<int>(n), static_cast<int>(k), scheduler); });
      e != cudaSuccess)
    return e;
  s.prepared = true;
  return cudaSuccess;
}

cudaError_t FusedCombineGemm::run(int send_blocks, cudaStream_t stream, int gemm_sms) {
  State& s = *state_;
  if (!s.prepared || send_blocks < 0 || send_blocks >= s.blocks() || send_blocks % CLUSTER_M != 0) return cudaErrorInvalidValue;
  int gemm_blocks = s.blocks() - send_blocks;
  if (gemm_sms > 0) gemm_blocks = std::min(gemm_blocks, gemm_sms);
  gemm_blocks = std::min(gemm_blocks, std::max(s.tile_count, 1) * CLUSTER_M) / CLUSTER_M * CLUSTER_M;
  if (!s.has_gemm) gemm_blocks = 0;
  if (send_blocks == 0 && gemm_blocks == 0) return cudaSuccess;
  if (cudaError_t e = s.reset(0, stream); e != cudaSuccess) return e;
  return s.launch(send_blocks, gemm_blocks, stream);
}

cudaError_t FusedCombineGemm::run_sends(int send_blocks, cudaStream_t stream) {
  State& s = *state_;
  if (!s.prepared || send_blocks <= 0 || send_blocks > s.blocks() || send_blocks % CLUSTER_M != 0) return cudaErrorInvalidValue;
  if (cudaError_t e = s.reset(0xFF, stream); e != cudaSuccess) return e;  // every tile already done
  return s.launch(send_blocks, 0, stream);
}

int FusedCombineGemm::watchdog() {
  unsigned flag = 0;
  if (!state_->prepared || cudaMemcpy(&flag, state_->timed_out.get(), sizeof flag, cudaMemcpyDeviceToHost) != cudaSuccess) return -1;
  return flag == 0 ? -1 : static_cast<int>(flag) - 1;
}

#else  // without CUTLASS: the API exists and says why it cannot run

struct FusedCombineGemm::State {};
FusedCombineGemm::FusedCombineGemm() : state_(std::make_unique<State>()) {}
FusedCombineGemm::~FusedCombineGemm() = default;
bool FusedCombineGemm::available(std::string* why_not) {
  if (why_not) *why_not = "built without CUTLASS (scripts/setup.sh installs its headers; COMET_CUTLASS_DIR)";
  return false;
}
void FusedCombineGemm::set_timeout(double) {}
cudaError_t FusedCombineGemm::prepare(const FusedCombineSchedule&, std::int64_t, std::int64_t, const FusedCombineBuffers&, bool) {
  return cudaErrorNotSupported;
}
cudaError_t FusedCombineGemm::run(int, cudaStream_t, int) { return cudaErrorNotSupported; }
cudaError_t FusedCombineGemm::run_sends(int, cudaStream_t) { return cudaErrorNotSupported; }
int FusedCombineGemm::watchdog() { return -1; }

#endif

}  // namespace comet::kernels
