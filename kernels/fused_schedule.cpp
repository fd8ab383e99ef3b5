#include "fused_schedule.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace comet::kernels {

namespace {

void check_route(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m, int band_tiles) {
  if (route.sources <= 0 || route.experts < 0)
    throw std::invalid_argument("fused dispatch: need at least one source and no negative expert count");
  if (route.local_source < 0 || route.local_source >= route.sources)
    throw std::invalid_argument("fused dispatch: local source " + std::to_string(route.local_source) + " is not one of the " +
                                std::to_string(route.sources) + " sources");
  if (route.rows.size() != static_cast<std::size_t>(route.sources) * route.experts)
    throw std::invalid_argument("fused dispatch: rows has " + std::to_string(route.rows.size()) + " entries, expected experts x sources = " +
                                std::to_string(static_cast<std::size_t>(route.sources) * route.experts));
  for (std::int64_t r : route.rows)
    if (r < 0) throw std::invalid_argument("fused dispatch: negative row count " + std::to_string(r));
  if (tile_m <= 0 || n_tiles <= 0 || cluster_m <= 0)
    throw std::invalid_argument("fused dispatch: tile rows, N tiles and cluster size must be positive");
  if (band_tiles < 0) throw std::invalid_argument("fused dispatch: negative band of M tiles " + std::to_string(band_tiles));
}

// An expert's work units (cluster_m M tiles x one N tile of one of its GEMM groups, whose M tile
// counts are `m_tiles`) in band order: bands of band_tiles M tiles (rounded up to whole clusters;
// 0: each group's every M tile), band b of every group together, N column by N column, group by
// group. A band's rows stay in L2 while its columns go by, and each weight column is read once
// per band: banding trades weight reads (one per band) for activation reads (one per column sweep
// over rows that no longer fit in L2). visit(group index, m, n).
template <typename Visit>
void for_each_unit(const std::vector<int>& m_tiles, int n_tiles, int cluster_m, int band_tiles, Visit&& visit) {
  const int most = m_tiles.empty() ? 0 : *std::max_element(m_tiles.begin(), m_tiles.end());
  const int band = band_tiles == 0 ? std::max(most, 1) : (band_tiles + cluster_m - 1) / cluster_m * cluster_m;
  for (int first = 0; first < most; first += band)
    for (int n = 0; n < n_tiles; ++n)
      for (std::size_t g = 0; g < m_tiles.size(); ++g)
        for (int m = first; m < std::min(first + band, m_tiles[g]); m += cluster_m) visit(static_cast<int>(g), m, n);
}

// Where the rows of a route are: the expert-major receive buffer (an expert's rows in wave
// order) and each source's buffer (its rows for this destination, expert by expert).
struct ReceiveLayout {
  std::vector<int> pull_order;                   // pull_order[w]: the source of wave w
  std::vector<std::int64_t> expert_first_row;    // experts + 1
  std::vector<int> expert_first_flag;            // experts + 1: one flag per M tile
  std::vector<std::int64_t> flag_rows;           // per M tile
  std::vector<std::int64_t> dest_first, source_first;  // [e * sources + w]: first row of that segment in each buffer

  ReceiveLayout(const DispatchRoute& route, int tile_m) {
    const int sources = route.sources, experts = route.experts;
    for (int w = 0; w < sources; ++w) pull_order.push_back((route.local_source + w) % sources);
    expert_first_row.assign(1, 0);
    expert_first_flag.assign(1, 0);
    for (int e = 0; e < experts; ++e) {
      std::int64_t rows = 0;
      for (int src = 0; src < sources; ++src) rows += route.rows_of(e, src);
      expert_first_row.push_back(expert_first_row.back() + rows);
      expert_first_flag.push_back(expert_first_flag.back() + static_cast<int>((rows + tile_m - 1) / tile_m));
      for (std::int64_t first = 0; first < rows; first += tile_m) flag_rows.push_back(std::min<std::int64_t>(tile_m, rows - first));
    }
    dest_first.resize(static_cast<std::size_t>(experts) * sources);
    source_first.resize(dest_first.size());
    std::vector<std::int64_t> source_offset(static_cast<std::size_t>(sources), 0);
    for (int e = 0; e < experts; ++e) {
      std::int64_t dest = expert_first_row[static_cast<std::size_t>(e)];
      for (int w = 0; w < sources; ++w) {
        const int src = pull_order[static_cast<std::size_t>(w)];
        dest_first[at(sources, e, w)] = dest;
        source_first[at(sources, e, w)] = source_offset[static_cast<std::size_t>(src)];
        dest += route.rows_of(e, src);
        source_offset[static_cast<std::size_t>(src)] += route.rows_of(e, src);
      }
    }
  }
  static std::size_t at(int sources, int e, int w) { return static_cast<std::size_t>(e) * sources + w; }
  int m_tiles(int e) const { return expert_first_flag[static_cast<std::size_t>(e) + 1] - expert_first_flag[static_cast<std::size_t>(e)]; }
};

}  // namespace

