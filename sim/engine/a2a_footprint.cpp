#include "a2a_footprint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "child_pool.hpp"
#include "flow_coalescing.hpp"
#include "fluid_network.hpp"
#include "input_error.hpp"
#include "max_min_alone.hpp"
#include "metrics.hpp"

namespace comet {
namespace {

// The transfers' indices by increasing bytes, ties in index order (as std::stable_sort): an LSD
// radix sort of the doubles' bit patterns (positive doubles order as their bits), 11 bits a
// pass. One read of the keys counts every pass's digits at once, and a pass where every key has
// the same digit is skipped: sizes are whole tokens, so their low mantissa bits are mostly alike.
// Footprints sort ~64K transfers each, thousands of times when `dynamic` prices its candidates.
std::vector<std::int32_t> indices_by_bytes(const TransferMatrix& matrix) {
  const std::size_t n = matrix.transfers.size();
  constexpr int BITS = 11, PASSES = (64 + BITS - 1) / BITS;
  constexpr std::size_t BUCKETS = std::size_t{1} << BITS;
  std::vector<std::uint64_t> keys(n);
  std::vector<std::uint32_t> count(BUCKETS * PASSES, 0);
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint64_t key = std::bit_cast<std::uint64_t>(matrix.transfers[t].bytes);
    keys[t] = key;
    for (int pass = 0; pass < PASSES; ++pass) ++count[pass * BUCKETS + ((key >> (pass * BITS)) & (BUCKETS - 1))];
  }
  std::vector<std::int32_t> order(n), next(n);
  std::iota(order.begin(), order.end(), 0);
  for (int pass = 0; pass < PASSES && n > 0; ++pass) {
    std::uint32_t* digits = count.data() + pass * BUCKETS;
    const int shift = pass * BITS;
    if (digits[(keys[0] >> shift) & (BUCKETS - 1)] == n) continue;  // one digit for all: order unchanged
    std::uint32_t sum = 0;
    for (std::size_t d = 0; d < BUCKETS; ++d) sum += std::exchange(digits[d], sum);
    for (std::int32_t t : order) next[digits[(keys[t] >> shift) & (BUCKETS - 1)]++] = t;
    order.swap(next);
  }
  return order;
}

// Whether two matrices move bytes between the same pairs, in the same order (their transfers
// are sorted by pair): the chunks of one exchange mostly do.
bool same_pairs(const TransferMatrix& a, const TransferMatrix& b) {
  return std::equal(a.transfers.begin(), a.transfers.end(), b.transfers.begin(), b.transfers.end(),
                    [](const Transfer& x, const Transfer& y) { return x.src == y.src && x.dst == y.dst; });
}

// A transfer's links in the op's direction (a reversed op moves each transfer from dst to src),
// less their twins (GroupRoutes::distinct_links: twins carry what their representative carries).
[[gnu::always_inline]] inline std::span<const int> links_of(const GroupRoutes& routes, const Transfer& t, bool reversed) {
  return reversed ? routes.distinct_links(t.dst, t.src) : routes.distinct_links(t.src, t.dst);
}

}  // namespace

bool pacing_applies(const Topology& topology) {
  if (const char* value = std::getenv("COMET_A2A_PACING"); value && std::string(value) != "max-min") {
    if (std::string(value) == "none") return false;
    throw InputError({"<environment>", 0, 0}, "COMET_A2A_PACING", value, "max-min or none");
  }
  return topology.oversubscription() > 1.0 + 1e-9 && topology.single_path();
}

A2aFootprints::A2aFootprints(const Plan& plan, const Topology& topology, const CostModel* model,
                             const PacingProfiles* shared, bool per_gpu_parts)
    : plan_(plan), topology_(topology), model_(model), shared_(shared), per_gpu_parts_(per_gpu_parts) {
  if (model_ && pacing_applies(topology_))
    coalescer_ = std::make_unique<FlowCoalescer>(configured_coalescer(topology_, *model_, FlowCoalescer::PACING_PAIR_FLOWS));
}

