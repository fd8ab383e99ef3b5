#include "fused_combine_gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef COMET_HAVE_CUTLASS
#include "fused_launch.cuh"
#endif

namespace comet::kernels {

FusedCombineSchedule FusedCombineGemm::schedule_for(const DispatchRoute& route, std::int64_t n, int band_tiles, CombineOrder order,
                                                    CombineStores stores) {
  return make_fused_combine_schedule(route, TILE_M, static_cast<int>(std::max<std::int64_t>(1, (n + TILE_N - 1) / TILE_N)), CLUSTER_M,
                                     band_tiles, order, stores);
}

#ifdef COMET_HAVE_CUTLASS
namespace fused_detail {

// Every consumer warp counts a tile done once its TMA stores are complete (the scheduler).
constexpr unsigned CONSUMER_WARPS = decltype(FusedVariants::b_stored)::Kernel::NumMmaThreads / 32;
static_assert(CONSUMER_WARPS == decltype(FusedVariants::b_transposed)::Kernel::NumMmaThreads / 32);
static_assert(FUSED_TILE_M == FusedCombineGemm::TILE_M && FUSED_TILE_N == FusedCombineGemm::TILE_N &&
              FUSED_CLUSTER_M == FusedCombineGemm::CLUSTER_M);

// The GEMM groups of `schedule` (A from act, W_e from weights; D into the output at the group's own
// rows, or straight into the destination it is stored to) and its tile table, in `operands` and
// `table`. False on what the kernel cannot run (a group of more rows than int, a destination
// missing or misaligned, a tile of no group).
bool combine_groups(const FusedCombineSchedule& schedule, const FusedCombineBuffers& buffers, std::int64_t k, std::int64_t n,
                    std::vector<GroupOperands>& operands, std::vector<ArrivalTile>& table) {
  const auto* act = reinterpret_cast<const Element*>(buffers.act);
  const auto* weights = reinterpret_cast<const Element*>(buffers.weights);
  for (const CombineGroup& g : schedule.groups) {
    if (g.rows <= 0 || g.rows > INT32_MAX) return false;
    Element* d = reinterpret_cast<Element*>(buffers.out) + g.first_row * n;
    if (g.direct_source >= 0) {
      if (g.direct_source >= static_cast<int>(buffers.destinations.size()) || !aligned16(buffers.destinations[g.direct_source])) return false;
      d = reinterpret_cast<Element*>(buffers.destinations[g.direct_source]) + g.dest_row * n;
    }
    operands.push_back({static_cast<int>(g.rows), act + g.first_row * k, weights + static_cast<std::int64_t>(g.expert) * k * n, d});
  }
  for (const GemmTile& t : schedule.tiles) {
    if (t.group < 0 || t.group >= static_cast<int>(schedule.groups.size())) return false;
    table.push_back({t.group, t.m, t.n, -1, schedule.m_tiles(t.group)});
  }
  return true;
}

}  // namespace fused_detail

using namespace fused_detail;

struct FusedCombineGemm::State : FusedState {
  int send_count = 0, done_count = 0;
  bool per_warp = false;  // SendTasks::PER_BLOCK until per-warp sends have run on a GPU
  double send_rate = 0;   // bytes per second, all send blocks together (0: unpaced)
  DeviceArray<RowTask> sends;
  DeviceArray<unsigned> done;

