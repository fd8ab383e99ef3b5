// The `phase` engine: SimGrid's ptask_L07 model, one parallel task per all-to-all op.
//
// Platform: one SimGrid host per directed topology link an all-to-all uses (speed = the link's
// effective bandwidth), plus a pair of hosts joined by a latency link for each distinct path
// latency. An all-to-all op is a latency hop followed by one parallel task whose amount on each
// link host is the bytes its transfers put on that link, routed over the Topology's Boost.Graph
// paths (ECMP included). So a task alone takes max over links of bytes / bandwidth, and
// concurrent tasks share every link by max-min. Computations: see simgrid_scheduler.hpp. A link
// host at a GPU's edge has two power states, its effective bandwidth and what it carries while
// the GPU slows its own transfers (transfer_slowdown.hpp); the scheduler switches them as GEMMs
// and communication begin and end, and L07 re-shares the running tasks from then on.
//
// Pacing (oversubscribed trees, a2a_footprint.hpp): a paced op's amount on its most loaded
// link hosts is its demand bytes, stretch x its bytes there.
//
// Per-GPU completion, approximated: a task's transfers progress in step and L07 reports only the
// task's end, so every GPU's part of an all-to-all ends with the op (its most loaded link), and a
// computation waiting for it starts then. The analytical and flow engines end each GPU's part on
// its own; docs/engines.md ("Per-GPU completion") measures what the approximation costs.
//
// Why link hosts rather than SimGrid routes between GPU hosts: a ptask's bytes matrix is dense
// (GPUs^2 per task) and each route's links are inserted by a linear search; a GPU-level task took
// 12.8 s to create at 1024 GPUs (shared/notes/simgrid-at-scale.md). Per-link amounts computed
// from the same routes give L07 the same per-resource loads in O(links) per task.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <unordered_map>
#include <simgrid/s4u.hpp>

#include <functional>

#include "a2a_footprint.hpp"
#include "op_costs.hpp"
#include "phase_transfers.hpp"
#include "simgrid_child.hpp"
#include "simgrid_engines.hpp"
#include "simgrid_scheduler.hpp"
#include "transfer_slowdown.hpp"

namespace sg4 = simgrid::s4u;

namespace comet {
namespace {

constexpr double PHASE_TIMEOUT_S = 3600.0;

class PhaseEngine : public Executor {
 public:
  std::string name() const override { return "phase"; }
  Timeline run(const Plan& plan, const Topology& topology, const CostModel& model) override;
};

// What the child needs, computed before forking: one independent part of the plan.
struct PhaseInputs {
  std::vector<bool> included;                   // ops of this part
  std::vector<double> duration_s;               // compute ops
  std::vector<const A2aFootprint*> footprint;   // all-to-all ops
  const std::vector<std::vector<EdgeLink>>* edges = nullptr;  // per GPU (transfer_slowdown.hpp)
  std::vector<double> alone_s;                  // all-to-all ops: seconds alone (LinkAsk)
  std::vector<int> used_links;                  // directed links any all-to-all loads
  std::vector<double> latencies;                // distinct start-up delays (startup_s)
  bool every_link = false;                      // COMET_PHASE_LINKS=all (phase_transfers.hpp)
};

// Which link hosts run in their slowed power state. A GPU slowing its transfers wants its edge
// links slowed; but every power-state change makes L07 re-solve the whole system (at 1024 GPUs the
// GEMMs starting and ending made the default scenario take 55 s instead of 3), so a link host is
// switched only while the change can bind: while the running tasks could ask more of it than its
// slowed speed (LinkAsk: a task never moves faster than alone); below it, switching would change
// no rate.
class LinkHostSlowdown {
 public:
  LinkHostSlowdown(std::vector<sg4::Host*> hosts, std::vector<double> slowed_Bps, const LinkAsk& ask)
      : hosts_(std::move(hosts)), slowed_Bps_(std::move(slowed_Bps)), ask_(ask), slowed_by_(hosts_.size(), 0),
        applied_(hosts_.size(), 0) {}