A2aFootprints::~A2aFootprints() = default;

const A2aFootprint& A2aFootprints::of(const Op& op) {
  if (!computed_all_) compute_all();
  const auto key = std::make_pair(op.matrix, op.reversed);
  if (auto found = cache_.find(key); found != cache_.end()) return found->second;
  Worker worker;
  return cache_.emplace(key, std::move(compute({&op}, worker).front())).first->second;
}

void A2aFootprints::compute_all() {
  computed_all_ = true;
  if (model_) {
    effective_Bps_.resize(static_cast<std::size_t>(topology_.num_directed_links()));
    for (int id = 0; id < topology_.num_directed_links(); ++id) effective_Bps_[id] = model_->effective_Bps(topology_.link(id));
  }
  // One op per distinct (matrix, direction), in group then matrix order.
  std::vector<const Op*> ops;
  std::set<std::pair<std::int32_t, bool>> seen;
  for (const Op& o : plan_.ops())
    if (o.kind == OpKind::ALL_TO_ALL && seen.insert({o.matrix, o.reversed}).second) ops.push_back(&o);
  std::stable_sort(ops.begin(), ops.end(),
                   [](const Op* a, const Op* b) { return std::tie(a->group, a->matrix) < std::tie(b->group, b->matrix); });
  // Contiguous runs of groups per thread: a thread's route tables serve its groups' chunks.
  std::vector<std::size_t> group_starts;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (i == 0 || ops[i]->group != ops[i - 1]->group) group_starts.push_back(i);
  const int threads = std::max(1, std::min(available_cores(), static_cast<int>(group_starts.size())));
  std::vector<std::vector<A2aFootprint>> results(static_cast<std::size_t>(threads));
  std::vector<std::size_t> bounds;  // thread t: ops[bounds[t], bounds[t + 1])
  for (int t = 0; t <= threads; ++t)
    bounds.push_back(t == threads ? ops.size() : group_starts[group_starts.size() * static_cast<std::size_t>(t) / threads]);
  std::vector<Worker> workers(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) results[t].resize(bounds[t + 1] - bounds[t]);
  auto work = [&](int t) {
    std::vector<std::size_t> batch;  // indices into ops
    auto run_batch = [&] {
      std::vector<const Op*> batch_ops;
      for (std::size_t i : batch) batch_ops.push_back(ops[i]);
      std::vector<A2aFootprint> footprints = compute(batch_ops, workers[t]);
      for (std::size_t b = 0; b < batch.size(); ++b) results[t][batch[b] - bounds[t]] = std::move(footprints[b]);
      batch.clear();
    };
    for (std::size_t first = bounds[t]; first < bounds[t + 1];) {  // one group at a time
      std::size_t last = first;
      while (last < bounds[t + 1] && ops[last]->group == ops[first]->group) ++last;
      workers[t].orders.clear();  // sorted transfers are kept for one group's matrices
      for (const bool reversed : {false, true}) {
        for (std::size_t i = first; i < last; ++i) {
          if (ops[i]->reversed != reversed) continue;
          if (!batch.empty() && (batch.size() == MAX_BATCH || !same_pairs(plan_.matrices()[ops[batch.front()]->matrix],
                                                                          plan_.matrices()[ops[i]->matrix])))
            run_batch();
          batch.push_back(i);
        }
        if (!batch.empty()) run_batch();
      }
      first = last;
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t) helpers.emplace_back(work, t);
  work(0);
  for (std::thread& helper : helpers) helper.join();
  for (int t = 0; t < threads; ++t)
    for (std::size_t i = bounds[t]; i < bounds[t + 1]; ++i)
      cache_.emplace(std::make_pair(ops[i]->matrix, ops[i]->reversed), std::move(results[t][i - bounds[t]]));
  // Each exchange belongs to one group, hence to one worker.
  for (Worker& worker : workers) pacing_.by_exchange.merge(worker.pacing.by_exchange);
}

const GroupRoutes& A2aFootprints::routes_of(const Op& op, const TransferMatrix& matrix) const {
  const GroupRoutes& routes = topology_.group_routes(plan_.header().expert_parallel, op.group);
  for (const Transfer& t : matrix.transfers)
    if (!routes.contains(t.src) || !routes.contains(t.dst))
      throw std::logic_error(fmt::format("all-to-all op {} of group {} moves bytes from GPU {} to GPU {}, outside the group",
                                         op.id, op.group, t.src, t.dst));
  return routes;
}

std::vector<A2aFootprint> A2aFootprints::compute(const std::vector<const Op*>& batch, Worker& worker) const {
  // The batch's matrices move bytes between the same pairs in the same order (same_pairs), in one
  // direction: each transfer's route is looked up once and its links get every matrix's bytes.
  // Each matrix's per-link sums add the same terms in the same order as alone: the same doubles.
  const std::size_t width = batch.size(), links = static_cast<std::size_t>(topology_.num_directed_links());
  const Op& op = *batch.front();
  std::vector<const TransferMatrix*> matrices;
  for (const Op* o : batch) matrices.push_back(&plan_.matrices()[o->matrix]);
  const std::vector<Transfer>& pairs = matrices.front()->transfers;
  std::vector<double>& bytes_on_link = worker.scratch;  // [link * width + matrix]
  std::vector<int>& messages = worker.messages;
  bytes_on_link.assign(links * width, 0.0);
  messages.assign(static_cast<std::size_t>(topology_.num_gpus()), 0);
  const GroupRoutes& routes = routes_of(op, *matrices.front());
  // Per-GPU parts (fill_parts) read the routes again in byte order: kept from this walk.
  const bool parts = model_ && per_gpu_parts_ && !coalescer_;
  if (parts) {
    worker.route.resize(pairs.size());
    worker.transfers_on_link.assign(links, 0.0);
  }
  double latency_s = 0.0;
  // A reversed op reads the group's routes column-wise (dst -> src in src order): prefetched.
  constexpr std::size_t ROUTE_AHEAD = 8;
  for (std::size_t t = 0; t < pairs.size(); ++t) {
    if (op.reversed && t + ROUTE_AHEAD < pairs.size())
      __builtin_prefetch(links_of(routes, pairs[t + ROUTE_AHEAD], true).data());
    const Transfer& transfer = pairs[t];
    const std::span<const int> route = links_of(routes, transfer, op.reversed);
    for (int link : route)
      for (std::size_t m = 0; m < width; ++m)
        bytes_on_link[static_cast<std::size_t>(link) * width + m] += matrices[m]->transfers[t].bytes;
    if (parts) {
      worker.route[t] = route;
      for (int link : route) worker.transfers_on_link[static_cast<std::size_t>(link)] += 1.0;
    }
    latency_s = std::max(latency_s, op.reversed ? routes.latency_s(transfer.dst, transfer.src)
                                                : routes.latency_s(transfer.src, transfer.dst));
    // Each GPU posts one message per transfer it sends or receives (a matrix has one entry per pair).
    ++messages[static_cast<std::size_t>(transfer.src)];
    ++messages[static_cast<std::size_t>(transfer.dst)];
  }
  for (const auto& [twin, rep] : routes.twins())  // same transfers, same order
    for (std::size_t m = 0; m < width; ++m)
      bytes_on_link[static_cast<std::size_t>(twin) * width + m] = bytes_on_link[static_cast<std::size_t>(rep) * width + m];
  A2aFootprint shared;  // what the batch's footprints have in common
  shared.latency_s = latency_s;
  for (int gpu = 0; gpu < topology_.num_gpus(); ++gpu) {
    if (messages[static_cast<std::size_t>(gpu)] == 0) continue;
    shared.gpus.push_back(gpu);
    shared.max_messages = std::max(shared.max_messages, messages[static_cast<std::size_t>(gpu)]);
  }
  if (parts && worker.parts_routes != &routes) {
    // A representative's time on its links is its bytes over the slowest of its twins' rates.
    worker.parts_Bps = effective_Bps_;
    for (const auto& [twin, rep] : routes.twins())
      worker.parts_Bps[static_cast<std::size_t>(rep)] = std::min(worker.parts_Bps[static_cast<std::size_t>(rep)], effective_Bps_[twin]);
    worker.parts_routes = &routes;
  }
  std::vector<A2aFootprint> footprints(width, shared);
  for (std::size_t m = 0; m < width; ++m) {
    A2aFootprint& footprint = footprints[m];
    for (std::size_t id = 0; id < links; ++id)
      if (const double bytes = bytes_on_link[id * width + m]; bytes > 0.0)
        footprint.loads.push_back({static_cast<std::int32_t>(id), bytes, bytes});
    const Op& member = *batch[m];
    if (coalescer_) {
      // Chunks of one exchange (same group, layer, step, stage and direction) mostly move the same
      // shape of traffic, and max-min times scale with bytes: a chunk whose per-link times (bytes
      // over bandwidth) point the way of an exchange's earlier profile (cosine >= SAME_SHAPE) shares
      // it; others (a local-first chunk, a small ragged one) are simulated. Shared profiles (another
      // Plan's, of the same routing) count too.
      const PacingProfiles::Exchange exchange{member.group, member.tags.layer, member.tags.step, member.tags.stage,
                                              member.reversed};
      const PacingProfile* profile = alike(worker.pacing, exchange, footprint.loads);
      if (!profile) {
        std::vector<PacingProfile>& profiles = worker.pacing.by_exchange[exchange];
        profiles.push_back(pacing_alone(*matrices[m], member.reversed, worker, footprint));
        profile = &profiles.back();
      }
      apply(*profile, footprint);
    } else if (model_ && !per_gpu_parts_) {
      for (std::int32_t gpu : footprint.gpus) footprint.parts.push_back({gpu, 1.0});
    } else if (model_) {
      auto [sorted, inserted] = worker.orders.try_emplace(member.matrix);
      if (inserted) sorted->second = indices_by_bytes(*matrices[m]);
      fill_parts(*matrices[m], sorted->second, worker, footprint);
    }
  }
  return footprints;
}

PacingProfile A2aFootprints::pacing_alone(const TransferMatrix& matrix, bool reversed, Worker& worker,
                                          const A2aFootprint& footprint) const {
  const CoalescedOp flows = coalescer_->coalesce(matrix, reversed);
  const MaxMinAlone alone = max_min_alone(flows, *coalescer_, FluidNetwork::DEFAULT_WINDOW, worker.flow_routes);
  PacingProfile pacing;
  pacing.loads = footprint.loads;
  const double bound = in_step_s(footprint);
  pacing.stretch = bound > 0.0 ? std::max(1.0, alone.duration_s / bound) : 1.0;
  for (std::size_t i = 0; i < flows.gpus.size(); ++i)  // flows.gpus is sorted
    pacing.parts.push_back(
        {flows.gpus[i], alone.duration_s > 0.0 ? std::min(1.0, alone.part_end_s[i] / alone.duration_s) : 1.0});
  return pacing;
}

double A2aFootprints::shape_similarity(const std::vector<LinkLoad>& a, const std::vector<LinkLoad>& b) const {
  // Both sorted by link: one merge.
  double dot = 0.0, norm_a = 0.0, norm_b = 0.0;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    const bool take_a = j == b.size() || (i < a.size() && a[i].link <= b[j].link);
    const bool take_b = i == a.size() || (j < b.size() && b[j].link <= a[i].link);
    const double x = take_a ? a[i].bytes / effective_Bps_[a[i].link] : 0.0;
    const double y = take_b ? b[j].bytes / effective_Bps_[b[j].link] : 0.0;
    dot += x * y;
    norm_a += x * x;
    norm_b += y * y;
    i += take_a ? 1 : 0;
    j += take_b ? 1 : 0;
  }
  return norm_a > 0.0 && norm_b > 0.0 ? dot / std::sqrt(norm_a * norm_b) : (norm_a == norm_b ? 1.0 : 0.0);
}

