// The phase engine's running all-to-all tasks, each an L07 parallel task over only the link
// hosts that may bind while it runs.
//
// Why not every link an op loads: one L07 task is one max-min variable over its hosts, and
// SimGrid 3.32 does work quadratic in a variable's hosts when it is created (System::expand
// searches the variable's constraints linearly for each one added) and again at every re-solve
// (update_modified_cnst_set_rec walks the variable's constraint list once per constraint it
// reaches). A 256-GPU all-to-all on the default fat tree loads 2,560 directed links; those two
// functions were 59% of `comet simulate`'s time.
//
// Why leaving links out changes no rate: a task never moves faster than alone (rate <= 1 /
// alone_s, its most loaded link's demand bytes over bandwidth), so the running tasks ask at most
// sum over them of demand bytes / alone_s of a link (LinkAsk). A link whose ask stays below the
// lowest speed it can run at is never saturated, and under max-min a constraint that never
// saturates limits no one. Each task's own most loaded link asks its full speed, so it is always
// in. When a task starts, links it shares may start to bind: every running task that loads such
// a link and lacks it is restarted on the links it now needs, with its remaining share of its
// bytes (an L07 task cannot gain hosts; a cancelled one keeps its share until SimGrid reaps it, so
// it is suspended first). Sets never need to shrink, so tasks ending restart none.
//
// COMET_PHASE_LINKS=all runs every task on every link it loads: the reference. L07's solver
// (SimGrid's "fair bottleneck") is max-min only in the limit of its rounds, in which a link that
// never saturates can still cap a task's step, so the two may differ slightly: on the shipped
// scenarios every op starts and ends at the same time to 1e-15 of the layer, except tree-1024
// under `fine` (up to 2.4e-4 of the layer, 7 us, with the direct all-to-all; the same layer time).
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include <simgrid/s4u.hpp>

#include "a2a_footprint.hpp"

namespace comet {

/// What the running all-to-all tasks may ask of each directed link, in bytes per second: the sum
/// over them of their demand bytes there over their seconds alone.
class LinkAsk {
 public:
  explicit LinkAsk(std::size_t num_links) : Bps_(num_links, 0.0) {}
  /// A task of `footprint`, `alone_s` long alone, starts (`sign` 1) or ends (-1).
  void add(const A2aFootprint& footprint, double alone_s, double sign);
  double Bps(std::int32_t link) const { return Bps_[static_cast<std::size_t>(link)]; }

 private:
  std::vector<double> Bps_;
};

class PhaseTransfers {
 public:
  /// `link_host[l]`: the host standing for directed link l (null where no task loads it);
  /// `floor_Bps[l]`: the lowest speed that host can run at (its slowed power state, if any);
  /// `every_link`: run each task on every link it loads (the reference; never restarts).
  PhaseTransfers(std::vector<simgrid::s4u::Host*> link_host, std::vector<double> floor_Bps, const LinkAsk& ask,
                 bool every_link);

  /// COMET_PHASE_LINKS: `binding` (unset: the default) or `all` (every_link); anything else is
  /// bad input (InputError).
  static bool every_link_from_environment();

  /// Starts op `id`'s task; `ask` must already count it. Restarts the running tasks that now
  /// need a link they lack.
  void start(std::int32_t id, const A2aFootprint& footprint);
  /// If `activity` is a running transfer task, forgets it and returns its op; otherwise nothing
  /// (hops, and tasks cancelled by a restart).
  std::optional<std::int32_t> finished(const simgrid::s4u::Activity& activity);
  /// How many tasks were restarted on more links (a figure for tests and profiles).
  int restarts() const { return restarts_; }

 private:
  struct Task {
    std::int32_t id = 0;
    const A2aFootprint* footprint = nullptr;
    std::vector<std::int32_t> links;  // sorted: the link hosts it runs on
    simgrid::s4u::ExecPtr exec;
  };
  std::vector<std::int32_t> links_that_may_bind(const A2aFootprint& footprint) const;
  /// Starts `task` on `links` with `share` (0, 1] of its demand bytes there.
  void launch(Task task, std::vector<std::int32_t> links, double share);

  std::vector<simgrid::s4u::Host*> link_host_;
  std::vector<double> floor_Bps_;
  const LinkAsk& ask_;
  bool every_link_ = false;
  std::unordered_map<const simgrid::s4u::Activity*, Task> running_;
  std::vector<simgrid::s4u::ExecPtr> keep_alive_;  // never released inside a callback: SimGrid still uses them
  int restarts_ = 0;
};

}  // namespace comet
