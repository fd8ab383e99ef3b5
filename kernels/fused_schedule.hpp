// The tile schedules of COMET's fused kernels, host code only:
//  - dispatch (kernels/fused_dispatch_gemm.hpp): which rows the copy blocks pull in which order,
//    which per-tile arrival flag each copy raises, the order in which the GEMM blocks take tiles;
//  - combine (kernels/fused_combine_gemm.hpp): the order of the down-projection's output tiles and,
//    for each, the row runs the send blocks write back to the rows' sources once it is done.
//
// What one destination GPU receives: rows[e][s] token rows for its local expert e from source s
// (a GPU of the expert-parallel group; the destination itself is `local_source`). Each source
// holds its rows for this destination expert by expert, [rows, k] each, contiguous: source row
// r of expert e is row sum_{e' < e} rows[e'][s] + r of that source's buffer (the layout the
// permute before an all-to-all-v produces).
//
// The order balances arrival against the GEMM's reuse of each expert's weights:
//  1. Local pass (COMET's rescheduling: the rows already on this GPU first). The destination's
//     own rows of every expert are copied first (device to device, fast), and the M tiles made
//     only of them are computed first, expert by expert.
//  2. Expert pass: then expert by expert, the other sources' rows in ring order (local + 1,
//     local + 2, ..., so that no source is pulled by every destination at once), and the GEMM
//     takes each expert's remaining tiles once they are in: N tile by N tile, every M tile of a
//     column (of a band of M tiles, `band_tiles`) together, so that a weight tile is read from
//     memory once per band, multicast to the cluster_m blocks of a cluster and shared through L2 by
//     the others computing that column. (In an order
//     that follows arrival row block by row block the weights are read once per block: on one
//     H100 that order with clusters of one block ran the GEMM alone 1.2-2.5x slower.)
// In the expert-major receive buffer an expert's rows are in wave order (own rows, then ring
// order), so its first M tiles hold its own rows. A tile's arrival flag counts the rows copied
// into its M tile; the tile is ready when the count reaches its rows.
#pragma once

#include <cstdint>
#include <vector>

namespace comet::kernels {

/// What one destination GPU receives, per local expert and source.
struct DispatchRoute {
  int sources = 0;                 ///< GPUs that send rows (the destination included)
  int experts = 0;                 ///< local experts of the destination
  int local_source = 0;            ///< the destination's own index among the sources
  std::vector<std::int64_t> rows;  ///< rows[e * sources + s]: token rows for expert e from source s

