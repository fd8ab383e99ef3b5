// COMET's fused combine side: one kernel launch in which GEMM blocks compute each expert's down
// projection out = act x W_e tile by tile and send blocks write every finished output tile's rows
// straight back to the GPUs (sources) the rows came from, while later tiles are still computed.
//
// Roles (one launch, a persistent grid no larger than the blocks the GPU holds at once, in whole
// clusters, one block per SM):
//  - the GEMM: CUTLASS's Hopper ptr-array grouped kernel with the arrival tile scheduler
//    (arrival_tile_scheduler.cuh) and its TMA epilogue; once a tile's stores are complete the warp
//    that issued them sets the tile's done flag to 1 (set_done_count: at once, or a tile later).
//    Tiles expert by expert (in bands of M tiles if asked), N column by N column.
//  - blocks [0, send_blocks): send blocks. They (or each of their warps: set_send_tasks) take the
//    schedule's row sends in the GEMM's order, one at a time, wait for the tile's done flag, then
//    copy the rows' columns to the destination through its
//    pointer (device memory, another GPU's buffer mapped by CUDA IPC / peer access, or host-mapped
//    pinned memory). Once its sends are done a send block joins the GEMM (set_send_blocks_join):
//    the GEMM's clusters claim tiles as they come free (tile_claims.hpp).
//  - or, instead of send blocks (run_engine), the copy engines: each of the sends merged into few
//    rectangles (engine_copies.hpp), copied after a stream wait on its tiles' done flags.
//  - the groups the schedule stores directly (CombineStores): their epilogue's TMA stores write the
//    rows straight into the destination, with no send (this GPU's own rows: nothing left to drain
//    after the GEMM when they come last).
//  - landing counters (optional: FusedCombineBuffers::landing): once a send's rows are written
//    (or a stored group's tile is done), its send block raises the destination's counter of (this
//    GPU, expert, N tile) by those rows, at system scope (fused_schedule.hpp, LandingLayout).
//  - unpermute blocks (optional: prepare_unpermute, run's unpermute_blocks): this GPU as a
//    destination. They reduce its tokens' rows (the weighted sum of each token's top-k expert rows,
//    as combine_rows does) N tile by N tile as they land, waiting on this GPU's landing counters,
//    which every sender's launch raises (fused_unpermute_schedule.hpp).
// Unpermute blocks wait for send blocks (this launch's, or other GPUs'), send blocks only for GEMM
// blocks, which wait for nothing; all blocks are resident at once (the grid is capped at what the
// GPU holds), so on one GPU no wait depends on a block that cannot run; between GPUs the unpermute
// also needs every sender's launch to run, which waits for nothing of this launch. A tile or a
// landing that never comes is the watchdog's case (watchdog()).
//
// bf16: act [total rows, k] in the dispatch's expert-major layout, W_e [k, n] row-major one after
// the other ([experts][k][n], as w2 is stored; or W_e^T, [experts][n][k], for the backward's
// d_h13 w13^T), out [total rows, n] (the GEMM's own copy of the output, which the sends read),
// each destination [its rows for this GPU, n] expert by expert (the layout its dispatch sent them
// in). k and n multiples of 8. Built only with CUTLASS and run only on compute capability 9.0
// (available()).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fused_schedule.hpp"
#include "fused_unpermute_schedule.hpp"
#include "global_timer.hpp"

