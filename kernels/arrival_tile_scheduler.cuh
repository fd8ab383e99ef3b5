// A CUTLASS tile scheduler for the grouped (ptr-array) Hopper GEMM that hands out output tiles in
// the order of a table computed on the host (fused_schedule.hpp) and holds each tile back
// until its rows have arrived: a per-M-tile flag counts the rows the copy blocks have written, and
// the tile goes out once the count reaches the tile's rows. Clusters claim table entries at run
// time, in table order (tile_claims.hpp), so any cluster that enters the GEMM takes the next entry:
// the transfer blocks join it once their rows are moved.
//
// It takes the place of CUTLASS's PersistentTileSchedulerSm90Group through the library's
// extension point, TileSchedulerSelector, specialised for ArrivalProblemShape (a GroupProblemShape
// under another name, so that only the fused kernel gets this scheduler). The kernel itself is
// CUTLASS's KernelPtrArrayTmaWarpSpecializedCooperative, unchanged. Three differences from the
// group scheduler matter:
//  - Entries are claimed, not assigned: rank 0 of a cluster takes the next from a counter and hands
//    it to its cluster's other ranks (tile_claims.hpp), so the GEMM runs on whichever clusters of
//    the launch enter it, whenever they do (the GEMM blocks at once, the transfer blocks after
//    their transfers).
//  - Rows written by other blocks with ordinary stores are read here by TMA (the async proxy):
//    after the flag is acquired every thread that goes on to issue TMA loads executes
//    fence.proxy.async.global.
//  - With tile_done set (the combine), a tile's done flag goes to 1 once the tile is in global
//    memory; the send blocks (or copy engines) wait for that. The epilogue stores by TMA: one thread
//    of the store warp (store_warp()) issues StoreGroupsPerTile bulk store groups per tile, after a
//    barrier of every consumer warp, and they complete asynchronously; so the store warp alone
//    counts the tile. With DoneSignal::OWN_STORES (the combine's default) it waits for the tile's
//    own stores and counts it at once. With DoneSignal::NEXT_TILE it counts a tile when it asks for
//    the tile after next, behind `cp.async.bulk.wait_group StoreGroupsPerTile` (every group but the
//    latest tile's done), and the last tile behind wait_group 0: it never waits for its own stores,
//    but each tile is counted one tile late.
// A flag that never fills is the watchdog's case: after its timeout the scheduler records the flag
// (+1) in the watchdog's word and lets the tile go with whatever rows are there; every later wait
// sees the word and stops waiting, so the launch ends and the host reports it (Watchdog).
#pragma once

#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/tile_scheduler.hpp"
#include "cutlass/pipeline/pipeline.hpp"
#include "global_timer.hpp"
#include "tile_claims.hpp"

namespace comet::kernels::fused_detail {

/// The grouped problem shape of the fused kernel: CUTLASS's, under a name of its own, carrying the
/// bulk store groups the kernel's TMA epilogue commits per output tile (see fetch_next_work).
template <int StoreGroupsPerTile>
struct ArrivalProblemShape : cutlass::gemm::GroupProblemShape<cute::Shape<int, int, int>> {};

/// One entry of the tile table, in the order the clusters take them: block r of a cluster computes
/// M tile m + r (out of range past the group's m_tiles: TMA reads zeros there and the epilogue
/// writes nothing), N tile n, and waits for flag + r.
struct ArrivalTile {
  int group;    ///< GEMM group (an expert with rows)
  int m, n;     ///< the cluster's first M tile and its N tile within the group
  int flag;     ///< arrival flag of M tile m; < 0: nothing to wait for
  int m_tiles;  ///< M tiles of the group
};

__device__ __forceinline__ unsigned load_acquire_gpu(const unsigned* address) {
  unsigned value;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(value) : "l"(address) : "memory");
  return value;
}

/// For counters that other GPUs raise (the combine's landing counters): acquire at system scope.
__device__ __forceinline__ unsigned load_acquire_sys(const unsigned* address) {
  unsigned value;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(value) : "l"(address) : "memory");
  return value;
}

