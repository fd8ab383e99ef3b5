// The `phase` engine: SimGrid's ptask_L07 model, one parallel task per all-to-all op.
//
// Platform: one SimGrid host per directed topology link an all-to-all uses (speed = the link's
// effective bandwidth), plus a pair of hosts joined by a latency link for each distinct path
// latency. An all-to-all op is a latency hop followed by one parallel task whose amount on each
// link host is the bytes its transfers put on that link, routed over the Topology's Boost.Graph
// paths (ECMP included). So a task alone takes max over links of bytes / bandwidth, and
// concurrent tasks share every link by max-min. Computations: see simgrid_scheduler.hpp.
//
// Why link hosts rather than SimGrid routes between GPU hosts: a ptask's bytes matrix is dense
// (GPUs^2 per task) and each route's links are inserted by a linear search; a GPU-level task took
// 12.8 s to create at 1024 GPUs (shared/notes/simgrid-at-scale.md). Per-link amounts computed
// from the same routes give L07 the same per-resource loads in O(links) per task.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <simgrid/s4u.hpp>

#include <functional>

#include "a2a_footprint.hpp"
#include "op_costs.hpp"
#include "simgrid_child.hpp"
#include "simgrid_engines.hpp"
#include "simgrid_scheduler.hpp"

namespace sg4 = simgrid::s4u;

namespace comet {
namespace {

constexpr double PHASE_TIMEOUT_S = 3600.0;

class PhaseEngine : public Executor {
 public:
  std::string name() const override { return "phase"; }
  Timeline run(const Plan& plan, const Topology& topology, const CostModel& model) override;
};

// What the child needs, computed before forking.
struct PhaseInputs {
  std::vector<double> duration_s;               // compute ops
  std::vector<const A2aFootprint*> footprint;   // all-to-all ops
  std::vector<int> used_links;                  // directed links any all-to-all loads
  std::vector<double> latencies;                // distinct path latencies
};

std::vector<double> simulate_phases(sg4::Engine&, const Plan& plan, const Topology& topology, const CostModel& model,
                                    const PhaseInputs& in) {
  // A star zone: its routing is per host (a full zone keeps a hosts^2 table: 1 GiB here).
  // Only the latency hosts communicate; GPU and link hosts only compute.
  sg4::NetZone* zone = sg4::create_star_zone("cluster");
  std::vector<sg4::Host*> link_host(topology.num_directed_links(), nullptr);
  for (int id : in.used_links) link_host[id] = zone->create_host(fmt::format("link{}", id), model.effective_Bps(topology.link(id)));
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

  std::unordered_map<const sg4::Activity*, std::pair<std::int32_t, int>> running;  // -> (op, 0 hop / 1 task)
  std::vector<sg4::ActivityPtr> keep_alive;  // never released inside a callback: SimGrid still uses them
  OpScheduler* scheduler_ref = nullptr;
  auto start_hop = [&](std::int32_t id) {
    const auto [a, b] = latency_pair.at(in.footprint[id]->latency_s);
    sg4::CommPtr hop = sg4::Comm::sendto_init(a, b)->set_payload_size(1);
    running[hop.get()] = {id, 0};
    keep_alive.push_back(hop);
    hop->start();
  };
  OpScheduler scheduler(plan, model, in.duration_s, start_hop);
  scheduler_ref = &scheduler;
  // The transfer: one parallel task over the link hosts. GEMMs running on its GPUs when it
  // starts take comm_slowdown_with_compute of its bandwidth (its amounts grow).
  auto start_transfer = [&](std::int32_t id) {
    const A2aFootprint& f = *in.footprint[id];
    const double stretch = scheduler_ref->gemms_running(f.gpus) ? 1.0 / (1.0 - model.comm_slowdown_with_compute) : 1.0;
    std::vector<sg4::Host*> hosts;
    std::vector<double> amounts;
    for (const LinkLoad& load : f.loads) {
      hosts.push_back(link_host[load.link]);
      amounts.push_back(load.bytes * stretch);
    }
    scheduler_ref->communication_begins(f.gpus);
    sg4::ExecPtr task = sg4::Exec::init()->set_hosts(hosts)->set_flops_amounts(amounts);
    running[task.get()] = {id, 1};
    keep_alive.push_back(task);
    task->start();
  };
  sg4::Activity::on_completion_cb([&](const sg4::Activity& activity) {
    const auto found = running.find(&activity);
    if (found == running.end()) return;
    const auto [id, part] = found->second;
    running.erase(found);
    if (part == 0) start_transfer(id);
    else scheduler_ref->all_to_all_done(id, in.footprint[id]->gpus);
  });
  scheduler.start();
  sg4::Engine::get_instance()->run();
  return scheduler.times();
}

Timeline PhaseEngine::run(const Plan& plan, const Topology& topology, const CostModel& model) {
  A2aFootprints footprints(plan, topology);
  PhaseInputs in;
  in.duration_s.assign(plan.ops().size(), 0.0);
  in.footprint.assign(plan.ops().size(), nullptr);
  std::vector<bool> used(topology.num_directed_links(), false);
  Timeline timeline = timeline_for(plan, "phase");
  timeline.link_bytes.assign(topology.num_directed_links(), 0.0);
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) {
      in.duration_s[op.id] = compute_time_s(plan, op, model);
      continue;
    }
    const A2aFootprint& f = footprints.of(op);
    in.footprint[op.id] = &f;
    for (const LinkLoad& load : f.loads) {
      used[load.link] = true;
      timeline.link_bytes[load.link] += load.bytes;
    }
    in.latencies.push_back(f.latency_s);
  }
  for (int id = 0; id < topology.num_directed_links(); ++id)
    if (used[id]) in.used_links.push_back(id);
  std::sort(in.latencies.begin(), in.latencies.end());
  in.latencies.erase(std::unique(in.latencies.begin(), in.latencies.end()), in.latencies.end());

  const std::vector<double> times = run_simgrid_child(
      "phase", {"host/model:ptask_L07", "surf/precision:1e-9"}, PHASE_TIMEOUT_S,
      [&](sg4::Engine& engine) { return simulate_phases(engine, plan, topology, model, in); });
  for (std::size_t i = 0; i < plan.ops().size(); ++i) {
    timeline.ops[i].start_s = times[2 * i];
    timeline.ops[i].end_s = times[2 * i + 1];
  }
  return timeline;
}

}  // namespace

std::unique_ptr<Executor> make_phase_engine() { return std::make_unique<PhaseEngine>(); }

}  // namespace comet
