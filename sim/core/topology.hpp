// The cluster as a graph (Boost.Graph): GPUs, node fabrics (NVSwitch or PCIe switch), NICs,
// and leaf / spine / core switches, joined by links that have a bandwidth and latency per
// direction and a class. Builders (topology_builders.hpp) create it from a TopologySpec;
// finalize() then prepares routing, after which the graph is read-only.
//
// Routing: inside a node, GPU -> fabric -> GPU. Between nodes, GPU -> its NIC -> leaf ->
// shortest path over network switches -> leaf -> NIC -> GPU. Where several shortest next hops
// exist (fat-tree and rail uplinks), ECMP picks one by a deterministic function of the flow:
//   next hop = (rank of the source under its leaf + destination GPU / stride(level)) mod hops,
// stride(level) being the GPUs under one switch of the level below. The same pair always takes
// the same path, and an all-to-all spreads exactly evenly over every uplink. A pseudo-random
// hash (splitmix64 of source, destination and switch) was tried first: at 1024 GPUs it left
// uplinks of one leaf up to 10.5% apart, as real hash-based ECMP does; the simulator models
// well-balanced ECMP instead.
#pragma once

#include <boost/graph/adjacency_list.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "group_routes.hpp"

namespace comet {

enum class VertexKind : std::uint8_t { GPU, NVSWITCH, PCIE_SWITCH, NIC, LEAF, SPINE, CORE };

/// Link classes as reported per link and used by the cost model.
enum class LinkClass : std::uint8_t { NVLINK, PCIE, NIC, LEAF, SPINE, CORE };
inline constexpr std::size_t NUM_LINK_CLASSES = 6;

/// How far a transfer travels: within a node, within a leaf, within a pod (through a spine),
/// or across pods (through a core switch or higher).
enum class Tier : std::uint8_t { INTRA_NODE, LEAF, SPINE, CORE };
inline constexpr std::size_t NUM_TIERS = 4;

std::string_view to_string(VertexKind kind);
std::string_view to_string(LinkClass link_class);
/// "intra_node", "leaf", "spine", "core": the keys used in JSON output.
std::string_view to_string(Tier tier);

struct TopologyVertex {
  VertexKind kind = VertexKind::GPU;
  /// 0 for GPUs, NICs and node fabrics; 1 leaf, 2 spine, 3+ core (the switch's tree level).
  int level = 0;
  /// Node index for in-node vertices, -1 for network switches.
  int node = -1;
  /// Index among vertices of the same kind (gpu 0..N-1, leaf 0..L-1, ...).
  int index = 0;
};

/// One direction of a physical link.
struct TopologyLink {
  double bandwidth_Bps = 0.0;  ///< bytes per second in this direction
  double latency_s = 0.0;      ///< one-way latency in seconds
  LinkClass link_class = LinkClass::NVLINK;
  int id = 0;  ///< dense index of this directed link, 0..num_directed_links()-1
};

using TopologyGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS,
                                            TopologyVertex, TopologyLink>;
using VertexId = TopologyGraph::vertex_descriptor;

/// A path's summary for placement and reporting.
struct PathInfo {
  Tier tier = Tier::INTRA_NODE;
  int hops = 0;                ///< links crossed, in-node links included
  int network_hops = 0;        ///< links of class nic, leaf, spine or core
  double bottleneck_Bps = 0.0; ///< smallest link bandwidth on the path (0 for a GPU to itself)
  double latency_s = 0.0;      ///< sum of link latencies
  /// Smallest fair share on the path: per link class, the class's total bandwidth divided by the
  /// GPU count (what each GPU gets when all send at once). Captures oversubscription: a 4:1
  /// tree's leaf uplinks give 12.5 GB/s per GPU behind 50 GB/s NICs.
  double fair_share_Bps = 0.0;

  /// Placement cost of one byte on this path: 1 / fair share, plus the latency amortized over
  /// a 1 MiB message (so shorter paths win ties). 0 for a GPU to itself.
  double cost_per_byte() const {
    return hops == 0 ? 0.0 : 1.0 / fair_share_Bps + latency_s / 1048576.0;
  }
};

class Topology {
 public:
  explicit Topology(std::string name);

  // ---- construction (builders only) ----
  VertexId add_vertex(VertexKind kind, int level, int node);
  /// Adds a physical link as two directed links; returns the id of the u->v direction
  /// (the v->u direction has that id + 1).
  int add_link(VertexId u, VertexId v, double up_Bps, double down_Bps, double latency_s,
               LinkClass link_class);
  /// Declares GPU `gpu` to reach other GPUs of its node through `fabric` (links gpu<->fabric
  /// must exist) and the network through `nic` (null_vertex() for none). The NIC is cabled
  /// either to the GPU itself or, in PCIe nodes, to the fabric switch (`nic_behind_fabric`).
  void attach_gpu(VertexId gpu, VertexId fabric, VertexId nic, bool nic_behind_fabric);
  /// Declares the leaf a NIC is cabled to.
  void attach_nic(VertexId nic, VertexId leaf);
  /// Checks consistency and prepares routing; call once after building.
  void finalize();