  std::int64_t rows_of(int expert, int source) const { return rows[static_cast<std::size_t>(expert) * sources + source]; }
};

/// One contiguous run of rows a copy block moves: from a source's buffer into the expert-major
/// receive buffer, all within one M tile, whose flag it raises by `rows` when done.
struct RowCopy {
  int source = 0;
  int expert = 0;
  int wave = 0;                 ///< position of `source` in the pull order
  std::int64_t source_row = 0;  ///< first row in the source's buffer
  std::int64_t dest_row = 0;    ///< first row in the expert-major receive buffer
  std::int64_t rows = 0;
  int flag = 0;                 ///< arrival flag (one per expert M tile)
};

/// One unit of GEMM work: the output tiles of M tiles m .. m + cluster_m - 1 (those the expert has)
/// of expert `expert`, columns [n * tile_n, ...): one per block of a cluster, which share the
/// weight tile. M tile m' of expert e is ready when flag expert_first_flag[e] + m' counts
/// flag_rows of that flag.
struct GemmTile {
  int expert = 0;
  int m = 0;
  int n = 0;
  int wave = 0;   ///< the latest wave that copies rows into these M tiles (0: local rows only, local pass)
  int group = 0;  ///< the GEMM group whose M tiles m counts (dispatch: the expert; combine: a CombineGroup)
};

struct FusedDispatchSchedule {
  int tile_m = 0, n_tiles = 0, cluster_m = 1;
  std::vector<int> pull_order;                 ///< pull_order[w]: the source pulled in wave w
  std::vector<std::int64_t> expert_first_row;  ///< experts + 1 entries: expert e's rows are [first[e], first[e + 1])
  std::vector<int> expert_first_flag;          ///< experts + 1 entries: expert e's M tiles are flags [first[e], first[e + 1])
  std::vector<std::int64_t> flag_rows;         ///< per flag (M tile): its rows, the count that makes it ready
  std::vector<RowCopy> copies;                 ///< in the order the copy blocks take them (local pass, then expert pass)
  std::vector<GemmTile> tiles;                 ///< in the order the GEMM blocks take them (local pass, then expert pass)
  int flag_count() const { return expert_first_flag.empty() ? 0 : expert_first_flag.back(); }
  std::int64_t total_rows() const { return expert_first_row.empty() ? 0 : expert_first_row.back(); }
};

/// The tile band (M tiles, whole clusters of `cluster_m`) for which one wave of `wave_tiles` output
/// tiles of tile_m x tile_n reads the fewest bytes per K step: in bands of b M tiles, taken N column
/// by N column, a wave covers about b activation row blocks (tile_m rows each) and wave_tiles / b
/// weight columns (tile_n columns each), b tile_m + (wave_tiles / b) tile_n rows and columns in all,
/// fewest near b = sqrt(wave_tiles tile_n / tile_m). Whole experts in one band (the order of stop 45
/// and before) sweep an expert's every M tile down each column: at Mixtral 16K (64 M tiles an
/// expert) a wave of 132 tiles covers 64 row blocks and 2 columns, twice the bytes of bands of 16.
/// Arguments positive.
constexpr int balanced_band_tiles(int wave_tiles, int tile_m, int tile_n, int cluster_m) {
  const auto bytes = [&](int b) { return static_cast<double>(b) * tile_m + static_cast<double>(wave_tiles) / b * tile_n; };
  int band = cluster_m;
  while (bytes(band + cluster_m) < bytes(band)) band += cluster_m;  // convex in the band: its first minimum is the least
  return band;
}

/// The fused kernels' tile band when the caller names none (FusedDispatchGemm::schedule_for,
/// FusedCombineGemm::schedule_for): their 128 x 256 tiles in clusters of 2 on the 132 SMs of an
/// H100 or H200 SXM, 16 M tiles. An expert of at most 16 M tiles (2048 rows) is one band, the
/// order of whole experts. Measured: BENCHMARKS.md, "Tile bands of 16 by default".
inline constexpr int FUSED_BAND_TILES = balanced_band_tiles(132, 128, 256, 2);

/// The schedule for `route` with GEMM tiles of `tile_m` rows, `n_tiles` tiles across the output
/// columns and work units of `cluster_m` M tiles; within an expert, bands of `band_tiles` M tiles
/// (0: one band, the whole expert), each band N column by N column. Throws std::invalid_argument
/// on a route that cannot be (sizes, negative rows, a local source out of range), non-positive
/// tile counts or a negative band.
FusedDispatchSchedule make_fused_dispatch_schedule(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m = 1,
                                                   int band_tiles = 0);

/// The landing counters a destination GPU keeps for the combine (kernels/fused_unpermute_schedule.hpp
/// consumes them): one per (sender, the sender's local expert, N tile), which the sender raises by
/// the rows of that expert and N tile it has written into the destination's combine buffer, once
/// they are visible there. Senders are the sources of DispatchRoute (the GPUs of the expert-parallel
/// group, numbered alike on every GPU), each with `experts` local experts.
struct LandingLayout {
  int senders = 0, experts = 0, n_tiles = 0;
  int counter(int sender, int expert, int n) const { return (sender * experts + expert) * n_tiles + n; }
  int counters() const { return senders * experts * n_tiles; }
};

/// One run of finished output rows a send block writes back to their source: rows [row, row + rows)
/// of the expert-major output, columns of N tile n, to rows [dest_row, ...) of source `source`'s
/// combine buffer (its rows for this GPU, expert by expert: the layout its dispatch sent them in).
/// It waits until `done_flag` (the output tile holding these rows) counts the GEMM's warps, and
/// once they are written adds `rows` to landing counter `landing` of the source (if asked).
struct RowSend {
  int done_flag = 0;  ///< work unit index x cluster_m + the block's rank in its cluster
  int source = 0;
  int expert = 0;
  int n = 0;
  std::int64_t row = 0;
  std::int64_t dest_row = 0;
  std::int64_t rows = 0;
  int landing = 0;    ///< LandingLayout::counter(this GPU, expert, n) at the source
};

/// The order of the combine's work units (the GEMM waits for nothing there; the order decides
/// when each tile's rows can be sent).
enum class CombineOrder {
  /// Expert by expert, band by band (band b of each of the expert's GEMM groups together), N
  /// column by N column, group by group: each weight column is read once per band.
  EXPERT,
  /// COMET's rescheduling, combine side (the mirror of the dispatch's local pass): the units
  /// holding any other source's rows first, in EXPERT order, then the units made only of this
  /// GPU's own rows (which go back through device memory, or need no send at all with
  /// CombineStores::LOCAL_DIRECT). The link's sends then overlap the GEMM's last wave instead of
  /// trailing it; the price is a second read of the weight columns that the local units use.
  LOCAL_LAST,
};

/// Who writes the combine's output rows to the buffers of the sources they came from.
enum class CombineStores {
  /// Every row: the GEMM's epilogue stores it into the expert-major output, a send block then
  /// copies it to its source (one GEMM group per expert with rows; the measured default).
  SEND,
  /// This GPU's own rows: the epilogue stores them straight into this GPU's combine buffer (device
  /// memory; no send, so nothing drains after the GEMM when they come last); the others as SEND.
  /// Two GEMM groups per expert: its own rows (first in its expert-major rows), the rest.
  LOCAL_DIRECT,
  /// Every row: the epilogue stores it straight into its source's combine buffer (the pointer the
  /// kernel is given: device memory, peer memory, host-mapped memory), no send at all. One GEMM
  /// group per expert and source with rows, so an expert's rows are cut into more partial M tiles.
  ALL_DIRECT,
};

/// One GEMM group of the combine: rows [first_row, first_row + rows) of the expert-major act and
/// output, all of expert `expert`, with its weights. The epilogue stores the group's output rows
/// into the expert-major output at the same rows (direct_source < 0: the send blocks then copy
/// them), or straight into source direct_source's combine buffer from row dest_row on.
struct CombineGroup {
  int expert = 0;
  std::int64_t first_row = 0;
  std::int64_t rows = 0;
  int direct_source = -1;
  std::int64_t dest_row = 0;
};

/// The combine side: the same expert-major rows (as the dispatch laid them out) through the
/// down projection, then back to their sources. Work units in `order`, M tiles (counted within
/// their group) in cluster_m groups (no waiting: the rows are already here); the sends of the
/// groups that are not stored directly, in the order the units are taken, within a unit by
/// cluster rank, then row.
struct FusedCombineSchedule {
  int tile_m = 0, n_tiles = 0, cluster_m = 1;
  std::vector<std::int64_t> expert_first_row;  ///< as in the dispatch schedule
  std::vector<CombineGroup> groups;            ///< the GEMM's groups, experts in order, each expert's in row order
  std::vector<GemmTile> tiles;                 ///< work units in the order the GEMM blocks take them (m within `group`; wave unused: 0)
  std::vector<RowSend> sends;                  ///< in the order the send blocks take them
  /// The rows the epilogue stores straight into their source (CombineStores), cut as the sends
  /// are and in the same order: nothing to copy, only their landing to raise once their tile is done.
  std::vector<RowSend> stored;
  LandingLayout landing;                       ///< the sources' landing counters (this GPU: sender local_source)
  int done_flags() const { return static_cast<int>(tiles.size()) * cluster_m; }
  std::int64_t total_rows() const { return expert_first_row.empty() ? 0 : expert_first_row.back(); }
  int m_tiles(int group) const {
    return static_cast<int>((groups[static_cast<std::size_t>(group)].rows + tile_m - 1) / tile_m);
  }
};

/// The combine schedule of `route` (what this GPU received in its dispatch), with the same
/// conditions as make_fused_dispatch_schedule.
FusedCombineSchedule make_fused_combine_schedule(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m = 1,
                                                 int band_tiles = 0, CombineOrder order = CombineOrder::EXPERT,
                                                 CombineStores stores = CombineStores::SEND);

}  // namespace comet::kernels