  void gpu_changed(const std::vector<EdgeLink>& edges, bool slowed) {
    for (const EdgeLink& edge : edges) {
      slowed_by_[edge.link] += slowed ? 1 : -1;
      sync(edge.link);
    }
  }
  /// The ask of `footprint`'s links changed (a task of it started or ended).
  void asked(const A2aFootprint& footprint) {
    for (const LinkLoad& load : footprint.loads)
      if (slowed_Bps_[load.link] > 0.0) sync(load.link);  // only links at a GPU's edge are ever slowed
  }

 private:
  void sync(int link) {
    const char want = slowed_by_[link] > 0 && ask_.Bps(link) >= slowed_Bps_[link] * (1.0 - 1e-9) ? 1 : 0;
    if (want == applied_[link] || !hosts_[link]) return;
    applied_[link] = want;
    hosts_[link]->set_pstate(want);
  }

  std::vector<sg4::Host*> hosts_;
  std::vector<double> slowed_Bps_;   // per link: its slowed speed, 0 if at no GPU's edge
  const LinkAsk& ask_;
  std::vector<int> slowed_by_;       // per link: GPUs slowing it (a GPU-to-GPU link has two)
  std::vector<char> applied_;        // per link: its host's power state
};

std::vector<double> simulate_phases(sg4::Engine&, const Plan& plan, const Topology& topology, const CostModel& model,
                                    const PhaseInputs& in) {
  // A star zone: its routing is per host (a full zone keeps a hosts^2 table: 1 GiB here).
  // Only the latency hosts communicate; GPU and link hosts only compute.
  sg4::NetZone* zone = sg4::create_star_zone("cluster");
  std::vector<double> slowed_Bps(topology.num_directed_links(), 0.0);
  for (const std::vector<EdgeLink>& edges : *in.edges)
    for (const EdgeLink& edge : edges) slowed_Bps[edge.link] = edge.slowed_Bps;
  std::vector<sg4::Host*> link_host(topology.num_directed_links(), nullptr);
  std::vector<double> floor_Bps(topology.num_directed_links(), 0.0);  // each link host's lowest speed
  for (int id : in.used_links) {
    const double Bps = model.effective_Bps(topology.link(id));
    std::vector<double> speeds{Bps};
    if (slowed_Bps[id] > 0.0) speeds.push_back(std::min(Bps, slowed_Bps[id]));  // pstate 1: slowed
    link_host[id] = zone->create_host(fmt::format("link{}", id), speeds);
    floor_Bps[id] = speeds.back();
  }
  std::map<double, std::pair<sg4::Host*, sg4::Host*>> latency_pair;
  for (std::size_t i = 0; i < in.latencies.size(); ++i) {
    sg4::Host* a = zone->create_host(fmt::format("lat{}a", i), 1.0);
    sg4::Host* b = zone->create_host(fmt::format("lat{}b", i), 1.0);
    sg4::Link* hop = zone->create_link(fmt::format("lat{}", i), 1e18)->set_latency(in.latencies[i]);
    sg4::Link* back = zone->create_link(fmt::format("lat{}back", i), 1e18)->set_latency(0.0);
    zone->add_route(a->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(hop)}, true);
    zone->add_route(b->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(back)}, true);
    latency_pair[in.latencies[i]] = {a, b};
  }
  zone->seal();

  std::unordered_map<const sg4::Activity*, std::int32_t> hops;  // running latency hops -> op
  std::vector<sg4::ActivityPtr> keep_alive;  // never released inside a callback: SimGrid still uses them
  OpScheduler* scheduler_ref = nullptr;
  auto start_hop = [&](std::int32_t id) {
    const auto [a, b] = latency_pair.at(startup_s(*in.footprint[id], model));
    sg4::CommPtr hop = sg4::Comm::sendto_init(a, b)->set_payload_size(1);
    hops[hop.get()] = id;
    keep_alive.push_back(hop);
    hop->start();
  };
  LinkAsk ask(link_host.size());
  LinkHostSlowdown slowdown(link_host, slowed_Bps, ask);
  PhaseTransfers transfers(link_host, floor_Bps, ask, in.every_link);
  auto slow_transfers = [&](std::int32_t gpu, bool slowed) { slowdown.gpu_changed((*in.edges)[gpu], slowed); };
  OpScheduler scheduler(plan, model, in.duration_s, start_hop, slow_transfers);
  scheduler_ref = &scheduler;
  // After the hop, the transfer: one parallel task over the link hosts that may bind.
  auto start_transfer = [&](std::int32_t id) {
    const A2aFootprint& f = *in.footprint[id];
    scheduler_ref->communication_begins(f.gpus);
    ask.add(f, in.alone_s[id], 1.0);
    slowdown.asked(f);
    transfers.start(id, f);
  };
  sg4::Activity::on_completion_cb([&](const sg4::Activity& activity) {
    if (const auto hop = hops.find(&activity); hop != hops.end()) {
      const std::int32_t id = hop->second;
      hops.erase(hop);
      start_transfer(id);
    } else if (const std::optional<std::int32_t> id = transfers.finished(activity)) {
      ask.add(*in.footprint[*id], in.alone_s[*id], -1.0);
      slowdown.asked(*in.footprint[*id]);
      scheduler_ref->all_to_all_done(*id, in.footprint[*id]->gpus);
    }
  });
  scheduler.start(in.included);
  sg4::Engine::get_instance()->run();
  return scheduler.times();
}

