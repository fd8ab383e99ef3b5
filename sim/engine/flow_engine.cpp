// The `flow` engine: per-flow max-min sharing (equal shares, every flow after its route's
// latency) on FluidNetwork (fluid_network.hpp), in SimGrid's clock and timers. SimGrid's CM02
// flow model (cross-traffic off, completion precision 1e-6: shared/notes/simgrid-at-scale.md)
// computes the same sharing and stays the reference (COMET_FLOW_NETWORK=simgrid); it re-solves
// too slowly past 256 GPUs (docs/engines.md, "The flow engine at 1024 GPUs").
//
// Each all-to-all op becomes flows over routes that are the Topology's Boost.Graph paths (ECMP
// included), so flows of different sizes finish at different times: a GPU's part of the op ends
// with the last flow carrying its transfers (a coalesced flow carries all its members'), and the
// op with its last flow. Large ops are coalesced (flow_coalescing.hpp): per GPU pair inside
// nodes; between nodes, the even side of the op (senders or receivers) pooled per group of up to
// 4 nodes under one leaf and one rail, the uneven side kept per node and rail. Computations: see
// simgrid_scheduler.hpp. A GPU slowing its own transfers (transfer_slowdown.hpp) lowers the
// bandwidth of its edge links, or its share of a pooled link, while it does; the running flows
// are re-shared from then on.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <boost/graph/adjacency_list.hpp>
#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>
#include <unordered_map>

#include "a2a_footprint.hpp"
#include "compute_streams.hpp"
#include "environment.hpp"
#include "flow_coalescing.hpp"
#include "fluid_network.hpp"
#include "input_error.hpp"
#include "op_costs.hpp"
#include "simgrid_child.hpp"
#include "simgrid_engines.hpp"
#include "simgrid_scheduler.hpp"
#include "transfer_slowdown.hpp"

namespace sg4 = simgrid::s4u;

namespace comet {
namespace {

constexpr int FLOW_MAX_GPUS = 2048;
constexpr double FLOW_TIMEOUT_S = 3600.0;

class FlowEngine : public Executor {
 public:
  explicit FlowEngine(bool packet) : packet_(packet) {}
  std::string name() const override { return packet_ ? "packet" : "flow"; }
  Timeline run(const Plan& plan, const Topology& topology, const CostModel& model) override;

