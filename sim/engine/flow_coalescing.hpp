// How the flow engine turns an all-to-all's transfers into few enough SimGrid flows.
//
// SimGrid re-solves the max-min system at every flow completion, and a ragged all-to-all ends
// each flow at its own date, so the cost grows about as flows x flows (docs/engines.md, "The
// flow engine's speed"). Two granularities:
//  1. Per GPU pair, when the op has at most MAX_PAIR_FLOWS transfers (exact, ECMP per pair).
//  2. Beyond, transfers inside a node stay per GPU pair; transfers between nodes are merged on
//     the side whose per-GPU bytes are more even (max over mean): when the senders are, per
//     (source group, destination node, destination rail), as below; when the receivers are (a
//     combine from a hot expert's GPU), the mirror, per (source node, source rail, destination
//     group) into the group's pooled last hops (leaf -> NIC -> GPU), so that the uneven side's
//     NICs stay exact. Pooling the hot senders hid their NICs: at 128 GPUs (tree 4:1, DeepSeek-V3,
//     zipf 0.3) the combine read 17% below per-pair max-min (docs/engines.md).
//     Source pooling: a source group is up to group_nodes_for(topology) consecutive nodes (4; 1
//     on oversubscribed networks where ECMP chooses) whose NICs on that rail hang off the same
//     leaf. The group's flow leaves from a virtual source host over one virtual link whose
//     bandwidth is the sum of the
//     members' first hops on that rail (GPU -> NIC -> leaf: the smaller effective bandwidth of
//     the two, these links carry nothing else), then follows the Boost.Graph path from that
//     leaf to the destination node's GPU on that rail.
//     Exact: the destination side (NIC and its links, where skewed routing concentrates load)
//     and every link from the source leaf on (leaf uplinks of an oversubscribed tree, spines).
//     Assumed: sending is rail-aligned (PXN-like: a node's bytes for rail r leave through its
//     NIC on rail r) and the members' NICs on one rail act as one pooled link.
//     ECMP: a group flow takes the path of one GPU of the group under that leaf, picked by the
//     destination node and the group, so that the flows spread over the leaf's uplinks. (With
//     the rail GPU as the source of every flow, source rank + destination GPU is always even on
//     a d-mod-k fat-tree with 8 rails: the flows used half of the uplinks.)
// Nodes whose GPUs reach their NIC through a shared PCIe switch (first or last hops also carry
// traffic inside the node) form groups of one node that keep their real first and last hops.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "cost_model.hpp"
#include "plan.hpp"
#include "topology.hpp"

namespace comet {

struct Flow {
  std::int32_t src = 0, dst = 0;  // endpoints: GPU ids, or virtual group sources (>= num_gpus)
  double bytes = 0.0;
};

struct CoalescedOp {
  std::vector<Flow> flows;        // what SimGrid simulates
  std::vector<Flow> node_flows;   // the same bytes between GPUs (rail gateways): link_bytes
  std::vector<std::int32_t> gpus; // endpoints of the original transfers, sorted
  /// Per flow: indices into `gpus` of the GPUs whose transfers it carries (a GPU's part of the
  /// op ends with the last of them; a coalesced flow stands for all its members' transfers).
  std::vector<std::vector<std::int32_t>> flow_members;
  /// Per GPU of `gpus`: how many flows carry its transfers.
  std::vector<int> flows_per_gpu;
};

/// A link of the flow platform: a topology link (id < num_directed_links) or a virtual one.
struct FlowLink {
  double Bps = 0.0;
  double latency_s = 0.0;
};

class FlowCoalescer {
 public:
  static constexpr int MAX_PAIR_FLOWS = 4096;
  static constexpr int GROUP_NODES = 4;
  /// Nodes per source group on `topology`: GROUP_NODES, or 1 where the switch links are
  /// oversubscribed and ECMP chooses between paths (fat-trees and rails with oversubscription > 1).
  /// There a group flow is one fat flow on one member's path, and max-min gives it a fair share of
  /// each shared uplink where per pair its bytes spread thinly over many: Mixtral-8x7B zipf 0.3 on
  /// 128 GPUs, 2:1, `--partition none`, coalesced `flow` read +13.5% (fat-tree) and +91% (rail, 4
  /// nodes per leaf) over per pair with groups of 4 nodes, +0.1% and +2.1% with groups of 1
  /// (docs/engines.md). On trees every flow has one path and groups of 4 stay exact.
  static int group_nodes_for(const Topology& topology);
  /// Pacing's limit: per pair up to 32-GPU ops. A 64-GPU op per pair took 60 ms alone (the
  /// 1024-GPU tree scenario 2.0 s instead of 0.26 s coalesced, its layer 0.3% apart). Coalescing
  /// pools the even side, which MoE dispatches and combines have; on arbitrary ragged matrices
  /// (random pairs, tests/flow_reference_test.cpp) it read up to 5% high at 32 GPUs.
  static constexpr int PACING_PAIR_FLOWS = 1024;

