// COMET's fused dispatch side: one kernel launch in which copy blocks pull each source's token rows
// into the expert-major receive buffer and GEMM blocks compute the expert projection
// out = received x W_e tile by tile, each tile as soon as its rows are in.
//
// Roles (one launch, a persistent grid no larger than the blocks the GPU holds at once, in whole
// clusters, one block per SM):
//  - blocks [0, copy_blocks), a multiple of the cluster size: copy blocks. They take the schedule's
//    row copies in order (block b copies b, b + copy_blocks, ...), read the rows through the
//    source's pointer (device memory, another GPU's buffer mapped by CUDA IPC / peer access, or
//    host-mapped pinned memory: any address the GPU can load from), write them with ordinary stores
//    and add the rows to the M tile's arrival flag. They never wait for anything.
//  - the rest: the GEMM, CUTLASS's Hopper ptr-array grouped kernel (TMA, wgmma, two consumer warp
//    groups, clusters of two sharing the weight tile) with the arrival tile scheduler
//    (arrival_tile_scheduler.cuh): tiles in the schedule's order (fused_schedule.hpp: the local
//    pass, then expert by expert), each released when its flag counts its rows. Clusters claim
//    the next tile when they are free (tile_claims.hpp), and a copy block whose copies are done
//    joins them (set_copy_blocks_join).
// A GEMM block waits only for copy blocks, which wait for nothing; the grid is capped at the blocks
// the GPU holds at once (cudaOccupancyMaxActiveClusters), so every block is resident together and
// no wait depends on a block that cannot run. A flag that still does not fill (a source that never
// delivers, a foreign kernel holding the SMs) is the watchdog's case: see watchdog().
//
// bf16 rows of k elements (k a multiple of 8: 16-byte rows for TMA and the copies), weights W_e
// [k, n] row-major one after the other ([experts][k][n], as the expert weights w13 are stored; or
// W_e^T, [experts][n][k], for the backward's data gradient, whose exchange is the same shape),
// output [total rows, n] row-major in the receive buffer's row order. Built only with CUTLASS and
// run only on compute capability 9.0 (available() says whether this process can).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fused_schedule.hpp"
#include "global_timer.hpp"

namespace comet::kernels {

/// Where the rows are and go, raw pointers (DeepEP style): all must stay valid while runs are in flight.
struct FusedDispatchBuffers {
  std::vector<const __nv_bfloat16*> sources;  ///< per source: its rows for this GPU, expert by expert, [rows, k]
  __nv_bfloat16* received = nullptr;          ///< expert-major receive buffer, [schedule.total_rows(), k]
  const __nv_bfloat16* weights = nullptr;     ///< [experts][k][n]
  __nv_bfloat16* out = nullptr;               ///< [schedule.total_rows(), n]
};

class FusedDispatchGemm {
 public:
  /// Output tile of the GEMM: rows x columns, and blocks per cluster (along M, sharing the weight
  /// tile). The schedule must be made with TILE_M rows, ceil(n / TILE_N) N tiles and work units of
  /// CLUSTER_M M tiles (schedule_for() does); copy-block counts must be multiples of CLUSTER_M.
  static constexpr int TILE_M = 128, TILE_N = 256, CLUSTER_M = 2;

  FusedDispatchGemm();
  ~FusedDispatchGemm();
  FusedDispatchGemm(const FusedDispatchGemm&) = delete;
  FusedDispatchGemm& operator=(const FusedDispatchGemm&) = delete;

  /// Whether this build has the kernel and the current device runs it (sm_90); if not, why.
  static bool available(std::string* why_not = nullptr);

  /// The schedule of `route` in this kernel's tiles for an output of n columns, bands of
  /// `band_tiles` M tiles per expert (make_fused_dispatch_schedule; 0: whole experts).
  static FusedDispatchSchedule schedule_for(const DispatchRoute& route, std::int64_t n, int band_tiles = FUSED_BAND_TILES);

  /// Uploads the schedule's tables and the per-expert pointers for `buffers` (synchronous: once per
  /// routing, not per run). `schedule.copies` may be a subset of the schedule's (a test withholds a
  /// source's copies to exercise the watchdog). With `weights_transposed` each expert's W_e^T is
  /// what is stored, [n, k] (the backward: the combine-grad rows dy arriving into dy w2^T).
  /// cudaErrorInvalidValue: k or n not a multiple of 8, a misaligned pointer, a source missing, a
  /// schedule not in this kernel's tiles.
  cudaError_t prepare(const FusedDispatchSchedule& schedule, std::int64_t k, std::int64_t n, const FusedDispatchBuffers& buffers,
                      bool weights_transposed = false);

  /// Enqueues one fused run on `stream`: the flags reset, then one launch of `copy_blocks` copy
  /// blocks and the GEMM on the SMs left (at most `gemm_sms` of them when > 0), and on the copy
  /// blocks' SMs too once their copies are done (unless set_copy_blocks_join(false) or gemm_sms > 0).
  /// copy_blocks = 0 runs the GEMM alone on rows already in the receive buffer (every flag raised
  /// first).
  cudaError_t run(int copy_blocks, cudaStream_t stream, int gemm_sms = 0);

  /// Enqueues the copies alone (the same copy blocks, no GEMM): the transfer's own time.
  cudaError_t run_copies(int copy_blocks, cudaStream_t stream);

  /// How long a GEMM block waits for a tile's rows before it gives up, seconds (default 10).
  void set_timeout(double seconds);
  /// Whether each copy block of later runs joins the GEMM once its copies are done (default: yes):
  /// without it the copy blocks' SMs idle from the end of the copies to the end of the launch.
  void set_copy_blocks_join(bool join);

  /// After the runs are synchronised: -1 when every tile's rows arrived in every run since
  /// prepare(), else the arrival flag the first GEMM block to give up gave up on (the output of that
  /// run and of every later one is then garbage: their waits no longer wait; a caller reports it and
  /// exits 3, or prepares again).
  int watchdog();
  /// After a watchdog trip (runs synchronised): what the first wait that gave up saw, for the
  /// message: how long after the launch's first block it gave up, which flags were below their
  /// count then (the first `listed`, with their tiles) and which blocks of the launch had not started
  /// (e.g. "at the trip, 10000.4 ms after the launch's first block started: 870 of 1024 flags short:
  /// 8 at 0 of 8 (entry 4: group 0, M tile 0 of 16, N tile 1), ...; blocks started: 8 of 8 transfer,
  /// 124 of 124 GEMM"); "" without a trip.
  std::string watchdog_report(int listed = 8);
  /// After the last run is synchronised: when its transfer blocks ran (%globaltimer ns; none ran:
  /// both 0, as without CUTLASS).
  TransferSpan transfer_span();

  /// After prepare(): the most blocks one launch has (copy + GEMM), those of this kernel the GPU
  /// holds at once in whole clusters (at most one per SM).
  int max_blocks() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace comet::kernels