 private:
  bool packet_;
};

struct FlowInputs {
  std::vector<double> duration_s;
  std::vector<const CoalescedOp*> coalesced;          // per op (all-to-all)
  std::vector<std::vector<EdgeLink>> edges;           // per GPU (transfer_slowdown.hpp)
  std::vector<double> message_s;                      // per op (all-to-all): per-message costs (startup_s)
  std::map<std::pair<std::int32_t, std::int32_t>, std::vector<int>> routes;  // endpoint pair -> links
  std::map<std::pair<std::int32_t, std::int32_t>, double> route_latency_s;    // endpoint pair -> seconds
  const FlowCoalescer* coalescer = nullptr;
  bool per_gpu_completion = true;
  bool simgrid_network = false;  // SimGrid's CM02 comms instead of FluidNetwork (always for packet)
  double window = FluidNetwork::DEFAULT_WINDOW;
};

// The packet engine's platform: ns-3 takes only one-hop routes and routes packets itself, so
// every topology vertex is a netpoint (GPUs hosts, switches and NICs routers) and every physical
// link a one-hop route. ns-3's global routing picks shortest paths (not our ECMP choices).
// The flow engine's platform: GPU hosts in a full zone, one SimGrid link per directed topology
// link, and for every communicating pair a route that is exactly its Boost.Graph path. The
// links have no latency: CM02 shares a link among flows in inverse proportion to their routes'
// latency (its TCP round-trip model; SimGrid's NetworkCm02Model::communicate sets a flow's
// sharing penalty to its route latency), which on an RDMA fabric is not what happens and made
// per-GPU completions differ from per-pair max-min by up to 11% of the op. Each flow instead
// waits its route's latency on a timer and then joins the others with an equal share.
struct FlowPlatform {
  std::vector<sg4::Host*> host;  // per endpoint
  std::vector<sg4::Link*> link;  // per flow link (null where no route crosses it)
};

FlowPlatform build_flow_platform(const FlowInputs& in) {
  sg4::NetZone* zone = sg4::create_full_zone("cluster");
  std::vector<sg4::Host*> host(in.coalescer->num_endpoints(), nullptr);
  std::vector<sg4::Link*> link(in.coalescer->num_links(), nullptr);
  for (const auto& [pair, route] : in.routes) {
    for (std::int32_t end : {pair.first, pair.second})
      if (!host[end]) host[end] = zone->create_host(fmt::format("e{}", end), 1.0);
    for (int id : route)
      if (!link[id]) {
        const FlowLink spec = in.coalescer->link(id);
        link[id] = zone->create_link(fmt::format("l{}", id), spec.Bps);
      }
  }
  for (const auto& [pair, route] : in.routes) {
    std::vector<sg4::LinkInRoute> links;
    for (int id : route) links.emplace_back(link[id]);
    zone->add_route(host[pair.first]->get_netpoint(), host[pair.second]->get_netpoint(), nullptr, nullptr, links, false);
  }
  zone->seal();
  return {host, link};
}

FlowPlatform build_packet_platform(const Topology& topology, const CostModel& model) {
  sg4::NetZone* zone = sg4::create_floyd_zone("cluster");
  const TopologyGraph& graph = topology.graph();
  std::vector<simgrid::kernel::routing::NetPoint*> point(boost::num_vertices(graph), nullptr);
  std::vector<sg4::Host*> host(topology.num_gpus(), nullptr);
  for (auto v : boost::make_iterator_range(boost::vertices(graph))) {
    if (graph[v].kind == VertexKind::GPU) {
      host[graph[v].index] = zone->create_host(topology.vertex_name(v), 1.0);
      point[v] = host[graph[v].index]->get_netpoint();
    } else {
      point[v] = zone->create_router(topology.vertex_name(v));
    }
  }
  for (int id = 0; id < topology.num_directed_links(); id += 2) {
    const auto [u, v] = topology.link_endpoints(id);
    sg4::Link* link = zone->create_link(fmt::format("l{}", id), model.effective_Bps(topology.link(id)))
                          ->set_latency(topology.link(id).latency_s);
    zone->add_route(point[u], point[v], nullptr, nullptr, {sg4::LinkInRoute(link)}, true);
  }
  zone->seal();
  sg4::Engine::on_platform_created();  // or ns-3 has no IP routes and runs forever
  return {host, {}};
}

// The flow platform's links for GPUs that slow their transfers: an edge link carries its slowed
// bandwidth while any GPU at its ends slows (a GPU-to-GPU link has two), and a pooled link loses
// comm_slowdown_with_compute of each slowed member's share. `apply(link, Bps)` gives the network
// a link's new bandwidth; the packet platform (ns-3) keeps its bandwidths (no `apply`).
class FlowSlowdown {
 public:
  using Apply = std::function<void(int link, double Bps)>;
  FlowSlowdown(const FlowInputs& in, const CostModel& model, Apply apply)
      : in_(in), slowdown_(model.comm_slowdown_with_compute), apply_(std::move(apply)),
        slowed_by_(in.coalescer->num_links(), 0), pool_lost_Bps_(in.coalescer->num_links(), 0.0),
        slowed_Bps_(in.coalescer->num_links(), std::numeric_limits<double>::infinity()) {
    for (const std::vector<EdgeLink>& edges : in.edges)
      for (const EdgeLink& edge : edges) slowed_Bps_[edge.link] = std::min(slowed_Bps_[edge.link], edge.slowed_Bps);
  }

  /// `gpu` started (`slowed`) or stopped slowing its transfers.
  void set(std::int32_t gpu, bool slowed) {
    if (!apply_) return;
    for (const EdgeLink& edge : in_.edges[gpu]) slowed_by_[edge.link] += slowed ? 1 : -1;
    for (const FlowCoalescer::PoolShare& share : in_.coalescer->pool_shares(gpu))
      pool_lost_Bps_[share.link] += (slowed ? 1.0 : -1.0) * slowdown_ * share.Bps;
    for (const EdgeLink& edge : in_.edges[gpu]) apply_(edge.link, bandwidth(edge.link));
    for (const FlowCoalescer::PoolShare& share : in_.coalescer->pool_shares(gpu)) apply_(share.link, bandwidth(share.link));
  }
  double full(int id) const { return in_.coalescer->link(id).Bps; }
  double bandwidth(int id) const {
    const double Bps = full(id) - std::max(0.0, pool_lost_Bps_[id]);
    return slowed_by_[id] > 0 ? std::min(Bps, slowed_Bps_[id]) : Bps;
  }

