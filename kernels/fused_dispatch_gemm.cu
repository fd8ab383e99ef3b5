#include "fused_dispatch_gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef COMET_HAVE_CUTLASS
#include "cutlass_grouped_kernels.cuh"
#include "fused_launch.cuh"
#endif

namespace comet::kernels {

FusedDispatchSchedule FusedDispatchGemm::schedule_for(const DispatchRoute& route, std::int64_t n, int band_tiles) {
  return make_fused_dispatch_schedule(route, TILE_M, static_cast<int>(std::max<std::int64_t>(1, (n + TILE_N - 1) / TILE_N)), CLUSTER_M,
                                      band_tiles);
}

#ifdef COMET_HAVE_CUTLASS
namespace fused_detail {

static_assert(FUSED_TILE_M == FusedDispatchGemm::TILE_M && FUSED_TILE_N == FusedDispatchGemm::TILE_N &&
              FUSED_CLUSTER_M == FusedDispatchGemm::CLUSTER_M);

}  // namespace fused_detail

using namespace fused_detail;

// The GEMM's epilogue stores by TMA: the output stays on this GPU.
struct FusedDispatchGemm::State : FusedState {
  int copy_count = 0, flag_count = 0;
  DeviceArray<RowTask> copies;
  DeviceArray<unsigned> flags, flag_rows;
  std::vector<unsigned> host_flag_rows;