  FlowCoalescer(const Topology& topology, const CostModel& model, int group_nodes = GROUP_NODES,
                int max_pair_flows = MAX_PAIR_FLOWS);

  CoalescedOp coalesce(const TransferMatrix& matrix, bool reversed) const;

  /// Endpoints: GPUs 0..num_gpus-1, then one virtual source per group, then one virtual
  /// destination per group.
  int num_endpoints() const { return num_gpus_ + 2 * static_cast<int>(groups_.size()); }
  /// Links: topology ids 0..num_directed_links-1, then the groups' pooled first and last hops.
  int num_links() const { return num_real_links_ + static_cast<int>(pooled_.size()); }
  FlowLink link(int id) const;
  /// Links from an endpoint to an endpoint (a GPU or a virtual destination), in order.
  std::vector<int> route(int src, int dst) const;

  /// What a GPU adds to a pooled link as its node's gateway on a rail: its first or last hop's
  /// bottleneck (bytes/s). A GPU slowing its transfers takes comm_slowdown_with_compute of it away.
  struct PoolShare {
    int link = 0;
    double Bps = 0.0;
  };
  /// The pooled links `gpu` is a member of (empty for GPUs that are no rail's gateway).
  const std::vector<PoolShare>& pool_shares(int gpu) const { return pool_shares_[static_cast<std::size_t>(gpu)]; }

 private:
  struct Group {
    std::vector<std::int32_t> gpus;  // the members' GPUs under the group's leaf (ECMP choices)
    std::vector<int> first_hop;      // a pooled link, or a one-node group's real links
    std::vector<int> last_hop;       // the same into the group's GPUs
    int index = 0;
    int nodes = 0;
  };
  int node(int gpu) const { return gpu / gpus_per_node_; }
  int rail(int gpu) const;
  int gateway(int node, int rail) const;
  std::vector<int> first_hop(int gpu, bool& exclusive) const;
  std::vector<int> last_hop(int gpu, bool& exclusive) const;
  /// Adds a member's hop to a pool; returns the bandwidth it added.
  double add_to_pool(int pooled_link, const std::vector<int>& hop);

  const Topology& topology_;
  const CostModel& model_;
  int max_pair_flows_;
  int num_gpus_, num_real_links_, gpus_per_node_, nics_per_node_, rails_;
  std::vector<Group> groups_;
  std::vector<FlowLink> pooled_;
  std::vector<int> group_of_;  // per (node, rail): index into groups_, -1 without network
  std::vector<std::vector<PoolShare>> pool_shares_;  // per GPU
};

/// The flow engine's coalescer (`max_pair_flows` MAX_PAIR_FLOWS), and pacing's (a2a_footprint.hpp,
/// PACING_PAIR_FLOWS): group_nodes_for(topology), or COMET_FLOW_GROUP_NODES (nodes per source group) and
/// COMET_FLOW_PAIR_LIMIT (largest op run per pair) where set, knobs for reproducing the
/// coalescing error figures in docs/engines.md.
FlowCoalescer configured_coalescer(const Topology& topology, const CostModel& model, int max_pair_flows);

}  // namespace comet