namespace comet::kernels {

struct FusedCombineBuffers {
  const __nv_bfloat16* act = nullptr;             ///< [schedule.total_rows(), k]
  const __nv_bfloat16* weights = nullptr;         ///< [experts][k][n]
  __nv_bfloat16* out = nullptr;                   ///< [schedule.total_rows(), n]
  std::vector<__nv_bfloat16*> destinations;       ///< per source: its combine buffer, [its rows, n]
  /// Per source: its landing counters (the schedule's LandingLayout; device, peer or host-mapped
  /// memory), raised by the rows written there; empty: none raised.
  std::vector<unsigned*> landing;
};

/// This GPU as a destination: what its unpermute blocks read and write (device memory).
struct FusedUnpermuteBuffers {
  const __nv_bfloat16* received = nullptr;  ///< its combine buffer, [rows, n]: what every sender writes
  const std::int32_t* positions = nullptr;  ///< [tokens x top_k]: each copy's row of `received`, < 0: none
  const float* weights = nullptr;           ///< [tokens x top_k], or null (all 1)
  float* out = nullptr;                     ///< [tokens, n] fp32, accumulated into
  unsigned* landing = nullptr;              ///< its landing counters, schedule.landing.counters()
};

class FusedCombineGemm {
 public:
  /// Output tile, blocks per cluster; send-block counts must be multiples of CLUSTER_M.
  static constexpr int TILE_M = 128, TILE_N = 256, CLUSTER_M = 2;
  /// Tokens per unpermute unit (make_unpermute_schedule's tokens_per_unit) that keeps every
  /// reducing warp of an unpermute block busy: 11 warps of 4 tokens each (the 12th waits for the
  /// next unit's landings).
  static constexpr int UNPERMUTE_TOKENS = 44;

  FusedCombineGemm();
  ~FusedCombineGemm();
  FusedCombineGemm(const FusedCombineGemm&) = delete;
  FusedCombineGemm& operator=(const FusedCombineGemm&) = delete;

  static bool available(std::string* why_not = nullptr);
  /// The combine schedule of `route` (what this GPU received) in this kernel's tiles for n columns,
  /// bands of `band_tiles` M tiles per expert (make_fused_combine_schedule; 0: whole experts).
  /// `stores`: which rows the GEMM's epilogue stores straight into their destination (no send).
  static FusedCombineSchedule schedule_for(const DispatchRoute& route, std::int64_t n, int band_tiles = FUSED_BAND_TILES,
                                           CombineOrder order = CombineOrder::EXPERT, CombineStores stores = CombineStores::SEND);

  /// Who takes a send task (a tile's rows to one source, 128 rows x 512 bytes at most): a whole
  /// send block (the default), or each warp of it (several tiles in flight per block; BENCHMARKS.md
  /// measures both).
  enum class SendTasks { PER_BLOCK, PER_WARP };
  void set_send_tasks(SendTasks tasks);
  /// Paces the sends of later runs (run_sends too) to `bytes_per_second`, all send blocks together:
  /// each block (or warp) starts a send no sooner than its share of the rate allows. 0: unpaced
  /// (the default). Measured, not a default: beside the Mixtral 4K GEMM the sends got ~40 GB/s
  /// whatever pace above that was asked (one H100, BENCHMARKS.md, stop 37).
  void set_send_rate(double bytes_per_second);

  /// When the GEMM counts an output tile done, which is when its sends may start, for later runs:
  /// AT_ONCE (the default), as soon as its stores are complete (its warp group waits for them, once
  /// per tile); ONE_TILE_LATER, when the tile's warp asks for the tile after next, so that no warp
  /// waits for its own stores but no send starts before the second wave of tiles ends. Measured in
  /// three calls on H100s (BENCHMARKS.md, stop 45): the same GEMM part either way, on Mixtral and
  /// DeepSeek-V3 shapes; the Mixtral 4K combine's best overlap 0.85-0.87 at once against 0.72-0.74 a
  /// tile later.
  enum class DoneCount { AT_ONCE, ONE_TILE_LATER };
  void set_done_count(DoneCount count);

  /// Uploads the schedule's tables and per-expert pointers (synchronous: once per routing). With
  /// `weights_transposed` each expert's W_e^T is what is stored, [n, k] (the backward: d_h13 w13^T,
  /// sent back to the sources as the dispatch's gradient). cudaErrorInvalidValue: k or n not a
  /// multiple of 8, a misaligned pointer, a destination missing, a schedule not in this kernel's tiles.
  cudaError_t prepare(const FusedCombineSchedule& schedule, std::int64_t k, std::int64_t n, const FusedCombineBuffers& buffers,
                      bool weights_transposed = false);

  /// Sets up this GPU's unpermute for runs with unpermute blocks (synchronous: once per routing).
  /// The schedule's N tiles must be this kernel's over n columns (n a multiple of 8).
  /// cudaErrorInvalidValue otherwise, or on a buffer missing or misaligned.
  cudaError_t prepare_unpermute(const UnpermuteSchedule& schedule, std::int64_t n, const FusedUnpermuteBuffers& buffers);
  /// Zeroes this GPU's landing counters on `stream`. Must come before any sender's launch of the run
  /// can raise them: on one GPU, before run(); between GPUs, before the event that the senders'
  /// launches wait for (the permute's).
  cudaError_t clear_landing(cudaStream_t stream);