double A2aFootprints::in_step_s(const A2aFootprint& footprint) const {
  double bound = 0.0;
  for (const LinkLoad& load : footprint.loads) bound = std::max(bound, load.bytes / effective_Bps_[load.link]);
  return bound;
}

const PacingProfile* A2aFootprints::alike(const PacingProfiles& own, const PacingProfiles::Exchange& exchange,
                                          const std::vector<LinkLoad>& loads) const {
  for (const PacingProfiles* profiles : {&own, shared_}) {
    if (!profiles) continue;
    const auto found = profiles->by_exchange.find(exchange);
    if (found == profiles->by_exchange.end()) continue;
    for (const PacingProfile& candidate : found->second)
      if (shape_similarity(candidate.loads, loads) >= SAME_SHAPE) return &candidate;
  }
  return nullptr;
}

void A2aFootprints::apply(const PacingProfile& pacing, A2aFootprint& footprint) const {
  const double bound = in_step_s(footprint);
  footprint.stretch = pacing.stretch;
  for (LinkLoad& load : footprint.loads)
    if (load.bytes / effective_Bps_[load.link] >= bound * (1.0 - 1e-9)) load.demand_bytes = load.bytes * pacing.stretch;
  // Parts by GPU from the profile (a GPU it lacks, possible for a sibling chunk, ends with the op).
  footprint.parts.clear();
  for (std::int32_t gpu : footprint.gpus) {
    const auto it = std::lower_bound(pacing.parts.begin(), pacing.parts.end(), gpu,
                                     [](const PartThreshold& part, std::int32_t g) { return part.gpu < g; });
    footprint.parts.push_back({gpu, it != pacing.parts.end() && it->gpu == gpu ? it->fraction : 1.0});
  }
  std::sort(footprint.parts.begin(), footprint.parts.end(), [](const PartThreshold& a, const PartThreshold& b) {
    return a.fraction != b.fraction ? a.fraction < b.fraction : a.gpu < b.gpu;
  });
}

