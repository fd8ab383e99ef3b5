#include "gpu_activity.hpp"

#include <algorithm>
#include <numeric>

namespace comet {

std::vector<ActivityBar> gpu_activity(const Timeline& timeline, int gpu, int expert_parallel) {
  const int group = gpu / std::max(1, expert_parallel);
  std::vector<ActivityBar> bars;
  for (const TimelineOp& op : timeline.ops) {
    const bool communication = op.kind == OpKind::ALL_TO_ALL;
    if (communication ? op.group != group : op.gpu != gpu) continue;
    bars.push_back({op.op, op.start_s, op.end_s, communication,
                    std::string(communication ? to_string(op.tags.phase) : to_string(op.kind))});
  }
  std::stable_sort(bars.begin(), bars.end(), [](const ActivityBar& a, const ActivityBar& b) { return a.start_s < b.start_s; });
  return bars;
}

std::vector<int> assign_lanes(const std::vector<std::pair<double, double>>& intervals) {
  std::vector<std::size_t> order(intervals.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return intervals[a].first < intervals[b].first; });
  std::vector<int> lane(intervals.size(), 0);
  std::vector<double> lane_end;
  for (std::size_t i : order) {
    std::size_t l = 0;
    while (l < lane_end.size() && lane_end[l] > intervals[i].first) ++l;
    if (l == lane_end.size()) lane_end.push_back(0.0);
    lane_end[l] = intervals[i].second;
    lane[i] = static_cast<int>(l);
  }
  return lane;
}

std::vector<double> last_compute_end_by_gpu(const Timeline& timeline) {
  std::vector<double> last(static_cast<std::size_t>(timeline.num_gpus), -1.0);
  for (const TimelineOp& op : timeline.ops)
    if (op.gpu >= 0 && op.gpu < timeline.num_gpus) last[op.gpu] = std::max(last[op.gpu], op.end_s);
  return last;
}

}  // namespace comet
