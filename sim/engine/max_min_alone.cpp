#include "max_min_alone.hpp"

#include <functional>
#include <queue>

#include "fluid_network.hpp"

namespace comet {

MaxMinAlone max_min_alone(const CoalescedOp& op, const FlowCoalescer& coalescer, double window,
                          std::map<std::pair<std::int32_t, std::int32_t>, std::vector<int>>& routes) {
  // FluidNetwork's timers on a plain event queue: (time, insertion order) -> callback.
  struct Timer {
    double time_s;
    std::uint64_t order;
    std::function<void()> callback;
    bool operator>(const Timer& other) const { return time_s != other.time_s ? time_s > other.time_s : order > other.order; }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;
  double now = 0.0;
  std::uint64_t order = 0;
  std::vector<double> capacity(static_cast<std::size_t>(coalescer.num_links()));
  for (int id = 0; id < coalescer.num_links(); ++id) capacity[id] = coalescer.link(id).Bps;
  FluidNetwork network(std::move(capacity), window, [&now] { return now; },
                       [&](double time_s, std::function<void()> callback) {
                         timers.push({time_s, order++, std::move(callback)});
                       });
  MaxMinAlone result;
  result.part_end_s.assign(op.gpus.size(), 0.0);
  for (std::size_t f = 0; f < op.flows.size(); ++f) {
    const Flow& flow = op.flows[f];
    auto [route, inserted] = routes.try_emplace({flow.src, flow.dst});
    if (inserted) route->second = coalescer.route(flow.src, flow.dst);
    network.start(route->second, flow.bytes, [&result, &op, &now, f] {
      for (std::int32_t member : op.flow_members[f]) result.part_end_s[member] = std::max(result.part_end_s[member], now);
      result.duration_s = std::max(result.duration_s, now);
    });
  }
  while (!timers.empty()) {
    Timer timer = timers.top();
    timers.pop();
    now = timer.time_s;
    timer.callback();
  }
  return result;
}

}  // namespace comet
