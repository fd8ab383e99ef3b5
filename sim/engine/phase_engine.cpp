// The `phase` engine: SimGrid's ptask_L07 model, one parallel task per all-to-all op.
//
// Platform: one SimGrid host per directed topology link an all-to-all uses (speed = the link's
// effective bandwidth), plus a pair of hosts joined by a latency link for each distinct path
// latency. An all-to-all op is a latency hop followed by one parallel task whose amount on each
// link host is the bytes its transfers put on that link, routed over the Topology's Boost.Graph
// paths (ECMP included). So a task alone takes max over links of bytes / bandwidth, and
// concurrent tasks share every link by max-min. Computations run per GPU on SimGrid timers with
// the cost model's durations, interference applied as in the analytical engine (see below).
//
// Why link hosts rather than SimGrid routes between GPU hosts: a ptask's bytes matrix is dense
// (GPUs^2 per task) and each route's links are inserted by a linear search; a GPU-level task took
// 12.8 s to create at 1024 GPUs (shared/notes/simgrid-at-scale.md). Per-link amounts computed
// from the same routes give L07 the same per-resource loads in O(links) per task.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>

#include <functional>

#include "a2a_footprint.hpp"
#include "op_costs.hpp"
#include "simgrid_child.hpp"
#include "simgrid_engines.hpp"

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

  // Ops start when their dependencies are done (no SimGrid dependencies: with everything started
  // up front, SimGrid 3.32 scans one list of all activities at each completion).
  // Computations are per-GPU streams run by SimGrid timers, not executions in the max-min
  // system: L07's bottleneck solver re-solves the whole system at every event, in rounds, and
  // with ~30K GEMMs on 1024 GPU constraints that took 28 s for one layer. Only the all-to-alls
  // (a handful at a time) are in the max-min system, which is where sharing matters.
  const std::size_t n = plan.ops().size();
  std::vector<double> times(2 * n, 0.0);
  std::vector<int> pending(n);
  std::vector<std::size_t> successor_start(n + 1, 0);
  for (const Op& op : plan.ops())
    for (std::int32_t dep : plan.deps(op.id)) ++successor_start[dep + 1];
  for (std::size_t i = 1; i <= n; ++i) successor_start[i] += successor_start[i - 1];
  std::vector<std::int32_t> successors(successor_start.back());
  {
    std::vector<std::size_t> fill(successor_start.begin(), successor_start.end() - 1);
    for (const Op& op : plan.ops()) {
      pending[op.id] = static_cast<int>(plan.deps(op.id).size());
      for (std::int32_t dep : plan.deps(op.id)) successors[fill[dep]++] = op.id;
    }
  }
  std::unordered_map<const sg4::Activity*, std::pair<std::int32_t, int>> running;  // -> (op, 0 hop / 1 task)
  std::vector<sg4::ActivityPtr> keep_alive;  // never released inside a callback: SimGrid still uses them
  std::vector<double> gpu_free(topology.num_gpus(), 0.0);
  std::vector<int> comm_active(topology.num_gpus(), 0);
  std::function<void(std::int32_t)> start_op;

  auto finish = [&](std::int32_t id) {
    times[2 * id + 1] = sg4::Engine::get_clock();
    for (std::size_t s = successor_start[id]; s < successor_start[id + 1]; ++s)
      if (--pending[successors[s]] == 0) start_op(successors[s]);
  };
  // The transfer of an all-to-all: one parallel task over the link hosts. GEMMs running on its
  // GPUs when it starts take comm_slowdown_with_compute of its bandwidth (its amounts grow).
  auto start_transfer = [&](const Op& op) {
    const A2aFootprint& f = *in.footprint[op.id];
    const double now = sg4::Engine::get_clock();
    const bool gemms_running = std::any_of(f.gpus.begin(), f.gpus.end(), [&](std::int32_t g) { return gpu_free[g] > now; });
    const double stretch = gemms_running ? 1.0 / (1.0 - model.comm_slowdown_with_compute) : 1.0;
    std::vector<sg4::Host*> hosts;
    std::vector<double> amounts;
    double alone_s = 0.0;
    for (const LinkLoad& load : f.loads) {
      alone_s = std::max(alone_s, load.bytes / model.effective_Bps(topology.link(load.link)));
      hosts.push_back(link_host[load.link]);
      amounts.push_back(load.bytes * stretch);
    }
    for (std::int32_t gpu : f.gpus) ++comm_active[gpu];
    sg4::ExecPtr task = sg4::Exec::init()->set_hosts(hosts)->set_flops_amounts(amounts);
    running[task.get()] = {op.id, 1};
    keep_alive.push_back(task);
    task->start();
  };
  start_op = [&](std::int32_t id) {
    const Op& op = plan.ops()[id];
    const double now = sg4::Engine::get_clock();
    if (op.kind == OpKind::ALL_TO_ALL) {
      times[2 * id] = now;
      const auto [a, b] = latency_pair.at(in.footprint[id]->latency_s);
      sg4::CommPtr hop = sg4::Comm::sendto_init(a, b)->set_payload_size(1);
      running[hop.get()] = {id, 0};
      keep_alive.push_back(hop);
      hop->start();
      return;
    }
    // One compute stream per GPU, in ready order; communication kernels running on the GPU take
    // comm_sm_share of its SMs from a computation that does not reserve its own.
    double duration = in.duration_s[id];
    if (comm_active[op.gpu] > 0 && op.compute_sm_fraction >= 1.0) duration /= 1.0 - model.comm_sm_share;
    const double begin = std::max(now, gpu_free[op.gpu]);
    times[2 * id] = begin;
    gpu_free[op.gpu] = begin + duration;
    simgrid::kernel::timer::Timer::set(begin + duration, [&finish, id] { finish(id); });
  };
  sg4::Activity::on_completion_cb([&](const sg4::Activity& activity) {
    const auto found = running.find(&activity);
    if (found == running.end()) return;
    const auto [id, part] = found->second;
    running.erase(found);
    if (part == 0) {
      start_transfer(plan.ops()[id]);
      return;
    }
    for (std::int32_t gpu : in.footprint[id]->gpus) --comm_active[gpu];
    finish(id);
  });
  for (const Op& op : plan.ops())
    if (pending[op.id] == 0) start_op(op.id);
  sg4::Engine::get_instance()->run();
  return times;
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
