#include "analytical_engine.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <queue>
#include <tuple>

#include "a2a_footprint.hpp"
#include "compute_streams.hpp"
#include "dependency_release.hpp"
#include "op_costs.hpp"
#include "stream_floors.hpp"
#include "transfer_slowdown.hpp"

namespace comet {
namespace {

// STREAM_RELEASE: an all-to-all streaming from computations (a fused combine) may end its parts
// from now: its producers ended a streaming tail ago.
// COMPUTE_START: a computation queued on its stream, with ops streaming from it, starts.
enum class EventType { READY, COMPUTE_START, COMPUTE_END, TRANSFER_BEGIN, TRANSFER_CHECK, STREAM_RELEASE };

struct Event {
  double time;
  std::uint64_t sequence;  // ties resolve in insertion order: deterministic
  EventType type;
  std::int32_t op;
  std::uint64_t version;
  bool operator>(const Event& other) const {
    return time != other.time ? time > other.time : sequence > other.sequence;
  }
};

struct ActiveTransfer {
  std::int32_t op;
  const A2aFootprint* footprint;
  int part = 0;                // independent_parts(): rates are solved per part
  std::size_t parts_done = 0;  // footprint->parts[0 .. parts_done) have ended
  double remaining = 1.0;      // fraction of the op's bytes still to move
  double rate = 0.0;           // fraction per second its most contended link allows
  std::uint64_t version = 0;   // its latest TRANSFER_CHECK event; older ones are stale
};

class Schedule {
 public:
  Schedule(const Plan& plan, const Topology& topology, const CostModel& model, const AnalyticalOptions& options)
      : plan_(plan), topology_(topology), model_(model), per_gpu_(options.per_gpu_completion && per_gpu_completion()),
        footprints_(plan, topology, &model, options.shared_pacing, per_gpu_),
        timeline_(timeline_for(plan, "analytical")), release_(plan),
        streams_(topology.num_gpus(), model), residual_Bps_(topology.num_directed_links(), 0.0),
        demand_(topology.num_directed_links(), 0.0),
        effective_Bps_(topology.num_directed_links()), edges_(gpu_edge_links(topology, model)),
        slowed_by_(topology.num_directed_links(), 0) {
    timeline_.link_bytes.assign(topology.num_directed_links(), 0.0);
    timeline_.gpu_part_ends.resize(plan.ops().size());
    for (int id = 0; id < topology.num_directed_links(); ++id) effective_Bps_[id] = model.effective_Bps(topology.link(id));
    capacity_Bps_ = effective_Bps_;
    int num_parts = 0;
    part_of_group_ = independent_parts(plan, topology, footprints_, num_parts);
    part_dirty_.assign(static_cast<std::size_t>(num_parts), 0);
    for (std::int32_t id : release_.roots()) push(0.0, EventType::READY, id);
  }

  const PacingProfiles& pacing() const { return footprints_.pacing(); }

  Timeline run() {
    while (!events_.empty()) {
      const Event event = events_.top();
      events_.pop();
      advance_to(event.time);
      switch (event.type) {
        case EventType::READY: start(event.op); break;
        case EventType::COMPUTE_START:
          if (event.version == start_version_[event.op]) release_streamers(event.op);  // else retimed since
          break;
        case EventType::COMPUTE_END:
          if (event.version == compute_version_[event.op]) computation_reached_end(event.op);  // else retimed since
          break;
        case EventType::TRANSFER_BEGIN: begin_transfer(event.op); break;
        case EventType::TRANSFER_CHECK:
          if (ActiveTransfer* t = find_active(event.op); t && t->version == event.version) parts_reached(*t);
          break;
        case EventType::STREAM_RELEASE: stream_released(event.op); break;
      }
    }
    record_link_usage(plan_, timeline_, footprints_, topology_, model_);
    mark_ends_by_stream(plan_, model_, timeline_);
    return std::move(timeline_);
  }

 private:
  void push(double time, EventType type, std::int32_t op) { events_.push({time, sequence_++, type, op, version_}); }

  void advance_to(double time) {
    const double elapsed = time - now_;
    if (elapsed > 0.0)
      for (ActiveTransfer& t : active_) t.remaining = std::max(0.0, t.remaining - t.rate * elapsed);
    now_ = std::max(now_, time);
  }