/// Who raises the counter a wait reads: blocks of this GPU, or writers on any GPU.
enum class WaitScope { GPU, SYSTEM };

/// What every wait of one fused launch shares to give up instead of hanging (device memory the
/// host resets): the watchdog's word and timeout, and what the wait that trips it records for the
/// host's report (FusedState::watchdog_report).
struct Watchdog {
  unsigned* word = nullptr;   ///< 0, or 1 + the flag a wait gave up on; sticky until the host resets it
  std::uint64_t timeout_ns = 0;
  /// Per block of the launch: %globaltimer when it started (0: not started). Written by the launch.
  unsigned long long* block_start_ns = nullptr;
  int blocks = 0, transfer_blocks = 0;  ///< of the launch; blocks [0, transfer_blocks) move rows (transfer and unpermute blocks)
  const unsigned* flags = nullptr;      ///< the flags this launch's waits read (arrival or done counts)
  int flag_count = 0;
  /// At the trip: the flags, and (TRIP_RECORD + blocks entries) the trip's time, the launch's blocks
  /// and transfer blocks, then block_start_ns.
  unsigned* flag_snapshot = nullptr;
  unsigned long long* start_snapshot = nullptr;
  static constexpr int TRIP_RECORD = 3;
};

/// Waits until flags[flag] reaches `count` (acquire at `Scope`), or gives up: after timeout_ns it
/// records `report` (the flag when < 0) + 1 in the watchdog's word, snapshots the flags and the
/// blocks' start times (the first wait to give up only), and returns; once the word is set every
/// wait returns at once, so that a launch whose rows will not all come still ends.
template <WaitScope Scope = WaitScope::GPU>
__device__ __forceinline__ void wait_for_count(const unsigned* flags, int flag, unsigned count, const Watchdog& watchdog, int report = -1) {
  std::uint64_t start = 0;
  while ((Scope == WaitScope::SYSTEM ? load_acquire_sys(flags + flag) : load_acquire_gpu(flags + flag)) < count) {
    if (*static_cast<volatile unsigned*>(watchdog.word) != 0) return;  // the run is already lost: finish
    const std::uint64_t now = global_timer_ns();
    if (start == 0) {
      start = now;
    } else if (now - start > watchdog.timeout_ns) {
      if (atomicCAS(watchdog.word, 0u, static_cast<unsigned>(report < 0 ? flag : report) + 1u) == 0u) {
        for (int f = 0; f < watchdog.flag_count; ++f) watchdog.flag_snapshot[f] = load_acquire_gpu(watchdog.flags + f);
        watchdog.start_snapshot[0] = now;
        watchdog.start_snapshot[1] = static_cast<unsigned long long>(watchdog.blocks);
        watchdog.start_snapshot[2] = static_cast<unsigned long long>(watchdog.transfer_blocks);
        for (int b = 0; b < watchdog.blocks; ++b)
          watchdog.start_snapshot[Watchdog::TRIP_RECORD + b] = *static_cast<volatile unsigned long long*>(watchdog.block_start_ns + b);
      }
      return;
    }
    __nanosleep(256);
  }
}

/// Orders this thread's earlier generic-proxy memory accesses (and those it has observed) before
/// its later async-proxy (TMA) ones.
__device__ __forceinline__ void fence_generic_to_async_proxy() { asm volatile("fence.proxy.async.global;" ::: "memory"); }

/// When a consumer warp counts a finished output tile done (ArrivalSchedulerArguments::tile_done).
enum class DoneSignal : int {
  /// When it asks for the tile after next, behind `cp.async.bulk.wait_group StoreGroupsPerTile`: no
  /// warp waits for its own stores, but every tile is counted a whole tile late (the first at the
  /// end of the second wave of tiles).
  NEXT_TILE = 0,
  /// As soon as the tile's own stores are complete (`wait_group 0` right after issuing them): the
  /// issuing warp, and its warp group with it, waits for the tile's last stores once per tile.
  OWN_STORES = 1,
  /// OWN_STORES, released at system scope: for readers outside the SMs (copy engines; cuStreamWaitValue32).
  OWN_STORES_SYSTEM = 2,
};