  cudaError_t launch(int send_blocks, int gemm_blocks, unsigned char done_byte, cudaStream_t stream) {
    if (cudaError_t e = cudaMemsetAsync(done.get(), done_byte, sizeof(unsigned) * std::max(done_count, 1), stream); e != cudaSuccess) return e;
    return FusedState::launch(sends, send_count, done.get(), send_blocks, gemm_blocks, per_warp, stream, send_rate);
  }
};

FusedCombineGemm::FusedCombineGemm() : state_(std::make_unique<State>()) {}
FusedCombineGemm::~FusedCombineGemm() = default;

bool FusedCombineGemm::available(std::string* why_not) { return hopper_kernels_run_here("the fused combine kernel", why_not); }

void FusedCombineGemm::set_timeout(double seconds) { state_->set_timeout(seconds); }

void FusedCombineGemm::set_send_tasks(SendTasks tasks) { state_->per_warp = tasks == SendTasks::PER_WARP; }

void FusedCombineGemm::set_send_rate(double bytes_per_second) { state_->send_rate = std::max(bytes_per_second, 0.0); }

cudaError_t FusedCombineGemm::prepare(const FusedCombineSchedule& schedule, std::int64_t k, std::int64_t n,
                                      const FusedCombineBuffers& buffers, bool weights_transposed) {
  State& s = *state_;
  s.prepared = false;
  s.gemm.transposed = weights_transposed;
  if (!State::runs(k, n, schedule.tile_m, schedule.cluster_m, schedule.n_tiles)) return cudaErrorInvalidValue;
  if (!aligned16(buffers.act) || !aligned16(buffers.weights) || !aligned16(buffers.out)) return cudaErrorInvalidValue;
  // The schedule's GEMM groups (nothing to wait for).
  std::vector<GroupOperands> groups;
  std::vector<ArrivalTile> tiles;
  if (!combine_groups(schedule, buffers, k, n, groups, tiles)) return cudaErrorInvalidValue;
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
  s.host_tiles = tiles;
  s.tile_count = static_cast<int>(tiles.size());
  s.send_count = static_cast<int>(sends.size());
  s.done_count = schedule.done_flags();
  s.has_gemm = !groups.empty();
  const ArrivalSchedulerArguments scheduler{s.tiles.get(), s.tile_count, 0, CLUSTER_M, CLUSTER_M, nullptr, nullptr,
                                                     Watchdog{}, s.done.get()};
  if (cudaError_t e = s.gemm.visit([&](auto& v) { return v.prepare(groups, static_cast<int>(n), static_cast<int>(k), scheduler); });
      e != cudaSuccess)
    return e;
  if (cudaError_t e = s.prepare_watchdog(schedule.done_flags()); e != cudaSuccess) return e;
  s.prepared = true;
  return cudaSuccess;
}

cudaError_t FusedCombineGemm::run(int send_blocks, cudaStream_t stream, int gemm_sms) {
  State& s = *state_;
  const int gemm_blocks = s.gemm_blocks_beside(send_blocks, gemm_sms);
  if (gemm_blocks < 0) return cudaErrorInvalidValue;
  if (send_blocks == 0 && gemm_blocks == 0) return cudaSuccess;
  return s.launch(send_blocks, gemm_blocks, 0, stream);
}

cudaError_t FusedCombineGemm::run_sends(int send_blocks, cudaStream_t stream) {
  State& s = *state_;
  if (!s.transfers_alone_run(send_blocks)) return cudaErrorInvalidValue;
  return s.launch(send_blocks, 0, 0xFF, stream);  // every tile already done
}

int FusedCombineGemm::watchdog() { return state_->watchdog(); }

std::string FusedCombineGemm::watchdog_report(int listed) {
  State& s = *state_;
  if (!s.prepared) return "";
  return s.watchdog_report(std::vector<unsigned>(static_cast<std::size_t>(s.done_count), CONSUMER_WARPS),
                           [&](int flag) { return s.tile_at(flag / CLUSTER_M, flag % CLUSTER_M); }, listed);
}

TransferSpan FusedCombineGemm::transfer_span() { return state_->transfer_span(); }

#else  // without CUTLASS: the API exists and says why it cannot run

struct FusedCombineGemm::State {};
FusedCombineGemm::FusedCombineGemm() : state_(std::make_unique<State>()) {}
FusedCombineGemm::~FusedCombineGemm() = default;
bool FusedCombineGemm::available(std::string* why_not) {
  if (why_not) *why_not = "built without CUTLASS (scripts/setup.sh installs its headers; COMET_CUTLASS_DIR)";
  return false;
}
void FusedCombineGemm::set_timeout(double) {}
void FusedCombineGemm::set_send_tasks(SendTasks) {}
void FusedCombineGemm::set_send_rate(double) {}
cudaError_t FusedCombineGemm::prepare(const FusedCombineSchedule&, std::int64_t, std::int64_t, const FusedCombineBuffers&, bool) {
  return cudaErrorNotSupported;
}
cudaError_t FusedCombineGemm::run(int, cudaStream_t, int) { return cudaErrorNotSupported; }
cudaError_t FusedCombineGemm::run_sends(int, cudaStream_t) { return cudaErrorNotSupported; }
int FusedCombineGemm::watchdog() { return -1; }
std::string FusedCombineGemm::watchdog_report(int) { return ""; }
TransferSpan FusedCombineGemm::transfer_span() { return {}; }

#endif

}  // namespace comet::kernels