  void start(std::int32_t id) {
    const Op& op = plan_.ops()[id];
    TimelineOp& entry = timeline_.ops[id];
    if (op.kind == OpKind::ALL_TO_ALL) {
      entry.start_s = now_;
      push(now_ + startup_s(footprints_.of(op), model_), EventType::TRANSFER_BEGIN, id);
    } else {
      std::tie(entry.start_s, entry.end_s) = streams_.schedule(op, compute_time_s(plan_, op, model_), now_, retimed_);
      apply_retimed();  // the memory kernels a computation slows
      scheduled_[id] = 1;
      if (entry.end_s < floors_.floor(id)) {  // its producers ended while its other inputs kept it
        set_end(op, floors_.floor(id));
      } else {
        push_compute_end(id, entry.end_s);
      }
      refresh_slowdown(op.gpu);
      if (entry.start_s > now_ && release_.streamed_from(id)) return push_compute_start(id, entry.start_s);  // queued
    }
    release_streamers(id);
  }

  // What streams from `id` starts with it, before ops that became ready at the same time after it
  // (as the SimGrid engines' scheduler starts them).
  void release_streamers(std::int32_t id) {
    start_version_[id] = 0;
    std::vector<std::int32_t> streaming;
    release_.started(id, streaming);
    for (std::int32_t next : streaming) start(next);
  }

  void push_compute_start(std::int32_t id, double start_s) {
    start_version_[id] = ++version_;
    events_.push({start_s, sequence_++, EventType::COMPUTE_START, id, start_version_[id]});
  }

  // A computation reached its end: it ends unless a streaming producer holds it (Plan::add).
  void computation_reached_end(std::int32_t id) {
    if (const double end = floors_.end_at(id, now_); end > now_) return set_end(plan_.ops()[id], end);
    finish(id);
  }

  void set_end(const Op& op, double end_s) {
    streams_.set_end(op, end_s, now_, retimed_);
    apply_retimed();
  }

  // The ops whose last streaming producer just ended: each may end a streaming tail from now.
  void handle_stream_ends() {
    for (std::int32_t id : release_.take_stream_ends()) {
      const Op& op = plan_.ops()[id];
      const double floor = floors_.producers_ended(id, now_);
      if (op.kind == OpKind::ALL_TO_ALL) {
        push(floor, EventType::STREAM_RELEASE, id);
      } else if (scheduled_[id] && floors_.must_move(id, timeline_.ops[id].end_s)) {
        set_end(op, floor);
      }
    }
  }

  // Streaming all-to-all `id` may end its parts now: a held one (all its bytes moved) ends them,
  // a moving one checks them at once.
  void stream_released(std::int32_t id) {
    if (const auto held = held_.find(id); held != held_.end()) {
      active_.push_back(held->second);
      held_.erase(held);
      parts_reached(active_.back());
    } else if (ActiveTransfer* t = find_active(id)) {
      parts_reached(*t);
    }
  }

  // Whether all-to-all `id`'s parts must wait: it streams from producers not ended a tail ago.
  bool gated(std::int32_t id) const { return floors_.gated(id, now_); }

  void finish(std::int32_t id) {
    timeline_.ops[id].end_s = now_;
    refresh_slowdown(plan_.ops()[id].gpu);
    release_.computation_done(id, ready_);
    handle_stream_ends();
    push_ready();
  }

  void push_compute_end(std::int32_t id, double end_s) {
    compute_version_[id] = ++version_;
    events_.push({end_s, sequence_++, EventType::COMPUTE_END, id, compute_version_[id]});
  }

  // Communication began or ended on GPUs: their computations' new spans.
  void apply_retimed() {
    for (const Retimed& r : retimed_) {
      if (start_version_[r.op] != 0 && r.start_s != timeline_.ops[r.op].start_s) push_compute_start(r.op, r.start_s);
      timeline_.ops[r.op].start_s = r.start_s;
      timeline_.ops[r.op].end_s = r.end_s;
      if (r.end_s < HELD_END_S) {
        push_compute_end(r.op, r.end_s);
      } else {
        ++compute_version_[r.op];  // held: no end until its release sets one
      }
    }
    retimed_.clear();
  }

  void push_ready() {
    for (std::int32_t next : ready_) push(now_, EventType::READY, next);
    ready_.clear();
  }

  void begin_transfer(std::int32_t id) {
    const A2aFootprint& footprint = footprints_.of(plan_.ops()[id]);
    for (const LinkLoad& load : footprint.loads) timeline_.link_bytes[load.link] += load.bytes;
    streams_.communication_begins(footprint.gpus, now_, retimed_);
    apply_retimed();
    for (std::int32_t gpu : footprint.gpus)
      if (streams_.refresh_transfer_slowdown(gpu, now_)) set_edge_capacity(gpu);
    const int part = part_of_group_[plan_.ops()[id].group];
    active_.push_back({id, &footprint, part});
    part_dirty_[part] = 1;
    solve_dirty_parts();
  }