 private:
  const FlowInputs& in_;
  double slowdown_;
  Apply apply_;
  std::vector<int> slowed_by_;
  std::vector<double> pool_lost_Bps_;
  std::vector<double> slowed_Bps_;  // per link: at a GPU's edge, what it carries slowed; else infinity
};

// Which network moves the flow engine's flows: FluidNetwork (default), or SimGrid's CM02 comms
// (COMET_FLOW_NETWORK=simgrid: the reference the fluid network is checked against; docs/engines.md).
// The packet engine always runs ns-3 through SimGrid.
bool simgrid_flow_network() {
  const char* value = std::getenv("COMET_FLOW_NETWORK");
  if (!value || std::string(value) == "fluid") return false;
  if (std::string(value) == "simgrid") return true;
  throw InputError({"<environment>", 0, 0}, "COMET_FLOW_NETWORK", value, "fluid or simgrid");
}

// The fluid network's completion window (COMET_FLOW_WINDOW, for measuring what it changes).
double fluid_window() { return environment_double("COMET_FLOW_WINDOW", 0.0, 0.1).value_or(FluidNetwork::DEFAULT_WINDOW); }

// Starts flows on SimGrid comms. CM02 bounds a flow, once and for all when it starts, by the
// smallest bandwidth on its route (NetworkCm02Model::communicate); a flow started on a slowed link
// would keep that bound after the slowdown ends. So flows start with their route's links at full
// bandwidth, which are then lowered again: the slowdown binds through the links' capacity, which
// CM02 does revise.
void start_simgrid_flow(const sg4::CommPtr& comm, const std::vector<int>& route, const std::vector<sg4::Link*>& links,
                        const FlowSlowdown& slowdown) {
  std::vector<int> lowered;
  for (int id : route)
    if (!links.empty() && slowdown.bandwidth(id) < slowdown.full(id)) {
      links[id]->set_bandwidth(slowdown.full(id));
      lowered.push_back(id);
    }
  comm->start();
  for (int id : lowered) links[id]->set_bandwidth(slowdown.bandwidth(id));
}

std::vector<double> simulate_flows(const Plan& plan, const Topology& topology, const CostModel& model,
                                   const FlowInputs& in, bool packet, const std::vector<bool>& included) {
  const bool simgrid_network = packet || in.simgrid_network;
  FlowPlatform platform;  // the fluid network needs no SimGrid platform: only SimGrid's clock and timers
  if (simgrid_network) platform = packet ? build_packet_platform(topology, model) : build_flow_platform(in);
  else sg4::create_full_zone("cluster")->seal();  // SimGrid's run() wants a sealed platform, even an empty one
  const std::vector<sg4::Host*>& host = platform.host;
  std::optional<FluidNetwork> fluid;
  if (!simgrid_network) {
    std::vector<double> capacity(static_cast<std::size_t>(in.coalescer->num_links()));
    for (int id = 0; id < in.coalescer->num_links(); ++id) capacity[id] = in.coalescer->link(id).Bps;
    fluid.emplace(std::move(capacity), in.window, [] { return sg4::Engine::get_clock(); },
                  [](double time_s, std::function<void()> callback) {
                    simgrid::kernel::timer::Timer::set(time_s, std::move(callback));
                  });
  }
  FlowSlowdown::Apply apply;
  if (fluid) apply = [&fluid](int link, double Bps) { fluid->set_capacity(link, Bps); };
  else if (!packet)
    apply = [&platform](int link, double Bps) {
      if (sg4::Link* simgrid_link = platform.link[link]) simgrid_link->set_bandwidth(Bps);  // null: no route crosses it
    };
  FlowSlowdown slowdown(in, model, apply);
  std::vector<int> flows_left(plan.ops().size(), 0);
  std::unordered_map<std::int32_t, std::vector<int>> gpu_flows_left;  // per running op, aligned with its gpus
  OpScheduler* scheduler_ref = nullptr;
  // Flow f of op `id` has moved its bytes. A GPU's part ends with the last flow carrying its
  // transfers.
  auto flow_done = [&](std::int32_t id, std::size_t f) {
    const CoalescedOp& op = *in.coalesced[id];
    std::vector<int>& left = gpu_flows_left[id];
    for (std::int32_t member : op.flow_members[f])
      if (--left[static_cast<std::size_t>(member)] == 0 && in.per_gpu_completion)
        scheduler_ref->part_done(id, op.gpus[static_cast<std::size_t>(member)]);
    if (--flows_left[id] == 0) {
      gpu_flows_left.erase(id);
      scheduler_ref->all_to_all_done(id, op.gpus);
    }
  };
  struct Running {
    std::int32_t op;
    std::size_t flow;  // index into its CoalescedOp's flows
  };
  std::unordered_map<const sg4::Activity*, Running> running;
  std::vector<sg4::ActivityPtr> keep_alive;  // never released inside a callback
  auto start_flows = [&](std::int32_t id) {
    const CoalescedOp& op = *in.coalesced[id];
    scheduler_ref->communication_begins(op.gpus);
    gpu_flows_left[id] = op.flows_per_gpu;
    for (std::size_t f = 0; f < op.flows.size(); ++f) {
      const Flow& flow = op.flows[f];
      ++flows_left[id];
      // The packet platform's links carry their latency (ns-3 models it); the flow platform's
      // flows pay it before they join the sharing.
      const double latency_s = in.message_s[id] + (packet ? 0.0 : in.route_latency_s.at({flow.src, flow.dst}));
      const std::vector<int>& route = in.routes.at({flow.src, flow.dst});
      std::function<void()> begin;
      if (fluid) {
        begin = [&, id, f, bytes = flow.bytes] { fluid->start(route, bytes, [&flow_done, id, f] { flow_done(id, f); }); };
      } else {
        const auto size = static_cast<std::uint64_t>(std::max(1.0, std::round(flow.bytes)));
        sg4::CommPtr comm = sg4::Comm::sendto_init(host[flow.src], host[flow.dst])->set_payload_size(size);
        running[comm.get()] = {id, f};
        keep_alive.push_back(comm);
        begin = [comm, &route, &platform, &slowdown] { start_simgrid_flow(comm, route, platform.link, slowdown); };
      }
      if (latency_s > 0.0)
        simgrid::kernel::timer::Timer::set(sg4::Engine::get_clock() + latency_s, std::move(begin));
      else
        begin();
    }
  };
  OpScheduler scheduler(plan, model, in.duration_s, start_flows,
                        [&](std::int32_t gpu, bool slowed) { slowdown.set(gpu, slowed); });
  scheduler_ref = &scheduler;
  if (!fluid)
    sg4::Activity::on_completion_cb([&](const sg4::Activity& activity) {
      const auto found = running.find(&activity);
      if (found == running.end()) return;
      const auto [id, f] = found->second;
      running.erase(found);
      flow_done(id, f);
    });
  scheduler.start(included);
  sg4::Engine::get_instance()->run();
  return scheduler.times();
}

Timeline FlowEngine::run(const Plan& plan, const Topology& topology, const CostModel& model) {
  if (plan.header().transfer_blocks > 0 && model.transfer_cap_Bps == 0.0)  // a fused Plan: its blocks cap its transfers
    return run(plan, topology, model.with_transfer_blocks(plan.header().transfer_blocks));
  const int max_gpus = packet_ ? 64 : FLOW_MAX_GPUS;
  if (topology.num_gpus() > max_gpus)
    throw InputError({"<command line>", 0, 0}, "--engine", name(),
                     fmt::format("the {} engine is for clusters of at most {} GPUs (this one has {}); use phase or "
                                 "analytical",
                                 name(), max_gpus, topology.num_gpus()));
  // The packet platform has GPU hosts only (and at most 64 GPUs): always one flow per pair.
  const FlowCoalescer coalescer = packet_ ? FlowCoalescer(topology, model, FlowCoalescer::GROUP_NODES,
                                                           std::numeric_limits<int>::max())
                                          : configured_coalescer(topology, model, FlowCoalescer::MAX_PAIR_FLOWS);
  Timeline timeline = timeline_for(plan, name());
  timeline.link_bytes.assign(topology.num_directed_links(), 0.0);
  FlowInputs in;
  in.coalescer = &coalescer;
  in.per_gpu_completion = per_gpu_completion();
  in.simgrid_network = simgrid_flow_network();  // read here: a bad value is bad input, not a child's failure
  in.window = fluid_window();
  in.duration_s.assign(plan.ops().size(), 0.0);
  in.coalesced.assign(plan.ops().size(), nullptr);
  in.edges = gpu_edge_links(topology, model);
  in.message_s.assign(plan.ops().size(), 0.0);
  A2aFootprints footprints(plan, topology);
  std::map<std::pair<std::int32_t, bool>, CoalescedOp> cache;
  std::map<std::pair<std::int32_t, std::int32_t>, std::vector<int>> link_routes;
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) {
      in.duration_s[op.id] = compute_time_s(plan, op, model);
      continue;
    }
    auto found = cache.find({op.matrix, op.reversed});
    if (found == cache.end())
      found = cache.emplace(std::pair{op.matrix, op.reversed}, coalescer.coalesce(plan.matrices()[op.matrix], op.reversed)).first;
    in.coalesced[op.id] = &found->second;
    in.message_s[op.id] = startup_s(footprints.of(op), model) - footprints.of(op).latency_s;
    for (const Flow& flow : found->second.flows) {
      auto [route, inserted] = in.routes.try_emplace({flow.src, flow.dst});
      if (inserted) {
        route->second = coalescer.route(flow.src, flow.dst);
        double& latency_s = in.route_latency_s[{flow.src, flow.dst}];
        for (int id : route->second) latency_s += coalescer.link(id).latency_s;
      }
    }
    // Bytes per topology link from the flows between GPUs (a group's virtual first hop stands
    // for its members' NIC links).
    for (const Flow& flow : found->second.node_flows) {
      auto [route, inserted] = link_routes.try_emplace({flow.src, flow.dst});
      if (inserted) route->second = topology.route(flow.src, flow.dst);
      for (int id : route->second) timeline.link_bytes[id] += flow.bytes;
    }
  }
  const std::vector<std::string> configs =
      packet_ ? std::vector<std::string>{"network/model:ns-3"}
              : std::vector<std::string>{"network/model:CM02", "network/crosstraffic:0", "surf/precision:1e-6"};
  // Groups whose flows share no SimGrid link (real or a source group's pooled one) are simulated
  // apart, side by side: each max-min re-solve then spans one group's flows, not the cluster's
  // (fat-tree-1024's four groups: four 256-GPU problems instead of one 1024-GPU one).
  int num_parts = 1;
  std::vector<int> part_of_group(static_cast<std::size_t>(plan.header().num_gpus / plan.header().expert_parallel), 0);
  if (!packet_)
    part_of_group = independent_parts(
        plan, coalescer.num_links(),
        [&](const Op& op, const std::function<void(int)>& visit) {
          for (const Flow& flow : in.coalesced[op.id]->flows)
            for (int id : in.routes.at({flow.src, flow.dst})) visit(id);
        },
        num_parts);
  std::vector<std::vector<bool>> included(static_cast<std::size_t>(num_parts), std::vector<bool>(plan.ops().size(), false));
  for (const Op& op : plan.ops()) included[part_of_group[op.group]][op.id] = true;
  const std::vector<std::vector<double>> times = run_simgrid_children(
      name(), configs, packet_ ? 300.0 : FLOW_TIMEOUT_S, num_parts,
      [&](int part, sg4::Engine&) { return simulate_flows(plan, topology, model, in, packet_, included[part]); });
  for (int part = 0; part < num_parts; ++part) apply_times(times[part], included[part], timeline);
  mark_ends_by_stream(plan, model, timeline);
  record_link_usage(plan, timeline, footprints, topology, model);
  return timeline;
}

}  // namespace

std::unique_ptr<Executor> make_flow_engine() { return std::make_unique<FlowEngine>(false); }
std::unique_ptr<Executor> make_packet_engine() { return std::make_unique<FlowEngine>(true); }

}  // namespace comet