struct ArrivalSchedulerArguments {
  const ArrivalTile* tiles = nullptr;  ///< device memory, tile_count entries
  int tile_count = 0;
  int cluster_size = 1;                ///< blocks of a cluster, along M
  ClaimBoard* claims = nullptr;        ///< the launch's claims, zeroed before it (set by the launch)
  const unsigned* flags = nullptr;     ///< arrival counters, rows
  const unsigned* flag_rows = nullptr; ///< per flag, the count at which its M tile is complete
  Watchdog watchdog;                   ///< the launch's (set by the launch)
  /// When set, the store warp sets tile_done[entry x cluster_size + rank] to 1 (from 0) once that
  /// output tile is in global memory.
  unsigned* tile_done = nullptr;
  DoneSignal done_signal = DoneSignal::NEXT_TILE;  ///< when a tile is counted (set by the launch)
};

// CUTLASS's builder asks for 8 stages of the scheduler pipeline (`BuilderStages`, what its group
// scheduler, whose next tile is arithmetic, can use); this one uses one: see LOOKAHEAD.
template <int BuilderStages, int StoreGroupsPerTile>
class ArrivalTileScheduler {
  // Tiles the scheduler warp claims ahead of the one its block is computing: it claims the next
  // only when the block has taken the last. With the builder's 8, each cluster held 9 entries from
  // its start, so a table of fewer than 9 x clusters entries went to the first clusters to claim
  // and left the others idle (Mixtral 4K combine, 512 entries for 66 clusters: its GEMM part 8%
  // slower, one H100, stop 44). One is enough to hide a claim and its rows' wait behind a tile.
  static constexpr int LOOKAHEAD = 1;
  static constexpr int Stages = LOOKAHEAD;
  static_assert(StoreGroupsPerTile > 0, "the epilogue commits at least one bulk store group per tile");
  static_assert(Stages + 2 < CLAIM_RING, "a rank's scheduler warp may run its pipeline's stages and a tile ahead of another's (claim())");
  static_assert(BuilderStages >= Stages);
  using GroupParams = cutlass::gemm::kernel::detail::PersistentTileSchedulerSm90GroupParams<ArrivalProblemShape<StoreGroupsPerTile>>;

 public:
  struct WorkTileInfo {
    int32_t M_idx = 0;
    int32_t N_idx = 0;
    int32_t L_idx = 0;
    int32_t is_valid_tile = 0;
    int32_t entry = -1;  // the tile table's entry

    CUTLASS_HOST_DEVICE bool is_valid() const { return is_valid_tile != 0; }
    CUTLASS_HOST_DEVICE static WorkTileInfo invalid_work_tile() { return {-1, -1, -1, 0, -1}; }
    CUTLASS_HOST_DEVICE bool is_final_split(uint32_t) const { return true; }
    CUTLASS_HOST_DEVICE int32_t reduction_subtile_idx() const { return -1; }
  };

  using RasterOrder = typename GroupParams::RasterOrder;
  using RasterOrderOptions = typename GroupParams::RasterOrderOptions;
  static constexpr bool IsDynamicPersistent = false;
  using Pipeline = cutlass::PipelineAsync<Stages>;
  using PipelineStorage = cutlass::PipelineDetail::PipelineAsyncSharedStorage<Stages>;
  using PipelineState = cutlass::PipelineDetail::PipelineAsyncPipelineState<Stages>;
  using ThrottlePipeline = cutlass::PipelineEmpty;
  using ThrottlePipelineStorage = typename cutlass::PipelineEmpty::SharedStorage;
  using SchedulerResponse = WorkTileInfo;

  using Arguments = ArrivalSchedulerArguments;
  using Params = Arguments;

  template <class TileShape, class ClusterShape>
  static Params to_underlying_arguments(ArrivalProblemShape<StoreGroupsPerTile>, TileShape, ClusterShape, cutlass::KernelHardwareInfo const&,
                                        Arguments const& arguments, void* = nullptr, uint32_t = 1, uint32_t = 1) {
    return arguments;
  }

