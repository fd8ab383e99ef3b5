#include "dynamic_search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

namespace comet {
namespace {

// Prices closer than this (relative) are a tie: the earlier candidate keeps it.
constexpr double TIE = 1e-9;

// Whether a candidate at `a` (index i) is chosen over one at `b` (index j), as a scan in index
// order that switches only to a strictly cheaper candidate would decide.
bool beats(double a, std::size_t i, double b, std::size_t j) {
  return i < j ? a <= b * (1.0 + TIE) : a < b * (1.0 - TIE);
}

ChunkPlan chunks_of(const ChunkCandidate& c, const PartitionInputs& in) {
  ChunkPlan plan;
  plan.parts = split_routing_local_ends(*in.routing, *in.placement, c.fractions);
  plan.chunks = exchanges_of(plan.parts, *in.placement);
  return plan;
}

// `price` of each candidate, as many at once as the machine has cores, each thread taking the
// next candidate as it finishes one (the last first: candidates come in increasing chunk counts,
// and more chunks take longer). Each prices its own Plan; what they share is read only.
std::vector<double> prices(const std::vector<const ChunkCandidate*>& candidates,
                           const std::function<double(const ChunkCandidate&)>& price) {
  std::vector<double> out(candidates.size());
  std::atomic<std::size_t> taken = 0;
  auto work = [&] {
    for (std::size_t k = taken++; k < candidates.size(); k = taken++) {
      const std::size_t i = candidates.size() - 1 - k;
      out[i] = price(*candidates[i]);
    }
  };
  const std::size_t threads = std::min<std::size_t>(candidates.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::future<void>> helpers;
  for (std::size_t t = 1; t < threads; ++t) helpers.push_back(std::async(std::launch::async, work));
  work();
  for (std::future<void>& helper : helpers) helper.get();  // rethrows a helper's exception
  return out;
}

struct PricedCandidate {
  const ChunkCandidate* candidate = nullptr;
  double s = 0.0;  ///< its layer time
};

// The first whole-priced entry a scan in index order ends on.
template <class Entries, class IsPriced>
std::size_t scan_cheapest(const Entries& entries, IsPriced priced) {
  std::optional<std::size_t> chosen;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (priced(i) && (!chosen || beats(entries[i].s, i, entries[*chosen].s, *chosen))) chosen = i;
  return *chosen;
}

// Ranked by rough_layer_time_s (when given and more than two candidates: two are cheaper priced
// exactly), then those within DYNAMIC_RE_PRICE_MARGIN of the rough cheapest priced exactly.
// `incumbent` (priced exactly, earlier than every candidate) is kept unless one beats it.
PricedCandidate cheapest_by_rough(const std::vector<ChunkCandidate>& candidates, const PartitionInputs& in,
                                  const PricedCandidate* incumbent) {
  const auto exact = [&](const ChunkCandidate& c) { return in.layer_time_s(chunks_of(c, in)); };
  std::vector<const ChunkCandidate*> shortlist;
  for (const ChunkCandidate& c : candidates) shortlist.push_back(&c);
  if (in.rough_layer_time_s && shortlist.size() > 2) {
    const std::vector<double> rough = prices(shortlist, [&](const ChunkCandidate& c) { return in.rough_layer_time_s(chunks_of(c, in)); });
    const double best = *std::min_element(rough.begin(), rough.end());
    std::vector<const ChunkCandidate*> close;
    for (std::size_t i = 0; i < shortlist.size(); ++i)
      if (rough[i] <= best * (1.0 + DYNAMIC_RE_PRICE_MARGIN)) close.push_back(shortlist[i]);
    shortlist = std::move(close);
  }
  const std::vector<double> price = prices(shortlist, exact);
  std::vector<PricedCandidate> entries;
  if (incumbent) entries.push_back(*incumbent);
  for (std::size_t i = 0; i < shortlist.size(); ++i) entries.push_back({shortlist[i], price[i]});
  return entries[scan_cheapest(entries, [](std::size_t) { return true; })];
}

// The search by independent parts (dynamic_search.hpp). Candidates are bounded by every part
// found slowest in a whole pricing of this search; the next search (the refinements at the best
// count) starts from the part that bound its incumbent.
class PartSearch {
 public:
  explicit PartSearch(const PartitionInputs& in) : in_(in) {}

  PricedCandidate cheapest(const std::vector<ChunkCandidate>& candidates, const PricedCandidate* incumbent) {
    std::vector<Entry> entries;
    if (incumbent) entries.push_back({incumbent->candidate, incumbent->s, true, critical_part_});
    for (const ChunkCandidate& c : candidates) entries.push_back({&c});
    if (critical_part_ < 0) {  // the first (1 chunk: the cheapest to price) whole
      price_whole(entries.front());
      critical_part_ = entries.front().slowest_part;
    }
    std::vector<int> bounded_by;
    bound(entries, critical_part_, bounded_by);
    for (;;) {
      const std::size_t best = scan_cheapest(entries, [&](std::size_t i) { return entries[i].whole; });
      std::optional<std::size_t> challenger;  // the lowest bound that could still beat `best`
      for (std::size_t i = 0; i < entries.size(); ++i)
        if (!entries[i].whole && beats(entries[i].s, i, entries[best].s, best) &&
            (!challenger || entries[i].s < entries[*challenger].s))
          challenger = i;
      if (!challenger) {
        critical_part_ = entries[best].slowest_part;
        return {entries[best].candidate, entries[best].s};
      }
      price_whole(entries[*challenger]);
      bound(entries, entries[*challenger].slowest_part, bounded_by);
    }
  }

 private:
  // s: the layer time once `whole`; before that a lower bound.
  struct Entry {
    const ChunkCandidate* candidate;
    double s = 0.0;
    bool whole = false;
    int slowest_part = -1;  ///< once whole
  };

  // The layer time: the slowest group's.
  void price_whole(Entry& e) const {
    const std::vector<double> times = in_.group_times_s(chunks_of(*e.candidate, in_), -1);
    const auto slowest = std::max_element(times.begin(), times.end());
    e.s = *slowest;
    e.whole = true;
    e.slowest_part = in_.part_of_group.at(static_cast<std::size_t>(slowest - times.begin()));
  }

  // Raises the open entries' bounds to `part`'s time, unless they are bounded by it already.
  void bound(std::vector<Entry>& entries, int part, std::vector<int>& bounded_by) const {
    if (std::find(bounded_by.begin(), bounded_by.end(), part) != bounded_by.end()) return;
    bounded_by.push_back(part);
    std::vector<const ChunkCandidate*> open;
    for (const Entry& e : entries)
      if (!e.whole) open.push_back(e.candidate);
    const RoutingMatrix rows = routing_of_part(*in_.routing, in_.placement->expert_parallel(), in_.part_of_group, part);
    const std::vector<double> times = prices(open, [&](const ChunkCandidate& c) { return part_time(c, part, rows); });
    for (std::size_t i = 0, next = 0; i < entries.size(); ++i)
      if (!entries[i].whole) entries[i].s = std::max(entries[i].s, times[next++]);
  }

  // A lower bound of the layer time: `part`'s slowest group in a Plan of that part alone (less a
  // tie's width: alone, its last bits may round differently). Its chunks are cut from its rows
  // only (`rows`: routing_of_part).
  double part_time(const ChunkCandidate& c, int part, const RoutingMatrix& rows) const {
    PartitionInputs part_in = in_;
    part_in.routing = &rows;
    const std::vector<double> times = in_.group_times_s(chunks_of(c, part_in), part);
    double slowest = 0.0;
    for (std::size_t g = 0; g < times.size(); ++g)
      if (in_.part_of_group.at(g) == part) slowest = std::max(slowest, times[g]);
    return slowest * (1.0 - TIE);
  }

  const PartitionInputs& in_;
  int critical_part_ = -1;
};

int num_parts(const std::vector<int>& part_of_group) {
  return part_of_group.empty() ? 0 : *std::max_element(part_of_group.begin(), part_of_group.end()) + 1;
}

}  // namespace

RoutingMatrix routing_of_part(const RoutingMatrix& routing, int expert_parallel, const std::vector<int>& part_of_group,
                              int part) {
  RoutingMatrix kept(routing.num_gpus(), routing.num_experts());
  for (int src = 0; src < routing.num_gpus(); ++src)
    if (part_of_group.at(static_cast<std::size_t>(src / expert_parallel)) == part)
      std::copy(routing.row(src), routing.row(src) + routing.num_experts(), kept.row(src));
  return kept;
}

// Equal chunks at every count first, then the other shapes at the best count: the shape refines
// a count, it rarely beats a better count (10 Plans priced instead of 19).
ChunkPlan dynamic_chunks(const PartitionInputs& in) {
  const bool by_parts = in.group_times_s && num_parts(in.part_of_group) >= 2;
  if (!by_parts && !in.layer_time_s)
    throw std::invalid_argument("dynamic needs a layer-time pricer (PartitionInputs::layer_time_s or group_times_s)");
  std::vector<ChunkCandidate> equal, shaped;
  for (const ChunkCandidate& c : dynamic_candidates()) (c.shape == 0 ? equal : shaped).push_back(c);
  PartSearch parts(in);
  const auto cheapest = [&](const std::vector<ChunkCandidate>& candidates, const PricedCandidate* incumbent) {
    return by_parts ? parts.cheapest(candidates, incumbent) : cheapest_by_rough(candidates, in, incumbent);
  };
  PricedCandidate best = cheapest(equal, nullptr);
  std::vector<ChunkCandidate> refinements;
  for (const ChunkCandidate& c : shaped)
    if (c.fractions.size() == best.candidate->fractions.size()) refinements.push_back(c);
  if (!refinements.empty()) best = cheapest(refinements, &best);
  ChunkPlan plan = chunks_of(*best.candidate, in);
  plan.predicted_makespan_s = best.s;
  plan.description = fmt::format("{} (predicted layer {:.3f} ms)", best.candidate->name, best.s * 1e3);
  return plan;
}

}  // namespace comet