  // The op has moved as much as its next parts need: those GPUs' parts end (their waiting
  // computations may start); after the last, the op ends.
  void parts_reached(ActiveTransfer& t) {
    const std::vector<PartThreshold>& parts = t.footprint->parts;
    const double moved = 1.0 - t.remaining;
    if (gated(t.op)) {  // streaming from computations not ended: no part ends yet
      if (moved + PROGRESS_TOLERANCE < 1.0) return push_check(t);
      held_.emplace(t.op, t);  // every byte moved: it waits for its producers, off the links
      part_dirty_[t.part] = 1;
      active_.erase(active_.begin() + (&t - active_.data()));
      return solve_dirty_parts();
    }
    std::vector<GpuPartEnd>& ends = timeline_.gpu_part_ends[t.op];
    while (t.parts_done < parts.size() && threshold(t) <= moved + PROGRESS_TOLERANCE) {
      const std::int32_t gpu = parts[t.parts_done++].gpu;
      ends.push_back({gpu, now_});
      streams_.communication_ends(gpu, now_, retimed_);
      apply_retimed();
      release_.part_done(t.op, gpu, ready_);
      handle_stream_ends();
      refresh_slowdown(gpu);  // may re-solve the rates: `t` stays valid (no op starts or ends)
    }
    if (t.parts_done < parts.size()) {
      push_check(t);
      push_ready();
      return;
    }
    const std::int32_t id = t.op;
    std::sort(ends.begin(), ends.end(), [](const GpuPartEnd& a, const GpuPartEnd& b) { return a.gpu < b.gpu; });
    timeline_.ops[id].end_s = now_;
    release_.all_to_all_done(id, t.footprint->gpus, true, ready_);
    handle_stream_ends();
    part_dirty_[t.part] = 1;
    active_.erase(active_.begin() + (&t - active_.data()));
    push_ready();
    solve_dirty_parts();
  }

  void solve_dirty_parts() {
    for (std::size_t part = 0; part < part_dirty_.size(); ++part)
      if (part_dirty_[part]) {
        part_dirty_[part] = 0;
        reschedule(static_cast<int>(part));
      }
  }

  // Max-min fair sharing by progressive filling: every active all-to-all's rate (fraction of its
  // bytes per second, all its transfers in step) rises together until a link fills; the ops
  // crossing it are frozen there, and the others keep rising on what is left. An op bottlenecked
  // on one link leaves its unused share of the others to the rest (proportional sharing wasted it).
  // Only `part`'s all-to-alls: the others share no link with them (at 10,240 GPUs, re-solving
  // every part at each event was 70% of the run). Links are shared by demand bytes: a paced op
  // asks more than its bytes of its most loaded links (A2aFootprint::stretch).
  void reschedule(int part) {
    std::vector<ActiveTransfer*> rising;
    for (ActiveTransfer& t : active_) {
      if (t.part != part) continue;
      t.rate = 0.0;
      rising.push_back(&t);
      for (const LinkLoad& load : t.footprint->loads) residual_Bps_[load.link] = capacity_Bps_[load.link];
    }
    while (!rising.empty()) {
      touched_.clear();
      for (const ActiveTransfer* t : rising)
        for (const LinkLoad& load : t->footprint->loads) {
          if (demand_[load.link] == 0.0) touched_.push_back(load.link);
          demand_[load.link] += load.demand_bytes;
        }
      double step = std::numeric_limits<double>::infinity();
      for (std::int32_t link : touched_) step = std::min(step, residual_Bps_[link] / demand_[link]);
      for (ActiveTransfer* t : rising) t->rate += step;
      for (std::int32_t link : touched_) {
        residual_Bps_[link] = std::max(0.0, residual_Bps_[link] - step * demand_[link]);
        demand_[link] = 0.0;
      }
      const std::size_t before = rising.size();
      std::erase_if(rising, [&](const ActiveTransfer* t) {
        return std::any_of(t->footprint->loads.begin(), t->footprint->loads.end(), [&](const LinkLoad& load) {
          return residual_Bps_[load.link] <= 1e-12 * capacity_Bps_[load.link];
        });
      });
      if (rising.size() == before) break;  // nothing filled: rounding; the rates stand
    }
    for (ActiveTransfer& t : active_)
      if (t.part == part) push_check(t);
  }

  // After an event on `gpu`: if it started or stopped slowing its own transfers, its edge links'
  // capacity changes, and the rates are re-solved when that capacity binds (or bound) them.
  void refresh_slowdown(std::int32_t gpu) {
    if (!streams_.refresh_transfer_slowdown(gpu, now_)) return;
    set_edge_capacity(gpu);
    solve_dirty_parts();
  }