  CUTLASS_HOST_DEVICE static bool can_implement(Arguments const& args) {
    return args.cluster_size > 0 && args.cluster_size <= MAX_CLAIM_RANKS &&
           (args.tile_count == 0 || args.tiles != nullptr);  // claims, watchdog: set per launch
  }

  template <class ProblemShape, class ElementAccumulator>
  static size_t get_workspace_size(Arguments const&, ProblemShape, cutlass::KernelHardwareInfo const&, uint32_t, uint32_t = 1,
                                   uint32_t = 1) {
    return 0;
  }

  template <class ProblemShape, class ElementAccumulator>
  static cutlass::Status initialize_workspace(Arguments const&, void*, cudaStream_t, ProblemShape, cutlass::KernelHardwareInfo const&,
                                              uint32_t, uint32_t = 1, uint32_t = 1, cutlass::CudaHostAdapter* = nullptr) {
    return cutlass::Status::kSuccess;
  }

  ArrivalTileScheduler() = default;

  CUTLASS_DEVICE ArrivalTileScheduler(Params const& params, SchedulerResponse* response)
      : params_(params),
        response_(response),
        cluster_(static_cast<int>(blockIdx.x) / params.cluster_size),
        rank_(static_cast<int>(cute::block_rank_in_cluster())) {}

  // Every thread of the block at once (CUTLASS's kernel asks before its warps take their roles):
  // one thread claims, the others read its claim after the barrier.
  template <class ClusterShape>
  CUTLASS_DEVICE WorkTileInfo initial_work_tile_info(ClusterShape) {
    if (threadIdx.x == 0) params_.claims->first_entry[blockIdx.x] = claim(0);
    __syncthreads();
    claims_ = 1;
    const WorkTileInfo work = ready_work(*static_cast<volatile int*>(params_.claims->first_entry + blockIdx.x));
    fence_generic_to_async_proxy();
    return work;
  }

  // The scheduler warp: the next tile once its rows are in, pushed to the CTA's other warps.
  template <class TileSchedulerPipeline, class TileSchedulerPipelineState>
  CUTLASS_DEVICE auto advance_to_next_work(TileSchedulerPipeline& pipeline, TileSchedulerPipelineState state, uint32_t = 1) {
    int entry = 0;
    if (threadIdx.x % 32 == 0) entry = claim(claims_);
    entry = __shfl_sync(0xffffffffu, entry, 0);  // the whole warp runs this loop
    ++claims_;
    const WorkTileInfo work = ready_work(entry);
    pipeline.producer_acquire(state);
    if (cute::elect_one_sync()) {
      response_[state.index()] = work;
      cutlass::arch::fence_view_async_shared();
      pipeline.producer_commit(state);
    }
    return cute::make_tuple(work, true);
  }

  // Every other warp: the tile the scheduler warp pushed. A consumer warp calls it after the
  // epilogue has issued the stores of `finished`; the store warp counts the tile before (see the
  // header).
  template <class TileSchedulerPipeline, class TileSchedulerPipelineState>
  CUTLASS_DEVICE auto fetch_next_work(WorkTileInfo finished, TileSchedulerPipeline& pipeline, TileSchedulerPipelineState state) {
    const bool counts = params_.tile_done != nullptr && store_warp();
    if (counts && finished.is_valid()) {
      if (params_.done_signal != DoneSignal::NEXT_TILE) {
        signal_done<0>(finished);
      } else {
        if (stored_.is_valid()) signal_done<StoreGroupsPerTile>(stored_);
        stored_ = finished;
      }
    }
    pipeline.consumer_wait(state);
    const WorkTileInfo work = response_[state.index()];
    cutlass::arch::fence_view_async_shared();
    pipeline.consumer_release(state);
    if (counts && !work.is_valid() && stored_.is_valid()) {
      signal_done<0>(stored_);
      stored_ = WorkTileInfo::invalid_work_tile();
    }
    fence_generic_to_async_proxy();
    return cute::make_tuple(work, true);
  }

