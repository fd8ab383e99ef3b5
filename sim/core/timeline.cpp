#include "timeline.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "input_error.hpp"

namespace comet {

double Timeline::makespan_s() const {
  if (ops.empty()) return 0.0;
  double first = ops.front().start_s, last = ops.front().end_s;
  for (const TimelineOp& op : ops) {
    first = std::min(first, op.start_s);
    last = std::max(last, op.end_s);
  }
  return last - first;
}

double Timeline::end_on(std::int32_t op, std::int32_t gpu) const {
  if (gpu >= 0 && static_cast<std::size_t>(op) < gpu_part_ends.size()) {
    const std::vector<GpuPartEnd>& parts = gpu_part_ends[op];
    const auto it = std::lower_bound(parts.begin(), parts.end(), gpu,
                                     [](const GpuPartEnd& part, std::int32_t g) { return part.gpu < g; });
    if (it != parts.end() && it->gpu == gpu) return it->end_s;
  }
  return ops[op].end_s;
}

Timeline timeline_for(const Plan& plan, const std::string& engine) {
  Timeline timeline;
  timeline.engine = engine;
  timeline.num_gpus = plan.header().num_gpus;
  timeline.ops.reserve(plan.ops().size());
  for (const Op& op : plan.ops()) {
    TimelineOp entry;
    entry.op = op.id;
    entry.kind = op.kind;
    entry.gpu = op.gpu;
    entry.group = op.group;
    entry.tags = op.tags;
    entry.flops = op.flops;
    entry.bytes = op.kind == OpKind::ALL_TO_ALL ? plan.matrices()[op.matrix].total_bytes() : op.bytes;
    timeline.ops.push_back(entry);
  }
  return timeline;
}

nlohmann::ordered_json timeline_to_json(const Timeline& t) {
  nlohmann::ordered_json j;
  j["engine"] = t.engine;
  j["num_gpus"] = t.num_gpus;
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (const TimelineOp& op : t.ops) {
    ops.push_back({{"op", op.op}, {"kind", std::string(to_string(op.kind))}, {"gpu", op.gpu}, {"group", op.group},
                   {"layer", op.tags.layer}, {"step", op.tags.step},
                   {"direction", std::string(to_string(op.tags.direction))},
                   {"phase", std::string(to_string(op.tags.phase))}, {"chunk", op.tags.chunk},
                   {"stage", op.tags.stage}, {"start_s", op.start_s}, {"end_s", op.end_s}, {"flops", op.flops},
                   {"bytes", op.bytes}});
    if (static_cast<std::size_t>(op.op) < t.gpu_part_ends.size() && !t.gpu_part_ends[op.op].empty()) {
      nlohmann::ordered_json parts = nlohmann::ordered_json::array();
      for (const GpuPartEnd& part : t.gpu_part_ends[op.op]) parts.push_back({part.gpu, part.end_s});
      ops.back()["gpu_end_s"] = std::move(parts);
    }
  }
  j["ops"] = std::move(ops);
  j["link_bytes"] = t.link_bytes;
  j["link_busy_s"] = t.link_busy_s;
  j["link_effective_Bps"] = t.link_effective_Bps;
  return j;
}

Timeline timeline_from_json(const nlohmann::json& j, const std::string& origin) {
  auto kind_of = [&](const std::string& name) {
    for (std::size_t k = 0; k < NUM_OP_KINDS; ++k)
      if (to_string(static_cast<OpKind>(k)) == name) return static_cast<OpKind>(k);
    throw InputError({origin, 0, 0}, "ops[].kind", name, "unknown op kind");
  };
  try {
    Timeline t;
    t.engine = j.at("engine").get<std::string>();
    t.num_gpus = j.at("num_gpus").get<int>();
    for (const auto& op : j.at("ops")) {
      TimelineOp entry;
      entry.op = op.at("op").get<std::int32_t>();
      entry.kind = kind_of(op.at("kind").get<std::string>());
      entry.gpu = op.at("gpu").get<std::int32_t>();
      entry.group = op.at("group").get<std::int32_t>();
      entry.tags.layer = op.at("layer").get<std::int32_t>();
      entry.tags.step = op.at("step").get<std::int32_t>();
      entry.tags.direction = op.at("direction").get<std::string>() == "backward" ? Direction::BACKWARD : Direction::FORWARD;
      entry.tags.chunk = op.at("chunk").get<std::int32_t>();
      entry.tags.stage = op.at("stage").get<std::int32_t>();
      const std::string phase = op.at("phase").get<std::string>();
      for (auto p : {A2aPhase::NONE, A2aPhase::DISPATCH, A2aPhase::COMBINE, A2aPhase::COMBINE_GRAD, A2aPhase::DISPATCH_GRAD})
        if (to_string(p) == phase) entry.tags.phase = p;
      entry.start_s = op.at("start_s").get<double>();
      entry.end_s = op.at("end_s").get<double>();
      entry.flops = op.at("flops").get<double>();
      entry.bytes = op.at("bytes").get<double>();
      if (const auto parts = op.find("gpu_end_s"); parts != op.end()) {
        t.gpu_part_ends.resize(t.ops.size() + 1);
        for (const auto& part : *parts) {
          const GpuPartEnd end{part.at(0).get<std::int32_t>(), part.at(1).get<double>()};
          if (end.gpu < 0 || end.gpu >= t.num_gpus || end.end_s < entry.start_s || end.end_s > entry.end_s ||
              (!t.gpu_part_ends.back().empty() && end.gpu <= t.gpu_part_ends.back().back().gpu))
            throw InputError({origin, 0, 0}, fmt::format("ops[{}].gpu_end_s", t.ops.size()), part.dump(),
                             "[gpu, end_s] pairs sorted by GPU, gpu in [0, num_gpus), start_s <= end_s <= the op's end_s");
          t.gpu_part_ends.back().push_back(end);
        }
      }
      t.ops.push_back(entry);
    }
    if (!t.gpu_part_ends.empty()) t.gpu_part_ends.resize(t.ops.size());
    t.link_bytes = j.value("link_bytes", std::vector<double>{});
    t.link_busy_s = j.value("link_busy_s", std::vector<double>{});
    t.link_effective_Bps = j.value("link_effective_Bps", std::vector<double>{});
    return t;
  } catch (const nlohmann::json::exception& error) {
    throw InputError({origin, 0, 0}, "", "", std::string("not a comet timeline: ") + error.what());
  }
}

}  // namespace comet
