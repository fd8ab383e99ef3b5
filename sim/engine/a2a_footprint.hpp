// What one all-to-all op puts on the network: bytes per directed link (its transfers routed over
// the topology's Boost.Graph paths, ECMP included), the longest path latency, and the GPUs
// taking part. Shared by every simulated engine; cached per (matrix, direction) because the
// combine and the backward phases reuse the dispatch's matrices.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "cost_model.hpp"
#include "plan.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace comet {

struct LinkLoad {
  std::int32_t link = 0;
  double bytes = 0.0;
  /// What the op asks of the link's capacity as it moves `bytes` there: `bytes`, except on a paced
  /// op's most loaded links, bytes x its stretch (A2aFootprint::stretch). Engines share links by
  /// these; link figures count `bytes`.
  double demand_bytes = 0.0;
};

/// When one GPU's part of an all-to-all ends, as a fraction of the op's progress.
struct PartThreshold {
  std::int32_t gpu = 0;
  double fraction = 1.0;  ///< in (0, 1]: the GPU's part is done once this share of the op has moved
};

struct A2aFootprint {
  std::vector<LinkLoad> loads;      ///< sorted by link id, no zeros
  double latency_s = 0.0;           ///< longest path latency among the transfers
  int max_messages = 0;             ///< the most sends + receives (peers) of one of its GPUs
  std::vector<std::int32_t> gpus;   ///< sources and destinations, sorted, unique
  /// One per GPU of `gpus`, sorted by fraction (ties by GPU); filled only by footprints built
  /// with a cost model. The op's profile alone: every link shares its bandwidth equally among
  /// the transfers crossing it (processor sharing: a transfer of b bytes over a link whose
  /// transfers are b_i is done there after sum_i min(b_i, b) / bandwidth); a transfer ends at
  /// the latest of its links, a GPU's part with its last transfer sent or received; fraction =
  /// that time over the op's (its most loaded link's bytes over bandwidth, which its largest
  /// transfer there reaches, so the last part's fraction is 1). For a paced op (stretch), the
  /// fractions are instead each GPU's part end in that simulation over its duration.
  std::vector<PartThreshold> parts;
  /// Paced ops only (footprints built with a cost model on a network where pacing_applies()): how
  /// much longer the op's bytes take alone under per-flow max-min (max_min_alone.hpp) than the
  /// in-step bound, >= 1. Per-flow max-min keeps the op's most loaded link busy only 1/stretch of
  /// the time, so there the op asks stretch x its bytes of the link's capacity (demand_bytes):
  /// alone it then takes the max-min duration, and an op beside it loses that link's time too
  /// (pipelined `fixed:4` layers on skewed 128- and 256-GPU 4:1 trees within 0.3% of `flow`:
  /// `comet bench --sections engines --sizes 128,256`; docs/engines.md, "Pacing").
  double stretch = 1.0;
};

/// Whether footprints built with a cost model on `topology` are paced by per-flow max-min: the
/// network's switch links are oversubscribed (on non-blocking networks only the GPUs' edge links
/// bind and the in-step bound is within 0.2% of per-pair max-min: docs/engines.md), there is one
/// path between any two GPUs (Topology::single_path: trees; where ECMP chooses, coalesced flows
/// read up to 2% above per-pair max-min on MoE layers, no closer than in step, and far off on
/// traffic skewed towards one node: docs/engines.md), and
/// COMET_A2A_PACING is unset or `max-min` (`none` turns it off; anything else is bad input).
bool pacing_applies(const Topology& topology);

/// Seconds before its bytes flow: the longest path latency, plus the per-message cost of the GPU
/// that posts the most (CostModel::a2a_per_message_s).
double startup_s(const A2aFootprint& footprint, const CostModel& model);

/// Seconds the footprint needs alone once its bytes flow: max over links of demand bytes over the
/// link's effective bandwidth (the in-step bound, times the stretch of a paced op).
double alone_s(const A2aFootprint& footprint, const Topology& topology, const CostModel& model);

class A2aFootprints;
class FlowCoalescer;

/// An all-to-all op alone under per-flow max-min (pacing): its stretch, and its GPUs' part
/// fractions.
struct PacingProfile {
  double stretch = 1.0;
  std::vector<PartThreshold> parts;  ///< sorted by GPU
  std::vector<LinkLoad> loads;       ///< the simulated op's, to compare shapes with
};

/// Pacing profiles by exchange: (group, layer, step, stage, reversed) -> the profiles simulated for
/// its chunks. Made by one A2aFootprints; another, of a Plan on the same topology, cost model and
/// routing, may read them (`dynamic`'s candidates read the whole exchange's: docs/engines.md).
struct PacingProfiles {
  using Exchange = std::tuple<std::int32_t, std::int32_t, std::int32_t, std::int32_t, bool>;
  std::map<Exchange, std::vector<PacingProfile>> by_exchange;
};

/// Fills `timeline`'s link_busy_s (per link, the union of the spans of the all-to-alls whose
/// footprint uses it) and link_effective_Bps (the cost model's effective bandwidth), once its ops
/// are timed. Every simulated engine calls it, so the figures mean the same in each.
void record_link_usage(const Plan& plan, Timeline& timeline, A2aFootprints& footprints, const Topology& topology,
                       const CostModel& model);