  // ---- facts ----
  const std::string& name() const { return name_; }
  const TopologyGraph& graph() const { return graph_; }
  int num_gpus() const { return static_cast<int>(gpus_.size()); }
  int num_nodes() const { return num_nodes_; }
  int num_vertices_of(VertexKind kind) const;
  /// Network switches (leaf, spine, core); node fabrics are counted by num_vertices_of().
  int num_switches() const;
  int num_directed_links() const { return static_cast<int>(links_.size()); }
  /// Physical (bidirectional) links per class.
  std::array<int, NUM_LINK_CLASSES> links_by_class() const;
  const TopologyLink& link(int id) const;
  /// "gpu12", "leaf3", "spine0", "nic5", ... for messages and traces.
  std::string vertex_name(VertexId v) const;
  /// The two endpoints of a directed link.
  std::pair<VertexId, VertexId> link_endpoints(int id) const;
  VertexId gpu_vertex(int gpu) const { return gpus_.at(gpu).vertex; }
  int node_of_gpu(int gpu) const { return graph_[gpus_.at(gpu).vertex].node; }
  /// Index of the leaf switch a GPU's NIC is cabled to, -1 if the node has no network.
  int leaf_of_gpu(int gpu) const;
  bool has_network() const { return !leaves_.empty(); }
  /// Per-GPU fair share of a link class (see PathInfo::fair_share_Bps); valid after finalize().
  double fair_share_Bps(LinkClass link_class) const { return fair_share_Bps_[static_cast<std::size_t>(link_class)]; }
  /// How much less per GPU the switch links carry than the NICs: the largest NIC fair share over
  /// a switch class's (leaf, spine, core) among the classes the cluster has; 1 on non-blocking
  /// networks, 4 on a 4:1 tree, 1 without a network.
  double oversubscription() const;
  /// Whether every network switch has at most one link up (to a switch of a higher level): one
  /// path between any two GPUs, no ECMP choice (trees; not fat-trees or rails).
  bool single_path() const;

  // ---- routing (after finalize) ----
  /// Directed link ids a transfer from GPU `src` to GPU `dst` crosses, in order.
  std::vector<int> route(int src, int dst) const;
  /// Appends the route to `out` (no allocation when `out` has capacity).
  void append_route(int src, int dst, std::vector<int>& out) const;
  /// Every route inside group `group` of `group_size` consecutive GPUs (an expert-parallel
  /// group), walked on first use and kept: thread-safe, shared by copies of this topology.
  const GroupRoutes& group_routes(int group_size, int group) const { return route_cache_.get(*this, group_size, group); }
  PathInfo path_info(int src, int dst) const;
  PathInfo summarize(const std::vector<int>& route, int src, int dst) const;

 private:
  struct GpuAttachment {
    VertexId vertex = 0;
    int fabric_up = -1, fabric_down = -1;  // GPU <-> node fabric
    // GPU -> NIC and NIC -> GPU: one link, or two through the fabric switch (PCIe nodes).
    std::array<int, 2> to_nic{-1, -1}, from_nic{-1, -1};
    int nic = -1;                          // index into nics_, -1 without network
  };
  struct NicAttachment {
    int leaf = -1;                         // index into leaves_
    int leaf_up = -1, leaf_down = -1;      // NIC <-> leaf
  };
  int find_link(VertexId u, VertexId v) const;
  void index_switch_edges();
  void prepare_ecmp();
  int next_hop_link(VertexId at, int target_leaf, int src, int dst) const;

  std::string name_;
  TopologyGraph graph_;
  // Our own copy of every directed link, by id. Edge descriptors of a vecS adjacency list point
  // into vectors that move as edges are added, so they are never stored.
  struct StoredLink {
    TopologyLink link;
    VertexId source, target;
  };
  std::vector<StoredLink> links_;
  std::vector<GpuAttachment> gpus_;
  std::vector<int> nic_index_of_vertex_;   // vertex -> NIC index or -1
  std::vector<NicAttachment> nics_;
  std::vector<VertexId> leaves_;
  std::vector<int> switch_slot_;            // vertex -> dense network-switch index or -1
  int num_network_switches_ = 0;
  // distance_[leaf * num_network_switches_ + slot]: hops from a switch to each leaf.
  std::vector<std::uint8_t> distance_;
  // Every network switch's links to other network switches, in out-edge order, as flat arrays
  // (slot -> [switch_edges_begin_[slot], switch_edges_begin_[slot + 1])): routing walks these
  // once per hop, and Boost's adjacency lists cost a pointer chase per edge.
  std::vector<int> switch_edges_begin_;
  std::vector<int> switch_edge_target_slot_;
  std::vector<int> switch_edge_link_;
  std::vector<int> switch_level_;  // per slot
  // Per (target leaf, slot): the next-hop candidates as a run of the slot's switch edges, when
  // they are contiguous there (first edge offset in the low 16 bits, count in the high 16), else
  // NO_RUN and next_hop_link scans. Fat-trees' up-links are one run, their down-link one edge.
  std::vector<std::uint32_t> candidate_run_;
  std::array<int, 7> num_of_kind_{};
  std::array<double, NUM_LINK_CLASSES> fair_share_Bps_{};
  std::vector<int> rank_under_leaf_;  // per GPU: its index among the GPUs of its leaf
  std::vector<int> ecmp_stride_;      // per switch level: GPUs under one switch of the level below
  int num_nodes_ = 0;
  bool finalized_ = false;
  mutable GroupRouteCache route_cache_;
};

}  // namespace comet