FusedDispatchSchedule make_fused_dispatch_schedule(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m, int band_tiles) {
  check_route(route, tile_m, n_tiles, cluster_m, band_tiles);
  const int sources = route.sources, experts = route.experts;
  const ReceiveLayout layout(route, tile_m);
  FusedDispatchSchedule s;
  s.tile_m = tile_m;
  s.n_tiles = n_tiles;
  s.cluster_m = cluster_m;
  s.pull_order = layout.pull_order;
  s.expert_first_row = layout.expert_first_row;
  s.expert_first_flag = layout.expert_first_flag;
  s.flag_rows = layout.flag_rows;
  const auto at = [&](int e, int w) { return ReceiveLayout::at(sources, e, w); };
  const std::vector<std::int64_t>& dest_first = layout.dest_first;
  const std::vector<std::int64_t>& source_first = layout.source_first;
  // One source segment as copies cut at the expert's M tiles. tile_wave[flag]: the latest wave
  // that copies into that M tile.
  std::vector<int> tile_wave(static_cast<std::size_t>(s.flag_count()), 0);
  const auto copy_segment = [&](int e, int w) {
    const int src = s.pull_order[static_cast<std::size_t>(w)];
    const std::int64_t segment = route.rows_of(e, src), expert_first = s.expert_first_row[static_cast<std::size_t>(e)];
    for (std::int64_t done = 0; done < segment;) {
      const std::int64_t in_expert = dest_first[at(e, w)] - expert_first + done;
      const std::int64_t m = in_expert / tile_m;
      const std::int64_t take = std::min(segment - done, (m + 1) * tile_m - in_expert);
      const int flag = s.expert_first_flag[static_cast<std::size_t>(e)] + static_cast<int>(m);
      s.copies.push_back({src, e, w, source_first[at(e, w)] + done, expert_first + in_expert, take, flag});
      tile_wave[static_cast<std::size_t>(flag)] = std::max(tile_wave[static_cast<std::size_t>(flag)], w);
      done += take;
    }
  };
  for (int e = 0; e < experts; ++e) copy_segment(e, 0);  // local pass
  for (int e = 0; e < experts; ++e)
    for (int w = 1; w < sources; ++w) copy_segment(e, w);  // expert pass

  // Work units: local pass (M tiles of own rows only), then expert pass; each expert in band
  // order, its M tiles in cluster_m groups.
  for (const bool local_pass : {true, false})
    for (int e = 0; e < experts; ++e) {
      const int first_flag = s.expert_first_flag[static_cast<std::size_t>(e)];
      const int m_tiles = layout.m_tiles(e);
      for_each_unit({m_tiles}, n_tiles, cluster_m, band_tiles, [&](int, int m, int n) {
        int wave = 0;
        for (int member = m; member < std::min(m + cluster_m, m_tiles); ++member)
          wave = std::max(wave, tile_wave[static_cast<std::size_t>(first_flag + member)]);
        if ((wave == 0) == local_pass) s.tiles.push_back({e, m, n, wave, e});
      });
    }
  return s;
}

namespace {

// The combine's GEMM groups of expert e (rows in wave order: own rows first) for `stores`.
void add_combine_groups(const DispatchRoute& route, const ReceiveLayout& layout, int e, CombineStores stores,
                        std::vector<CombineGroup>& groups) {
  const std::int64_t first = layout.expert_first_row[static_cast<std::size_t>(e)];
  const std::int64_t rows = layout.expert_first_row[static_cast<std::size_t>(e) + 1] - first;
  const auto add = [&](std::int64_t at, std::int64_t count, int direct_source, std::int64_t dest_row) {
    if (count > 0) groups.push_back({e, at, count, direct_source, dest_row});
  };
  if (stores == CombineStores::SEND) return add(first, rows, -1, 0);
  const std::size_t own = ReceiveLayout::at(route.sources, e, 0);  // wave 0: this GPU's rows
  if (stores == CombineStores::LOCAL_DIRECT) {
    const std::int64_t local = route.rows_of(e, route.local_source);
    add(first, local, route.local_source, layout.source_first[own]);
    return add(first + local, rows - local, -1, 0);
  }
  for (int w = 0; w < route.sources; ++w) {
    const std::size_t segment = ReceiveLayout::at(route.sources, e, w);
    const int src = layout.pull_order[static_cast<std::size_t>(w)];
    add(layout.dest_first[segment], route.rows_of(e, src), src, layout.source_first[segment]);
  }
}

}  // namespace