void A2aFootprints::fill_parts(const TransferMatrix& matrix, const std::vector<std::int32_t>& order, Worker& worker,
                               A2aFootprint& footprint) const {
  // (A transfer's two GPUs are its source and destination in either direction: the same parts.)
  // On a link whose n transfers sorted by bytes are b_1 <= ... <= b_n, the k-th is through after
  // (b_1 + ... + b_(k-1) + b_k x (n - k + 1)) / bandwidth (ties in any order give the same
  // value). Visiting the transfers once in increasing bytes, each link keeps its running sum and
  // how many of its transfers are left: one sort of the transfers, no per-link lists.
  const int links = topology_.num_directed_links();
  struct LinkSweep {
    double smaller = 0.0;  // bytes of the link's transfers visited so far
    double left = 0.0;     // its transfers not yet visited
  };
  std::vector<LinkSweep> sweep(static_cast<std::size_t>(links));
  for (std::size_t id = 0; id < sweep.size(); ++id) sweep[id].left = worker.transfers_on_link[id];
  const std::vector<std::span<const int>>& route = worker.route;  // per transfer, read in byte order
  std::vector<double> part_end(static_cast<std::size_t>(topology_.num_gpus()), 0.0);
  double op_end = 0.0;
  // Transfers are visited in byte order, so the transfers, their routes and the links' sweeps
  // are read at random: prefetched a few transfers ahead, in the order each address becomes
  // known (the transfer and its route's place, then its links, then those links' sweeps).
  constexpr std::size_t TRANSFER_AHEAD = 16, LINKS_AHEAD = 8, SWEEP_AHEAD = 4;
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (k + TRANSFER_AHEAD < order.size()) {
      __builtin_prefetch(&matrix.transfers[order[k + TRANSFER_AHEAD]]);
      __builtin_prefetch(&route[order[k + TRANSFER_AHEAD]]);
    }
    if (k + LINKS_AHEAD < order.size()) __builtin_prefetch(route[order[k + LINKS_AHEAD]].data());
    if (k + SWEEP_AHEAD < order.size())
      for (int id : route[order[k + SWEEP_AHEAD]]) __builtin_prefetch(&sweep[id], 1);
    const Transfer& tr = matrix.transfers[order[k]];
    double end = 0.0;
    for (int id : route[order[k]]) {
      LinkSweep& link = sweep[id];
      end = std::max(end, (link.smaller + tr.bytes * link.left) / worker.parts_Bps[static_cast<std::size_t>(id)]);
      link.smaller += tr.bytes;
      link.left -= 1.0;
    }
    part_end[tr.src] = std::max(part_end[tr.src], end);
    part_end[tr.dst] = std::max(part_end[tr.dst], end);
    op_end = std::max(op_end, end);
  }
  for (std::int32_t gpu : footprint.gpus)
    footprint.parts.push_back({gpu, op_end > 0.0 ? std::min(1.0, part_end[gpu] / op_end) : 1.0});
  std::sort(footprint.parts.begin(), footprint.parts.end(), [](const PartThreshold& a, const PartThreshold& b) {
    return a.fraction != b.fraction ? a.fraction < b.fraction : a.gpu < b.gpu;
  });
}