Timeline PhaseEngine::run(const Plan& plan, const Topology& topology, const CostModel& model) {
  if (plan.header().transfer_blocks > 0 && model.transfer_cap_Bps == 0.0)  // a fused Plan: its blocks cap its transfers
    return run(plan, topology, model.with_transfer_blocks(plan.header().transfer_blocks));
  // With the cost model only where ops are paced: their demand bytes (the parts are not used here).
  A2aFootprints footprints(plan, topology, pacing_applies(topology) ? &model : nullptr);
  const std::vector<std::vector<EdgeLink>> edges = gpu_edge_links(topology, model);
  Timeline timeline = timeline_for(plan, "phase");
  timeline.link_bytes.assign(topology.num_directed_links(), 0.0);
  std::vector<double> duration_s(plan.ops().size(), 0.0);
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) {
      duration_s[op.id] = compute_time_s(plan, op, model);
      continue;
    }
    for (const LinkLoad& load : footprints.of(op).loads) timeline.link_bytes[load.link] += load.bytes;
  }
  int num_parts = 0;
  // Parts run side by side, one child process per core.
  const std::vector<int> part_of_group = independent_parts(plan, topology, footprints, num_parts);
  std::vector<PhaseInputs> parts(static_cast<std::size_t>(num_parts));
  const bool every_link = PhaseTransfers::every_link_from_environment();
  for (PhaseInputs& in : parts) {
    in.every_link = every_link;
    in.duration_s = duration_s;
    in.included.assign(plan.ops().size(), false);
    in.footprint.assign(plan.ops().size(), nullptr);
    in.edges = &edges;
    in.alone_s.assign(plan.ops().size(), 0.0);
  }
  std::vector<std::vector<bool>> used(parts.size(), std::vector<bool>(topology.num_directed_links(), false));
  for (const Op& op : plan.ops()) {
    const int part = part_of_group[op.group];
    PhaseInputs& in = parts[part];
    in.included[op.id] = true;
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    const A2aFootprint& f = footprints.of(op);
    in.footprint[op.id] = &f;
    in.alone_s[op.id] = alone_s(f, topology, model);
    for (const LinkLoad& load : f.loads) used[part][load.link] = true;
    in.latencies.push_back(startup_s(f, model));
  }
  for (std::size_t part = 0; part < parts.size(); ++part) {
    PhaseInputs& in = parts[part];
    for (int id = 0; id < topology.num_directed_links(); ++id)
      if (used[part][id]) in.used_links.push_back(id);
    std::sort(in.latencies.begin(), in.latencies.end());
    in.latencies.erase(std::unique(in.latencies.begin(), in.latencies.end()), in.latencies.end());
  }
  const std::vector<std::vector<double>> times = run_simgrid_children(
      "phase", {"host/model:ptask_L07", "surf/precision:1e-9"}, PHASE_TIMEOUT_S, num_parts,
      [&](int part, sg4::Engine& engine) { return simulate_phases(engine, plan, topology, model, parts[part]); });
  for (std::size_t part = 0; part < parts.size(); ++part) apply_times(times[part], parts[part].included, timeline);
  mark_ends_by_stream(plan, model, timeline);
  record_link_usage(plan, timeline, footprints, topology, model);
  return timeline;
}

}  // namespace

std::unique_ptr<Executor> make_phase_engine() { return std::make_unique<PhaseEngine>(); }

}  // namespace comet