  // Sets `gpu`'s edge links to their slowed or normal capacity; where one of them carries more
  // than its new capacity, or was full and now can carry more, the parts of the all-to-alls on
  // it are marked for a re-solve.
  void set_edge_capacity(std::int32_t gpu) {
    const bool slowed = streams_.transfers_slowed(gpu);
    for (const EdgeLink& edge : edges_[gpu]) {
      int& count = slowed_by_[edge.link];  // GPUs slowing it (a GPU-to-GPU link has two)
      count += slowed ? 1 : -1;
      const double before = capacity_Bps_[edge.link];
      capacity_Bps_[edge.link] = count > 0 ? std::min(edge.slowed_Bps, effective_Bps_[edge.link]) : effective_Bps_[edge.link];
      double demand = 0.0;  // bytes/s the active all-to-alls put on it now
      on_link_.clear();
      for (const ActiveTransfer& t : active_) {
        const auto& loads = t.footprint->loads;
        const auto it = std::lower_bound(loads.begin(), loads.end(), edge.link,
                                         [](const LinkLoad& load, std::int32_t link) { return load.link < link; });
        if (it == loads.end() || it->link != edge.link) continue;
        demand += it->demand_bytes * t.rate;
        on_link_.push_back(t.part);
      }
      const double after = capacity_Bps_[edge.link];
      if (demand > after * (1.0 + 1e-12) || (after > before && demand >= before * (1.0 - 1e-9)))
        for (int part : on_link_) part_dirty_[part] = 1;
    }
  }

  void push_check(ActiveTransfer& t) {
    const double to_move = threshold(t) - (1.0 - t.remaining);
    t.version = ++version_;
    push(now_ + std::max(0.0, to_move) / t.rate, EventType::TRANSFER_CHECK, t.op);
  }

  // The share of the op that must have moved for its next part to end (all of it while gated).
  double threshold(const ActiveTransfer& t) const {
    if (gated(t.op)) return 1.0;
    return per_gpu_ && t.parts_done < t.footprint->parts.size() ? t.footprint->parts[t.parts_done].fraction : 1.0;
  }

  ActiveTransfer* find_active(std::int32_t op) {
    const auto it = std::find_if(active_.begin(), active_.end(), [&](const ActiveTransfer& t) { return t.op == op; });
    return it == active_.end() ? nullptr : &*it;
  }

  // Progress is integrated in floating point: a part within this fraction of its threshold ends.
  static constexpr double PROGRESS_TOLERANCE = 1e-9;

  const Plan& plan_;
  const Topology& topology_;
  const CostModel& model_;
  bool per_gpu_;
  A2aFootprints footprints_;
  Timeline timeline_;
  DependencyRelease release_;
  std::vector<std::int32_t> ready_;  // scratch: ops a release made ready
  std::vector<Retimed> retimed_;     // scratch: computations a communication change moved
  std::vector<std::uint64_t> compute_version_ = std::vector<std::uint64_t>(plan_.ops().size(), 0);
  std::vector<char> scheduled_ = std::vector<char>(plan_.ops().size(), 0);  // computations on their streams
  /// Computations streamed from and queued: the version of their COMPUTE_START event (0: none pending).
  std::vector<std::uint64_t> start_version_ = std::vector<std::uint64_t>(plan_.ops().size(), 0);
  StreamFloors floors_{plan_, model_, release_};
  std::map<std::int32_t, ActiveTransfer> held_;  // streaming all-to-alls with every byte moved, waiting
  ComputeStreams streams_;
  std::vector<double> residual_Bps_, demand_;  // per link, scratch of reschedule()
  std::vector<std::int32_t> touched_;
  std::vector<double> effective_Bps_;
  std::vector<double> capacity_Bps_;  // per link: effective, or less at a GPU slowing its transfers
  std::vector<std::vector<EdgeLink>> edges_;
  std::vector<int> slowed_by_;        // per link: GPUs whose slowdown it carries
  std::vector<ActiveTransfer> active_;
  std::vector<int> part_of_group_;  // independent_parts()
  std::vector<char> part_dirty_;    // per part: its rates need a re-solve
  std::vector<int> on_link_;        // scratch of set_edge_capacity(): parts of the transfers on a link
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  double now_ = 0.0;
  std::uint64_t sequence_ = 0;
  std::uint64_t version_ = 0;
};

}  // namespace

Timeline AnalyticalEngine::run(const Plan& plan, const Topology& topology, const CostModel& model) {
  if (plan.header().transfer_blocks > 0 && model.transfer_cap_Bps == 0.0)  // a fused Plan: its blocks cap its transfers
    return run(plan, topology, model.with_transfer_blocks(plan.header().transfer_blocks));
  Schedule schedule(plan, topology, model, options_);
  Timeline timeline = schedule.run();
  if (options_.made_pacing) *options_.made_pacing = schedule.pacing();
  return timeline;
}

}  // namespace comet