  CUTLASS_HOST_DEVICE static bool compute_epilogue(WorkTileInfo const&, Params const&) { return true; }
  template <class FrgTensorC>
  CUTLASS_DEVICE static void fixup(Params const&, WorkTileInfo const&, FrgTensorC&, uint32_t, uint32_t) {}
  CUTLASS_DEVICE static bool continue_current_work(WorkTileInfo&) { return false; }
  CUTLASS_DEVICE static bool valid_warpgroup_in_work_tile(WorkTileInfo const&) { return true; }
  CUTLASS_DEVICE static bool requires_separate_reduction(Params const&) { return false; }
  template <class ProblemShapeMNKL, class TileShape>
  CUTLASS_HOST_DEVICE static int get_work_k_tile_count(WorkTileInfo const&, ProblemShapeMNKL problem_shape, TileShape tile_shape) {
    return cute::size(cute::ceil_div(cute::get<2>(problem_shape), cute::get<2>(tile_shape)));
  }
  CUTLASS_HOST_DEVICE static uint32_t get_work_k_tile_start(WorkTileInfo const&) { return 0u; }

 private:
  // Whether this thread is in the warp whose elected thread issues the epilogue's TMA stores: in
  // CUTLASS's cooperative kernel the epilogue's thread index is threadIdx.x modulo the consumer
  // threads (mma_thread_idx, sm90_gemm_array_tma_warpspecialized_cooperative.hpp), and its warp 0
  // issues the stores (issue_tma_store, sm90_epilogue_array_tma_warpspecialized.hpp): the first
  // warp of the second consumer warp group. Only that warp counts tiles done. (Every consumer warp
  // counting, until stop 48, put each warp's store wait and fences between its tiles: the combine's
  // GEMM part at 94.8-95.9% of torch._grouped_mm on the DeepSeek-V3 combine shapes, 97.1-98.1% with
  // this warp alone; one H200, in one process, BENCHMARKS.md.)
  //
  // Both this test and signal_done's election are warp-uniform to the compiler (a warp index made
  // uniform by a shuffle, the election inside one asm statement, no branch on its predicate): a
  // branch on threadIdx.x or on elect_one_sync() in fetch_next_work, which every consumer warp runs
  // between tiles, made nvcc compile the whole persistent loop as possibly divergent. The K loop of
  // the mainloop then computed its shared-memory descriptors per thread and moved them to uniform
  // registers (16 R2UR and a WARPSYNC per K block, 72 instructions against CUTLASS's own kernel's
  // 53), and the fused kernels issued 26% more instructions than comet's grouped GEMM (ncu, one
  // H100, stop 50; scripts/sass_k_loop.py checks the loop).
  CUTLASS_DEVICE static bool store_warp() {
    const int consumer_warps = static_cast<int>(blockDim.x - cutlass::NumThreadsPerWarpGroup) / cutlass::NumThreadsPerWarp;
    return cutlass::canonical_warp_group_idx() > 0 && cutlass::canonical_warp_idx_sync() % consumer_warps == 0;  // producer warp group first
  }

  // Counts `tile` done once its TMA stores are complete (the store warp): at most PendingGroups of
  // this thread's newest bulk store groups may still be in flight (a no-op for the threads that
  // issued none), then the writes are made visible to the generic proxy and released with the
  // count (at system scope for readers outside the SMs: the copy engines' stream waits).
  template <int PendingGroups>
  CUTLASS_DEVICE void signal_done(WorkTileInfo const& tile) const {
    asm volatile("cp.async.bulk.wait_group %0;" ::"n"(PendingGroups) : "memory");
    asm volatile("fence.proxy.async.global;" ::: "memory");
    __syncwarp();  // the issuing lane's completed stores before the elected lane's release
    unsigned* done = params_.tile_done + static_cast<int64_t>(tile.entry) * params_.cluster_size + rank_;
    // One elected lane adds; its predicate stays inside the asm (see store_warp()).
    if (params_.done_signal == DoneSignal::OWN_STORES_SYSTEM)
      asm volatile("{\n .reg .pred p;\n elect.sync _|p, 0xffffffff;\n @p red.release.sys.global.add.u32 [%0], 1;\n}" ::"l"(done) : "memory");
    else
      asm volatile("{\n .reg .pred p;\n elect.sync _|p, 0xffffffff;\n @p red.release.gpu.global.add.u32 [%0], 1;\n}" ::"l"(done) : "memory");
  }

