#include "perfetto_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "a2a_footprint.hpp"
#include "gpu_activity.hpp"
#include "link_usage.hpp"

namespace comet {
namespace {

using Json = nlohmann::ordered_json;

constexpr int COMM_TID_BASE = 1000;  // all-to-all lanes after the compute lanes of a GPU

// Metadata events carry ts, dur and tid too, so that every event has the same five fields.
Json metadata(const char* name, int pid, int tid, Json args) {
  return Json{{"name", name}, {"ph", "M"}, {"ts", 0}, {"dur", 0}, {"pid", pid}, {"tid", tid}, {"args", std::move(args)}};
}

Json complete_event(const TimelineOp& op, const std::string& name, const char* category, int pid, int tid, Json args) {
  args["op"] = op.op;
  args["layer"] = op.tags.layer;
  args["step"] = op.tags.step;
  args["direction"] = std::string(to_string(op.tags.direction));
  args["chunk"] = op.tags.chunk;
  return Json{{"name", name},
              {"cat", category},
              {"ph", "X"},
              {"ts", op.start_s * 1e6},
              {"dur", (op.end_s - op.start_s) * 1e6},
              {"pid", pid},
              {"tid", tid},
              {"args", std::move(args)}};
}

std::string lane_name(const std::string& base, int lane) {
  return lane == 0 ? base : fmt::format("{} ({})", base, lane + 1);
}

void add_gpu_process(const TraceInput& in, int gpu, int sort_index, Json& events) {
  const Timeline& timeline = *in.timeline;
  const int pid = gpu + 1;
  const std::string name = fmt::format("GPU {} (node {}{})", gpu, in.topology->node_of_gpu(gpu),
                                       gpu == in.critical_gpu ? ", critical" : "");
  events.push_back(metadata("process_name", pid, 0, {{"name", name}}));
  events.push_back(metadata("process_sort_index", pid, 0, {{"sort_index", sort_index}}));
  const std::vector<ActivityBar> bars = gpu_activity(timeline, gpu, in.expert_parallel);
  for (const bool communication : {false, true}) {
    std::vector<const ActivityBar*> track;
    std::vector<std::pair<double, double>> intervals;
    for (const ActivityBar& bar : bars)
      if (bar.communication == communication) {
        track.push_back(&bar);
        intervals.emplace_back(bar.start_s, bar.end_s);
      }
    const std::vector<int> lanes = assign_lanes(intervals);
    const int num_lanes = lanes.empty() ? 0 : *std::max_element(lanes.begin(), lanes.end()) + 1;
    const int base = communication ? COMM_TID_BASE : 1;
    const std::string title =
        communication ? fmt::format("all-to-all (group {})", gpu / std::max(1, in.expert_parallel)) : "compute";
    for (int lane = 0; lane < num_lanes; ++lane) {
      events.push_back(metadata("thread_name", pid, base + lane, {{"name", lane_name(title, lane)}}));
      events.push_back(metadata("thread_sort_index", pid, base + lane, {{"sort_index", base + lane}}));
    }
    for (std::size_t i = 0; i < track.size(); ++i) {
      const TimelineOp& op = timeline.ops[track[i]->op];
      Json args = communication ? Json{{"phase", track[i]->name}, {"stage", op.tags.stage}, {"group", op.group}, {"bytes", op.bytes}}
                                : Json{{"flops", op.flops}, {"bytes", op.bytes}};
      events.push_back(complete_event(op, track[i]->name, communication ? "communication" : "compute", pid,
                                      base + lanes[i], std::move(args)));
    }
  }
}

// For every all-to-all op, the bytes it put on each of the chosen links.
std::vector<std::vector<std::pair<std::int32_t, double>>> ops_on_links(const TraceInput& in,
                                                                       const std::vector<int>& links) {
  std::vector<std::vector<std::pair<std::int32_t, double>>> per_link(links.size());
  A2aFootprints footprints(*in.plan, *in.topology);
  for (const Op& op : in.plan->ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    const std::vector<LinkLoad>& loads = footprints.of(op).loads;  // sorted by link id
    for (std::size_t l = 0; l < links.size(); ++l) {
      const auto found = std::lower_bound(loads.begin(), loads.end(), links[l],
                                          [](const LinkLoad& load, int id) { return load.link < id; });
      if (found != loads.end() && found->link == links[l]) per_link[l].emplace_back(op.id, found->bytes);
    }
  }
  return per_link;
}

void add_links_process(const TraceInput& in, const std::vector<int>& links, int pid, Json& events) {
  if (links.empty()) return;
  const Timeline& timeline = *in.timeline;
  events.push_back(metadata("process_name", pid, 0, {{"name", fmt::format("most loaded links (top {})", links.size())}}));
  events.push_back(metadata("process_sort_index", pid, 0, {{"sort_index", -1}}));
  const auto per_link = ops_on_links(in, links);
  int tid = 1;
  for (std::size_t l = 0; l < links.size(); ++l) {
    const LinkUsage usage = describe_link(timeline, *in.topology, links[l]);
    const double bandwidth = in.topology->link(links[l]).bandwidth_Bps;
    std::vector<std::pair<double, double>> intervals;
    for (const auto& [op, bytes] : per_link[l]) intervals.emplace_back(timeline.ops[op].start_s, timeline.ops[op].end_s);
    const std::vector<int> lanes = assign_lanes(intervals);
    const int num_lanes = lanes.empty() ? 1 : *std::max_element(lanes.begin(), lanes.end()) + 1;
    const std::string title = fmt::format("{} ({}, {:.0f}% busy)", usage.name, usage.link_class, 100 * usage.utilization);
    for (int lane = 0; lane < num_lanes; ++lane) {
      events.push_back(metadata("thread_name", pid, tid + lane, {{"name", lane_name(title, lane)}}));
      events.push_back(metadata("thread_sort_index", pid, tid + lane, {{"sort_index", tid + lane}}));
    }
    for (std::size_t i = 0; i < per_link[l].size(); ++i) {
      const TimelineOp& op = timeline.ops[per_link[l][i].first];
      const double bytes = per_link[l][i].second, seconds = op.end_s - op.start_s;
      Json args{{"link", usage.name}, {"phase", std::string(to_string(op.tags.phase))}, {"group", op.group},
                {"bytes_on_link", bytes}, {"share_of_bandwidth", seconds > 0 ? bytes / (bandwidth * seconds) : 0.0}};
      events.push_back(complete_event(op, std::string(to_string(op.tags.phase)), "link", pid, tid + lanes[i], std::move(args)));
    }
    tid += num_lanes;
  }
}

}  // namespace

std::vector<int> trace_gpus(const Timeline& timeline, int critical_gpu, int max_gpus) {
  std::vector<int> all(static_cast<std::size_t>(timeline.num_gpus));
  std::iota(all.begin(), all.end(), 0);
  if (max_gpus <= 0 || max_gpus >= timeline.num_gpus) return all;
  const std::vector<double> last = last_compute_end_by_gpu(timeline);
  std::vector<int> by_end = all;
  std::stable_sort(by_end.begin(), by_end.end(), [&](int a, int b) { return last[a] > last[b]; });
  std::vector<int> chosen{critical_gpu};
  for (int gpu : by_end) {
    if (static_cast<int>(chosen.size()) >= std::max(1, max_gpus - 1)) break;
    if (gpu != critical_gpu) chosen.push_back(gpu);
  }
  if (max_gpus >= 2 && std::find(chosen.begin(), chosen.end(), by_end.back()) == chosen.end())
    chosen.push_back(by_end.back());
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

nlohmann::ordered_json perfetto_trace(const TraceInput& in, const TraceOptions& options) {
  const std::vector<int> gpus = trace_gpus(*in.timeline, in.critical_gpu, options.max_gpus);
  const std::vector<int> links =
      busiest_links(link_utilization(*in.timeline, *in.topology), static_cast<std::size_t>(std::max(0, options.max_links)));
  Json events = Json::array();
  for (std::size_t i = 0; i < gpus.size(); ++i) add_gpu_process(in, gpus[i], static_cast<int>(i), events);
  add_links_process(in, links, in.timeline->num_gpus + 1, events);
  Json about = in.about;
  about["gpus_total"] = in.timeline->num_gpus;
  about["gpus_shown"] = gpus;
  about["critical_gpu"] = in.critical_gpu;
  about["links_shown"] = links.size();
  about["time_unit"] = "ts and dur in microseconds; one event per Timeline op";
  return Json{{"displayTimeUnit", "ms"}, {"otherData", std::move(about)}, {"traceEvents", std::move(events)}};
}

}  // namespace comet