class A2aFootprints {
 public:
  /// With `model`, footprints also hold their GPUs' part thresholds (A2aFootprint::parts; all 1,
  /// the op's end, without `per_gpu_parts`). With `model` and pacing_applies(), paced too
  /// (A2aFootprint::stretch), reusing the profiles of `shared` (read only; null: none) where a chunk
  /// has the shape of one.
  A2aFootprints(const Plan& plan, const Topology& topology, const CostModel* model = nullptr,
                const PacingProfiles* shared = nullptr, bool per_gpu_parts = true);
  ~A2aFootprints();
  /// The pacing profiles this Plan's footprints simulated (after the first of()).
  const PacingProfiles& pacing() const { return pacing_; }
  /// The footprint of an all-to-all op. The first call computes every all-to-all's, group by
  /// group (groups split over the cores), over the topology's routes of each group
  /// (Topology::group_routes: walked once, whatever the chunks, phases and Plans); within a group,
  /// one direction at a time, the chunks moving bytes between the same pairs in one walk (compute()).
  const A2aFootprint& of(const Op& op);

 private:
  /// Cosine of two ops' per-link times (bytes over effective bandwidth): 1 for the same shape.
  double shape_similarity(const std::vector<LinkLoad>& a, const std::vector<LinkLoad>& b) const;
  /// Chunks at least this alike share a pacing profile: on the 1024-GPU tree scenario four chunks
  /// are 0.9976 alike, their layer 0.3% from simulating each; eight are 0.990, and sharing moved
  /// the layer 2% (similarities measured once with a temporary print; the layers by `comet
  /// simulate scenarios/tree-1024.yaml --partition fixed:8 --engine analytical` before and after).
  static constexpr double SAME_SHAPE = 0.995;
  /// Matrices computed in one walk of their routes, at most (compute()).
  static constexpr std::size_t MAX_BATCH = 8;
  /// One thread's scratch: per-link bytes, per-GPU messages, and the current group's matrices'
  /// transfers in increasing bytes (a matrix's two directions are computed in two batches:
  /// sorted once).
  struct Worker {
    std::vector<double> scratch;
    std::vector<int> messages;
    std::map<std::int32_t, std::vector<std::int32_t>> orders;  // by matrix
    // Of the batch compute() walked last, kept for fill_parts: each transfer's route, and how
    // many transfers cross each link.
    std::vector<std::span<const int>> route;
    std::vector<double> transfers_on_link;
    // Per link, the rate fill_parts divides by: the effective rate, and for a representative the
    // slowest of its twins' (GroupRoutes::distinct_links) in the group of `parts_routes`.
    const GroupRoutes* parts_routes = nullptr;
    std::vector<double> parts_Bps;
    std::map<std::pair<std::int32_t, std::int32_t>, std::vector<int>> flow_routes;  // pacing's routes
    PacingProfiles pacing;  // simulated by this worker (its groups' exchanges)
  };
  void compute_all();
  /// The footprints of `batch`: all-to-all ops of one group and direction whose matrices move
  /// bytes between the same pairs (same_pairs), from one walk of their routes.
  std::vector<A2aFootprint> compute(const std::vector<const Op*>& batch, Worker& worker) const;
  /// The routes of `op`'s group; throws if a transfer of `matrix` leaves the group.
  const GroupRoutes& routes_of(const Op& op, const TransferMatrix& matrix) const;
  /// `order`: the matrix's transfers by increasing bytes; `worker.route` and
  /// `worker.transfers_on_link`: its routes and link counts (compute()'s walk).
  void fill_parts(const TransferMatrix& matrix, const std::vector<std::int32_t>& order, Worker& worker,
                  A2aFootprint& footprint) const;
  /// The op of `matrix` alone under per-flow max-min.
  PacingProfile pacing_alone(const TransferMatrix& matrix, bool reversed, Worker& worker, const A2aFootprint& footprint) const;
  /// Sets the footprint's stretch, demand bytes and parts from `pacing`.
  void apply(const PacingProfile& pacing, A2aFootprint& footprint) const;
  /// A profile of `exchange` (this worker's, then the shared ones) `loads` has the shape of.
  const PacingProfile* alike(const PacingProfiles& own, const PacingProfiles::Exchange& exchange,
                             const std::vector<LinkLoad>& loads) const;
  /// Max over links of bytes / effective bandwidth.
  double in_step_s(const A2aFootprint& footprint) const;

  const Plan& plan_;
  const Topology& topology_;
  const CostModel* model_;
  std::unique_ptr<FlowCoalescer> coalescer_;  // pacing's flows; null when not paced
  const PacingProfiles* shared_;
  bool per_gpu_parts_;
  PacingProfiles pacing_;  // the workers' profiles, merged after compute_all()
  std::map<std::pair<std::int32_t, bool>, A2aFootprint> cache_;
  std::vector<double> effective_Bps_;  // per link, with a cost model
  bool computed_all_ = false;
};

/// Expert-parallel groups whose all-to-alls share no link cannot influence each other (the Plan
/// has no dependency between groups): per group, its part, one connected set of groups that an
/// engine may solve on its own; `num_parts` receives how many. The count depends on the routing:
/// each 256-GPU group of fat-tree-1024 is its own part, the groups of one 1024-GPU pod of
/// fat-tree-10240 form one.
std::vector<int> independent_parts(const Plan& plan, const Topology& topology, A2aFootprints& footprints,
                                   int& num_parts);

/// The same over any resources: `resources_of(op, visit)` calls visit(id) for each resource
/// (0 <= id < num_resources) all-to-all `op` uses. The flow engine's are its SimGrid links,
/// virtual source-group links included (they pool NICs, possibly of several groups).
std::vector<int> independent_parts(
    const Plan& plan, int num_resources,
    const std::function<void(const Op& op, const std::function<void(int resource)>& visit)>& resources_of,
    int& num_parts);

}  // namespace comet