  // This cluster's claim number `sequence` (its 0th, 1st, ...): the table entry it computes next
  // (past the table: none left), by one thread of the block. Rank 0 takes it from the counter and
  // publishes it once its ring slot is free; the other ranks read it there (tile_claims.hpp).
  // Neither wait needs the watchdog, nor gives up on a trip (a rank that gave up while another
  // computed the entry would leave the cluster's multicast loads waiting for it forever): rank 0
  // claims before it waits for any rows, and the ranks compute each entry together (their weight
  // tile is multicast), so no scheduler warp runs more than its pipeline's stages (LOOKAHEAD) plus
  // a tile ahead of another rank's, well inside the ring's CLAIM_RING; after a trip the launch still
  // computes every tile (with whatever rows are there) and so still claims to the end.
  CUTLASS_DEVICE int claim(unsigned sequence) const {
    ClusterClaims& ring = params_.claims->clusters[cluster_];
    const int slot = claim_slot(sequence);
    if (rank_ == 0) {
      const unsigned entry = atomicAdd(&params_.claims->next_entry, 1u);
      for (int r = 1; r < params_.cluster_size; ++r)
        while (!claim_slot_free(sequence, load_acquire_gpu(ring.taken + r))) __nanosleep(64);
      asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" ::"l"(ring.ring + slot), "l"(claim_word(sequence, entry)) : "memory");
      return static_cast<int>(entry);
    }
    unsigned long long word = 0;
    while (true) {
      asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(word) : "l"(ring.ring + slot) : "memory");
      if (claim_holds(word, sequence)) break;
      __nanosleep(32);
    }
    asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(ring.taken + rank_), "r"(sequence + 1) : "memory");
    return static_cast<int>(claim_entry(word));
  }

  // This block's part of table entry `index`, after its rows have arrived (or the watchdog gave up).
  CUTLASS_DEVICE WorkTileInfo ready_work(int64_t index) const {
    if (index < 0 || index >= params_.tile_count) return WorkTileInfo::invalid_work_tile();
    const ArrivalTile tile = params_.tiles[index];
    const int m = tile.m + rank_;
    if (tile.flag >= 0 && m < tile.m_tiles)
      wait_for_count(params_.flags, tile.flag + rank_, params_.flag_rows[tile.flag + rank_], params_.watchdog);
    return {m, tile.n, tile.group, 1, static_cast<int32_t>(index)};
  }

  Params params_{};
  SchedulerResponse* response_ = nullptr;
  int cluster_ = 0;      // this block's cluster in the launch (blockIdx.x / cluster_size)
  int rank_ = 0;         // this block's rank in its cluster
  unsigned claims_ = 0;  // the claims this thread's block has made (the scheduler warp's count)
  WorkTileInfo stored_ = WorkTileInfo::invalid_work_tile();  // the store warp: the last tile stored, not yet counted
};

}  // namespace comet::kernels::fused_detail

namespace cutlass::gemm::kernel::detail {

// CUTLASS's extension point: the grouped kernel built on ArrivalProblemShape gets the arrival
// scheduler (more specialised than the library's GroupScheduler selector, which takes any shape).
template <class TileShape, class ClusterShape, uint32_t SchedulerPipelineStageCount, int StoreGroupsPerTile>
struct TileSchedulerSelector<GroupScheduler, arch::Sm90, TileShape, ClusterShape, SchedulerPipelineStageCount,
                             comet::kernels::fused_detail::ArrivalProblemShape<StoreGroupsPerTile>> {
  using Scheduler = comet::kernels::fused_detail::ArrivalTileScheduler<SchedulerPipelineStageCount, StoreGroupsPerTile>;
};

}  // namespace cutlass::gemm::kernel::detail
