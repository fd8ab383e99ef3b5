#include "fused_dispatch_schedule.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace comet::kernels {

namespace {

void check_route(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m) {
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
}

}  // namespace

FusedDispatchSchedule make_fused_dispatch_schedule(const DispatchRoute& route, int tile_m, int n_tiles, int cluster_m) {
  check_route(route, tile_m, n_tiles, cluster_m);
  const int sources = route.sources, experts = route.experts;
  FusedDispatchSchedule s;
  s.tile_m = tile_m;
  s.n_tiles = n_tiles;
  s.cluster_m = cluster_m;
  for (int w = 0; w < sources; ++w) s.pull_order.push_back((route.local_source + w) % sources);

  // Receive layout and flags: expert by expert, one flag per M tile.
  s.expert_first_row.assign(1, 0);
  s.expert_first_flag.assign(1, 0);
  for (int e = 0; e < experts; ++e) {
    std::int64_t rows = 0;
    for (int src = 0; src < sources; ++src) rows += route.rows_of(e, src);
    s.expert_first_row.push_back(s.expert_first_row.back() + rows);
    s.expert_first_flag.push_back(s.expert_first_flag.back() + static_cast<int>((rows + tile_m - 1) / tile_m));
    for (std::int64_t first = 0; first < rows; first += tile_m) s.flag_rows.push_back(std::min<std::int64_t>(tile_m, rows - first));
  }

  // Where each source's rows go: rows of expert e from the source pulled in wave w start at
  // dest_first[e][w] in the receive buffer (wave order within the expert) and at source_first[e][w]
  // in the source's buffer (its rows for this destination, expert by expert).
  const auto at = [&](int e, int w) { return static_cast<std::size_t>(e) * sources + w; };
  std::vector<std::int64_t> dest_first(static_cast<std::size_t>(experts) * sources), source_first(dest_first.size());
  std::vector<std::int64_t> source_offset(static_cast<std::size_t>(sources), 0);
  for (int e = 0; e < experts; ++e) {
    std::int64_t dest = s.expert_first_row[static_cast<std::size_t>(e)];
    for (int w = 0; w < sources; ++w) {
      const int src = s.pull_order[static_cast<std::size_t>(w)];
      dest_first[at(e, w)] = dest;
      source_first[at(e, w)] = source_offset[static_cast<std::size_t>(src)];
      dest += route.rows_of(e, src);
      source_offset[static_cast<std::size_t>(src)] += route.rows_of(e, src);
    }
  }
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

  // Work units: local pass (M tiles of own rows only), then expert pass; each expert N column by
  // N column, its M tiles in cluster_m groups.
  for (const bool local_pass : {true, false})
    for (int e = 0; e < experts; ++e) {
      const int first_flag = s.expert_first_flag[static_cast<std::size_t>(e)];
      const int m_tiles = s.expert_first_flag[static_cast<std::size_t>(e) + 1] - first_flag;
      for (int n = 0; n < n_tiles; ++n)
        for (int m = 0; m < m_tiles; m += cluster_m) {
          int wave = 0;
          for (int member = m; member < std::min(m + cluster_m, m_tiles); ++member)
            wave = std::max(wave, tile_wave[static_cast<std::size_t>(first_flag + member)]);
          if ((wave == 0) == local_pass) s.tiles.push_back({e, m, n, wave});
        }
    }
  return s;
}

}  // namespace comet::kernels