FusedCombineSchedule make_fused_combine_schedule(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m, int band_tiles,
                                                 CombineOrder order, CombineStores stores) {
  check_route(route, tile_m, n_tiles, cluster_m, band_tiles);
  const ReceiveLayout layout(route, tile_m);
  FusedCombineSchedule s;
  s.tile_m = tile_m;
  s.n_tiles = n_tiles;
  s.cluster_m = cluster_m;
  s.expert_first_row = layout.expert_first_row;
  s.landing = {route.sources, route.experts, n_tiles};
  for (int e = 0; e < route.experts; ++e) add_combine_groups(route, layout, e, stores, s.groups);
  // A group's row range within its expert's rows.
  const auto in_expert = [&](const CombineGroup& g) { return g.first_row - layout.expert_first_row[static_cast<std::size_t>(g.expert)]; };
  // An expert's own rows come first in its expert-major rows (wave 0), so a unit is made only of
  // them when its last row is among the first rows_of(e, local) rows.
  const auto local_only = [&](const CombineGroup& g, int m) {
    const std::int64_t unit_end = in_expert(g) + std::min<std::int64_t>(static_cast<std::int64_t>(m + cluster_m) * tile_m, g.rows);
    return unit_end <= route.rows_of(g.expert, route.local_source);
  };
  const bool local_last = order == CombineOrder::LOCAL_LAST;
  for (const bool local_pass : {false, true}) {
    if (local_pass && !local_last) break;
    for (int first = 0, end = 0; first < static_cast<int>(s.groups.size()); first = end) {  // an expert's groups [first, end)
      std::vector<int> m_tiles;
      for (end = first; end < static_cast<int>(s.groups.size()) && s.groups[end].expert == s.groups[first].expert; ++end)
        m_tiles.push_back(s.m_tiles(end));
      for_each_unit(m_tiles, n_tiles, cluster_m, band_tiles, [&](int member, int m, int n) {
        const int g = first + member;
        if (!local_last || local_only(s.groups[g], m) == local_pass) s.tiles.push_back({s.groups[g].expert, m, n, 0, g});
      });
    }
  }
  // Each unit's M tiles, cut where their rows change source (the wave segments of the expert):
  // sends of the groups stored into the output, landings of those stored into their source.
  for (std::size_t unit = 0; unit < s.tiles.size(); ++unit) {
    const GemmTile& t = s.tiles[unit];
    const CombineGroup& group = s.groups[static_cast<std::size_t>(t.group)];
    std::vector<RowSend>& runs = group.direct_source >= 0 ? s.stored : s.sends;
    const std::int64_t expert_first = layout.expert_first_row[static_cast<std::size_t>(t.expert)];
    for (int rank = 0; rank < cluster_m && t.m + rank < s.m_tiles(t.group); ++rank) {
      const std::int64_t tile_first = in_expert(group) + static_cast<std::int64_t>(t.m + rank) * tile_m;
      const std::int64_t tile_end = std::min<std::int64_t>(tile_first + tile_m, in_expert(group) + group.rows);
      for (int w = 0; w < route.sources; ++w) {
        const std::size_t segment = ReceiveLayout::at(route.sources, t.expert, w);
        const int src = layout.pull_order[static_cast<std::size_t>(w)];
        const std::int64_t seg_first = layout.dest_first[segment] - expert_first, seg_end = seg_first + route.rows_of(t.expert, src);
        const std::int64_t first = std::max(seg_first, tile_first), end = std::min(seg_end, tile_end);
        if (first >= end) continue;
        runs.push_back({static_cast<int>(unit) * cluster_m + rank, src, t.expert, t.n, expert_first + first,
                        layout.source_first[segment] + (first - seg_first), end - first,
                        s.landing.counter(route.local_source, t.expert, t.n)});
      }
    }
  }
  return s;
}

}  // namespace comet::kernels