  cudaError_t launch(int copy_blocks, int gemm_blocks, unsigned char flag_byte, cudaStream_t stream, bool gemm_capped = false) {
    if (cudaError_t e = cudaMemsetAsync(flags.get(), flag_byte, sizeof(unsigned) * std::max(flag_count, 1), stream); e != cudaSuccess) return e;
    return FusedState::launch(copies, copy_count, flags.get(), copy_blocks, gemm_blocks, /*per_warp=*/false, stream, 0, {}, gemm_capped);
  }
};

FusedDispatchGemm::FusedDispatchGemm() : state_(std::make_unique<State>()) {}
FusedDispatchGemm::~FusedDispatchGemm() = default;

bool FusedDispatchGemm::available(std::string* why_not) { return hopper_kernels_run_here("the fused dispatch kernel", why_not); }

int FusedDispatchGemm::max_blocks() const { return state_->blocks(); }

void FusedDispatchGemm::set_timeout(double seconds) { state_->set_timeout(seconds); }

void FusedDispatchGemm::set_copy_blocks_join(bool join) { state_->set_transfers_join(join); }

cudaError_t FusedDispatchGemm::prepare(const FusedDispatchSchedule& schedule, std::int64_t k, std::int64_t n,
                                       const FusedDispatchBuffers& buffers, bool weights_transposed) {
  State& s = *state_;
  s.prepared = false;
  s.gemm.transposed = weights_transposed;
  if (!State::runs(k, n, schedule.tile_m, schedule.cluster_m, schedule.n_tiles)) return cudaErrorInvalidValue;
  if (!aligned16(buffers.received) || !aligned16(buffers.weights) || !aligned16(buffers.out)) return cudaErrorInvalidValue;
  // One GEMM group per expert with rows: its received rows times its weights; tiles wait for rows.
  std::vector<GroupOperands> groups;
  std::vector<ArrivalTile> tiles;
  if (!State::expert_groups(schedule.expert_first_row, schedule.tiles, &schedule.expert_first_flag,
                            reinterpret_cast<const Element*>(buffers.received), reinterpret_cast<const Element*>(buffers.weights),
                            reinterpret_cast<Element*>(buffers.out), k, n, groups, tiles))
    return cudaErrorInvalidValue;
  const std::vector<unsigned> flag_rows(schedule.flag_rows.begin(), schedule.flag_rows.end());
  // Copies: contiguous rows of k elements on both sides, raising the M tile's flag by their rows.
  std::vector<RowTask> copies;
  const long long row_vectors = k / 8;
  for (const RowCopy& c : schedule.copies) {
    if (c.source < 0 || c.source >= static_cast<int>(buffers.sources.size())) return cudaErrorInvalidValue;
    const __nv_bfloat16* source = buffers.sources[c.source];
    if (!aligned16(source)) return cudaErrorInvalidValue;
    copies.push_back({reinterpret_cast<const int4*>(source + c.source_row * k), reinterpret_cast<int4*>(buffers.received + c.dest_row * k),
                      c.rows, row_vectors, row_vectors, row_vectors, -1, 0, c.flag, static_cast<unsigned>(c.rows), nullptr, 0});
  }
  for (cudaError_t e : {s.tiles.upload(tiles), s.copies.upload(copies), s.flags.resize(static_cast<std::size_t>(schedule.flag_count())),
                        s.flag_rows.upload(flag_rows)})
    if (e != cudaSuccess) return e;
  s.host_tiles = tiles;
  s.host_flag_rows = flag_rows;
  s.tile_count = static_cast<int>(tiles.size());
  s.copy_count = static_cast<int>(copies.size());
  s.flag_count = schedule.flag_count();
  s.has_gemm = !groups.empty();
  const ArrivalSchedulerArguments scheduler{s.tiles.get(), s.tile_count, CLUSTER_M, nullptr, s.flags.get(), s.flag_rows.get(),
                                            Watchdog{}, nullptr};
  if (cudaError_t e = s.gemm.visit([&](auto& v) { return v.prepare(groups, static_cast<int>(n), static_cast<int>(k), scheduler); });
      e != cudaSuccess)
    return e;
  if (cudaError_t e = s.prepare_watchdog(schedule.flag_count()); e != cudaSuccess) return e;
  s.prepared = true;
  return cudaSuccess;
}

cudaError_t FusedDispatchGemm::run(int copy_blocks, cudaStream_t stream, int gemm_sms) {
  State& s = *state_;
  const int gemm_blocks = s.gemm_blocks_beside(copy_blocks, gemm_sms);
  if (gemm_blocks < 0) return cudaErrorInvalidValue;
  if (copy_blocks == 0 && gemm_blocks == 0) return cudaSuccess;
  // Without copy blocks the rows are already there: every flag raised (all ones) before the launch.
  return s.launch(copy_blocks, gemm_blocks, copy_blocks == 0 ? 0xFF : 0, stream, gemm_sms > 0);
}

cudaError_t FusedDispatchGemm::run_copies(int copy_blocks, cudaStream_t stream) {
  State& s = *state_;
  if (!s.transfers_alone_run(copy_blocks)) return cudaErrorInvalidValue;
  return s.launch(copy_blocks, 0, 0, stream);
}

int FusedDispatchGemm::watchdog() { return state_->watchdog(); }

std::string FusedDispatchGemm::watchdog_report(int listed) {
  State& s = *state_;
  if (!s.prepared) return "";
  return s.watchdog_report(s.host_flag_rows, [](int flag) { return "arrival flag of M tile " + std::to_string(flag); }, listed);
}

TransferSpan FusedDispatchGemm::transfer_span() { return state_->transfer_span(); }

#else  // without CUTLASS: the API exists and says why it cannot run

struct FusedDispatchGemm::State {};
FusedDispatchGemm::FusedDispatchGemm() : state_(std::make_unique<State>()) {}
FusedDispatchGemm::~FusedDispatchGemm() = default;
bool FusedDispatchGemm::available(std::string* why_not) {
  if (why_not) *why_not = "built without CUTLASS (scripts/setup.sh installs its headers; COMET_CUTLASS_DIR)";
  return false;
}
int FusedDispatchGemm::max_blocks() const { return 0; }
void FusedDispatchGemm::set_timeout(double) {}
void FusedDispatchGemm::set_copy_blocks_join(bool) {}
cudaError_t FusedDispatchGemm::prepare(const FusedDispatchSchedule&, std::int64_t, std::int64_t, const FusedDispatchBuffers&, bool) {
  return cudaErrorNotSupported;
}
cudaError_t FusedDispatchGemm::run(int, cudaStream_t, int) { return cudaErrorNotSupported; }
cudaError_t FusedDispatchGemm::run_copies(int, cudaStream_t) { return cudaErrorNotSupported; }
int FusedDispatchGemm::watchdog() { return -1; }
std::string FusedDispatchGemm::watchdog_report(int) { return ""; }
TransferSpan FusedDispatchGemm::transfer_span() { return {}; }

#endif

}  // namespace comet::kernels