double startup_s(const A2aFootprint& footprint, const CostModel& model) {
  return footprint.latency_s + model.a2a_per_message_s * footprint.max_messages;
}

double alone_s(const A2aFootprint& footprint, const Topology& topology, const CostModel& model) {
  double seconds = 0.0;
  for (const LinkLoad& load : footprint.loads)
    seconds = std::max(seconds, load.demand_bytes / model.effective_Bps(topology.link(load.link)));
  return seconds;
}

void record_link_usage(const Plan& plan, Timeline& timeline, A2aFootprints& footprints, const Topology& topology,
                       const CostModel& model) {
  const int links = topology.num_directed_links();
  std::vector<std::vector<std::pair<double, double>>> spans(links);
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    const TimelineOp& t = timeline.ops[op.id];
    for (const LinkLoad& load : footprints.of(op).loads) spans[load.link].emplace_back(t.start_s, t.end_s);
  }
  timeline.link_busy_s.assign(links, 0.0);
  timeline.link_effective_Bps.assign(links, 0.0);
  for (int id = 0; id < links; ++id) {
    timeline.link_busy_s[id] = union_length(std::move(spans[id]));
    timeline.link_effective_Bps[id] = model.effective_Bps(topology.link(id));
  }
}

std::vector<int> independent_parts(
    const Plan& plan, int num_resources,
    const std::function<void(const Op& op, const std::function<void(int resource)>& visit)>& resources_of,
    int& num_parts) {
  const int groups = plan.header().num_gpus / plan.header().expert_parallel;
  std::vector<int> parent(groups);
  std::iota(parent.begin(), parent.end(), 0);
  auto root = [&](int g) {
    while (parent[g] != g) g = parent[g] = parent[parent[g]];  // path halving
    return g;
  };
  std::vector<int> owner(static_cast<std::size_t>(num_resources), -1);
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    resources_of(op, [&](int resource) {
      if (owner[resource] < 0) owner[resource] = op.group;
      else parent[root(op.group)] = root(owner[resource]);
    });
  }
  std::vector<int> part_of_root(groups, -1), part(groups);
  num_parts = 0;
  for (int g = 0; g < groups; ++g) {
    int& id = part_of_root[root(g)];
    if (id < 0) id = num_parts++;
    part[g] = id;
  }
  return part;
}

std::vector<int> independent_parts(const Plan& plan, const Topology& topology, A2aFootprints& footprints,
                                   int& num_parts) {
  return independent_parts(
      plan, topology.num_directed_links(),
      [&](const Op& op, const std::function<void(int)>& visit) {
        for (const LinkLoad& load : footprints.of(op).loads) visit(load.link);
      },
      num_parts);
}

}  // namespace comet