  /// Enqueues one fused run: `send_blocks` send blocks, `unpermute_blocks` unpermute blocks (a
  /// multiple of CLUSTER_M; prepare_unpermute first) and the GEMM on the SMs left (at most gemm_sms
  /// when > 0; the send blocks' too once their sends are done, unless set_send_blocks_join(false)
  /// or gemm_sms > 0). send_blocks = 0: the GEMM alone (the output stays in `out`; no unpermute blocks then).
  cudaError_t run(int send_blocks, cudaStream_t stream, int gemm_sms = 0, int unpermute_blocks = 0);
  /// Enqueues the sends alone, of the output already in `out` (the transfer's own time).
  cudaError_t run_sends(int send_blocks, cudaStream_t stream);

  /// Enqueues one fused run whose sends the copy engines make instead of send blocks (no SM set
  /// aside): on `stream` the GEMM on every SM (at most gemm_sms when > 0), each tile counted done as
  /// soon as its stores are complete and released at system scope; on `engine_stream` the engine
  /// copies (engine_copies.hpp: the schedule's sends merged into rectangles), each after the stream
  /// has waited (cuStreamBatchMemOp) for every tile in it to be counted; `stream` then waits for
  /// `engine_stream`, so the run ends on `stream` once both have. The GEMM waits for nothing, so no
  /// wait can hang. The two streams must be able to run side by side: with the legacy default stream
  /// as `stream`, create `engine_stream` with cudaStreamNonBlocking (else the copies wait for the
  /// GEMM to end). cudaErrorInvalidValue when prepared with landing counters (nothing raises them
  /// here) or with both streams the same; cudaErrorNotSupported where the driver lacks stream
  /// memory operations.
  cudaError_t run_engine(cudaStream_t stream, cudaStream_t engine_stream, int gemm_sms = 0);
  /// Enqueues the engine copies alone on `stream`, of the output already in `out` (their own time).
  cudaError_t run_engine_sends(cudaStream_t stream);
  /// The copies each engine run makes (after prepare; 0 before).
  int engine_copy_count() const;

  /// How long a send block waits for a tile before it gives up, seconds (default 10).
  void set_timeout(double seconds);
  /// Whether each send block of later runs joins the GEMM once its sends are done (claims tiles as
  /// the GEMM blocks do), so that its SM computes instead of idling (default: yes). Never in
  /// run_sends(), nor in a run whose GEMM SMs are capped (gemm_sms > 0). Unpermute blocks never join.
  void set_send_blocks_join(bool join);
  /// After the runs are synchronised: -1, or the done flag a send block gave up on, or the schedule's
  /// done_flags() + the landing counter an unpermute block gave up on (the first wait to give up in
  /// any run since prepare(): a trip is never hidden by a later run that went well).
  int watchdog();
  /// After a watchdog trip (runs synchronised): what the first wait that gave up saw, for the
  /// message: how long after the launch's first block it gave up, which flags were below their
  /// count then (the first `listed`, with their tiles) and which blocks of the launch had not started
  /// (e.g. "at the trip, 10000.4 ms after the launch's first block started: 870 of 1024 flags short:
  /// 8 at 0 of 1 (entry 4: group 0, M tile 0 of 16, N tile 1), ...; blocks started: 8 of 8 transfer,
  /// 124 of 124 GEMM"); "" without a trip.
  std::string watchdog_report(int listed = 8);
  /// After the last run is synchronised: when its transfer blocks ran (%globaltimer ns; none ran:
  /// both 0, as without CUTLASS).
  TransferSpan transfer_span();
  /// After the last run is synchronised: when its unpermute blocks ran (none: both 0).
  TransferSpan unpermute_span();
  /// After the last run is synchronised: the SM clock (one for the whole GPU) while its send blocks
  /// ran, MHz (clock64 cycles over %globaltimer time, averaged over the blocks); 0 without any.
  double send_clock_mhz();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace comet::kernels
