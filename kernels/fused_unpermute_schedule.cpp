#include "fused_unpermute_schedule.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <tuple>

namespace comet::kernels {

namespace {

[[noreturn]] void reject(const std::string& what) { throw std::invalid_argument("fused unpermute: " + what); }

// The first row of each (sender, expert) block of the combine buffer; a row's block by search.
struct ReturnLayout {
  std::vector<std::int64_t> block_first;  // senders x experts, by sender then expert
  std::vector<std::int64_t> block_end;

  explicit ReturnLayout(const CombineReturn& back) {
    std::int64_t next = 0;
    for (int s = 0; s < back.senders; ++s) {
      std::int64_t row = back.first_row.empty() ? next : back.first_row[static_cast<std::size_t>(s)];
      for (int e = 0; e < back.experts; ++e) {
        block_first.push_back(row);
        row += back.sent_to(s, e);
        block_end.push_back(row);
      }
      next = row;
    }
  }
  // The (sender x experts + expert) block holding `row`, or -1: each sender's blocks are contiguous.
  int block_of(std::int64_t row, int senders, int experts) const {
    for (int s = 0; s < senders && experts > 0; ++s) {
      const auto first = static_cast<std::ptrdiff_t>(s) * experts, last = first + experts - 1;
      if (row < block_first[static_cast<std::size_t>(first)] || row >= block_end[static_cast<std::size_t>(last)]) continue;
      return static_cast<int>(std::upper_bound(block_end.begin() + first, block_end.begin() + last + 1, row) - block_end.begin());
    }
    return -1;
  }
  // Whether two senders' rows overlap.
  bool senders_overlap(int senders, int experts) const {
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;
    for (int s = 0; s < senders && experts > 0; ++s)
      spans.emplace_back(block_first[static_cast<std::size_t>(s) * experts], block_end[static_cast<std::size_t>(s + 1) * experts - 1]);
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i)
      if (spans[i].first < spans[i - 1].second) return true;
    return false;
  }
};

void check(const CombineReturn& back, const std::vector<std::int32_t>& positions, int top_k, int n_tiles, int tokens_per_unit) {
  if (back.senders <= 0 || back.experts < 0) reject("need at least one sender and no negative expert count");
  if (back.sent.size() != static_cast<std::size_t>(back.senders) * back.experts)
    reject("sent has " + std::to_string(back.sent.size()) + " entries, expected senders x experts = " +
           std::to_string(static_cast<std::size_t>(back.senders) * back.experts));
  for (std::int64_t r : back.sent)
    if (r < 0) reject("negative copy count " + std::to_string(r));
  if (!back.first_row.empty() && back.first_row.size() != static_cast<std::size_t>(back.senders))
    reject("first_row has " + std::to_string(back.first_row.size()) + " entries, expected one per sender (" + std::to_string(back.senders) + ")");
  for (std::int64_t r : back.first_row)
    if (r < 0) reject("negative first row " + std::to_string(r));
  if (top_k <= 0 || n_tiles <= 0 || tokens_per_unit <= 0) reject("top_k, N tiles and tokens per unit must be positive");
  if (positions.size() % static_cast<std::size_t>(top_k) != 0)
    reject(std::to_string(positions.size()) + " positions are not whole tokens of top_k " + std::to_string(top_k));
}

}  // namespace

UnpermuteSchedule make_unpermute_schedule(const CombineReturn& back, const std::vector<std::int32_t>& positions, int top_k, int n_tiles,
                                          int tokens_per_unit) {
  check(back, positions, top_k, n_tiles, tokens_per_unit);
  const ReturnLayout layout(back);
  if (layout.senders_overlap(back.senders, back.experts)) reject("two senders' rows overlap in the combine buffer (first_row)");
  UnpermuteSchedule s;
  s.landing = {back.senders, back.experts, n_tiles};
  s.top_k = top_k;
  s.expected.assign(static_cast<std::size_t>(s.landing.counters()), 0);
  for (int b = 0; b < back.senders * back.experts; ++b)
    for (int n = 0; n < n_tiles; ++n) s.expected[static_cast<std::size_t>(b) * n_tiles + n] = back.sent[static_cast<std::size_t>(b)];

  // Each token's (sender, expert) blocks, and its key: the latest expert index among them.
  const auto tokens = static_cast<std::int64_t>(positions.size()) / top_k;
  std::vector<std::vector<int>> blocks(static_cast<std::size_t>(tokens));
  std::vector<std::pair<int, std::int32_t>> order;  // (latest expert, token) of tokens with a copy
  for (std::int64_t t = 0; t < tokens; ++t) {
    int latest = -1;
    for (int j = 0; j < top_k; ++j) {
      const std::int32_t p = positions[static_cast<std::size_t>(t * top_k + j)];
      if (p < 0) continue;
      const int b = layout.block_of(p, back.senders, back.experts);
      if (b < 0) reject("token " + std::to_string(t) + " copy " + std::to_string(j) + ": row " + std::to_string(p) + " is in no sender's rows");
      blocks[static_cast<std::size_t>(t)].push_back(b);
      latest = std::max(latest, b % back.experts);
    }
    if (latest >= 0) order.emplace_back(latest, static_cast<std::int32_t>(t));
  }
  std::sort(order.begin(), order.end());
  // Runs of tokens of one key, then a unit per run and N tile, by (key, n, run).
  std::vector<std::tuple<int, int, int>> keyed;  // (key x n_tiles + n, run, n)
  std::vector<std::pair<int, int>> runs;          // (first token, tokens) in s.tokens
  for (std::size_t i = 0; i < order.size();) {
    const int key = order[i].first;
    const auto first = static_cast<int>(s.tokens.size());
    for (; i < order.size() && order[i].first == key && static_cast<int>(s.tokens.size()) - first < tokens_per_unit; ++i)
      s.tokens.push_back(order[i].second);
    for (int n = 0; n < n_tiles; ++n) keyed.emplace_back(key * n_tiles + n, static_cast<int>(runs.size()), n);
    runs.emplace_back(first, static_cast<int>(s.tokens.size()) - first);
  }
  std::sort(keyed.begin(), keyed.end());
  for (const auto& [key, run, n] : keyed) {
    const auto [first, count] = runs[static_cast<std::size_t>(run)];
    std::vector<int> run_blocks;
    for (int i = first; i < first + count; ++i) {
      const std::vector<int>& b = blocks[static_cast<std::size_t>(s.tokens[static_cast<std::size_t>(i)])];
      run_blocks.insert(run_blocks.end(), b.begin(), b.end());
    }
    std::sort(run_blocks.begin(), run_blocks.end());
    run_blocks.erase(std::unique(run_blocks.begin(), run_blocks.end()), run_blocks.end());
    const auto first_wait = static_cast<int>(s.waits.size());
    for (int b : run_blocks) s.waits.push_back({b * n_tiles + n, back.sent[static_cast<std::size_t>(b)]});
    s.units.push_back({n, first, count, first_wait, static_cast<int>(run_blocks.size())});
  }
  return s;
}

}  // namespace comet::kernels
