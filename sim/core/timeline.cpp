#include "timeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

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
  std::vector<double> matrix_bytes(plan.matrices().size(), -1.0);  // a matrix serves several ops: summed once
  for (const Op& op : plan.ops()) {
    TimelineOp entry;
    entry.op = op.id;
    entry.kind = op.kind;
    entry.gpu = op.gpu;
    entry.group = op.group;
    entry.tags = op.tags;
    entry.flops = op.flops;
    entry.bytes = op.bytes;
    if (op.kind == OpKind::ALL_TO_ALL) {
      double& bytes = matrix_bytes[static_cast<std::size_t>(op.matrix)];
      if (bytes < 0.0) bytes = plan.matrices()[op.matrix].total_bytes();
      entry.bytes = bytes;
    }
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
    if (op.ended_by_stream) ops.back()["ended_by_stream"] = true;
    if (op.stream_wait_s > 0.0) ops.back()["stream_wait_s"] = op.stream_wait_s;
  }
  j["ops"] = std::move(ops);
  j["link_bytes"] = t.link_bytes;
  j["link_busy_s"] = t.link_busy_s;
  j["link_effective_Bps"] = t.link_effective_Bps;
  return j;
}

namespace {

// A whole-number field of a timeline: a JSON integer within int32. nlohmann's get<int> would cast
// a float or a 26-digit number (undefined behaviour, found by the fuzzer).
std::int32_t int_field(const nlohmann::json& value, const std::string& field, const std::string& origin) {
  const bool fits = (value.is_number_unsigned() && value.get<std::uint64_t>() <= INT32_MAX) ||
                    (value.is_number_integer() && !value.is_number_unsigned() && value.get<std::int64_t>() >= INT32_MIN &&
                     value.get<std::int64_t>() <= INT32_MAX);
  if (!fits) throw InputError({origin, 0, 0}, field, value.dump(), "a whole number (32-bit)");
  return static_cast<std::int32_t>(value.get<std::int64_t>());
}

}  // namespace

Timeline timeline_from_json(const nlohmann::json& j, const std::string& origin) {
  auto kind_of = [&](const std::string& name) {
    for (std::size_t k = 0; k < NUM_OP_KINDS; ++k)
      if (to_string(static_cast<OpKind>(k)) == name) return static_cast<OpKind>(k);
    throw InputError({origin, 0, 0}, "ops[].kind", name, "unknown op kind");
  };
  try {
    Timeline t;
    t.engine = j.at("engine").get<std::string>();
    t.num_gpus = int_field(j.at("num_gpus"), "num_gpus", origin);
    if (t.num_gpus < 1) throw InputError({origin, 0, 0}, "num_gpus", std::to_string(t.num_gpus), "at least 1");
    const auto& ops = j.at("ops");
    for (const auto& op : ops) {
      const std::size_t index = t.ops.size();
      auto field = [&](const char* name) { return fmt::format("ops[{}].{}", index, name); };
      TimelineOp entry;
      // Ops are listed by id: entry i is op i (the Plan's numbering, which prediction relies on).
      entry.op = int_field(op.at("op"), field("op"), origin);
      if (entry.op != static_cast<std::int32_t>(index))
        throw InputError({origin, 0, 0}, field("op"), std::to_string(entry.op), fmt::format("{} (ops listed by id)", index));
      entry.kind = kind_of(op.at("kind").get<std::string>());
      entry.gpu = int_field(op.at("gpu"), field("gpu"), origin);
      // An all-to-all runs on its group, not on one GPU: its gpu is -1.
      const std::int32_t lowest_gpu = entry.kind == OpKind::ALL_TO_ALL ? -1 : 0;
      if (entry.gpu < lowest_gpu || entry.gpu >= t.num_gpus)
        throw InputError({origin, 0, 0}, field("gpu"), std::to_string(entry.gpu),
                         fmt::format("a GPU in [{}, {}) (num_gpus)", lowest_gpu, t.num_gpus));
      entry.group = int_field(op.at("group"), field("group"), origin);
      if (entry.group < 0 || entry.group >= t.num_gpus)
        throw InputError({origin, 0, 0}, field("group"), std::to_string(entry.group),
                         fmt::format("an expert-parallel group in [0, {})", t.num_gpus));
      entry.tags.layer = int_field(op.at("layer"), field("layer"), origin);
      entry.tags.step = int_field(op.at("step"), field("step"), origin);
      const std::string direction = op.at("direction").get<std::string>();
      if (direction == to_string(Direction::FORWARD)) entry.tags.direction = Direction::FORWARD;
      else if (direction == to_string(Direction::BACKWARD)) entry.tags.direction = Direction::BACKWARD;
      else throw InputError({origin, 0, 0}, field("direction"), direction, "forward or backward");
      entry.tags.chunk = int_field(op.at("chunk"), field("chunk"), origin);
      entry.tags.stage = int_field(op.at("stage"), field("stage"), origin);
      const std::string phase = op.at("phase").get<std::string>();
      bool known_phase = false;
      for (auto p : {A2aPhase::NONE, A2aPhase::DISPATCH, A2aPhase::COMBINE, A2aPhase::COMBINE_GRAD, A2aPhase::DISPATCH_GRAD})
        if (to_string(p) == phase) {
          entry.tags.phase = p;
          known_phase = true;
        }
      if (!known_phase)
        throw InputError({origin, 0, 0}, field("phase"), phase, "none, dispatch, combine, combine_grad or dispatch_grad");
      entry.start_s = op.at("start_s").get<double>();
      entry.end_s = op.at("end_s").get<double>();
      if (!std::isfinite(entry.start_s) || !std::isfinite(entry.end_s) || entry.start_s < 0.0 || entry.end_s < entry.start_s)
        throw InputError({origin, 0, 0}, field("end_s"), fmt::format("[{}, {}]", entry.start_s, entry.end_s),
                         "finite times with 0 <= start_s <= end_s");
      entry.flops = op.at("flops").get<double>();
      entry.bytes = op.at("bytes").get<double>();
      entry.ended_by_stream = op.value("ended_by_stream", false);
      entry.stream_wait_s = op.value("stream_wait_s", 0.0);
      if (!(entry.stream_wait_s >= 0.0) || entry.stream_wait_s > entry.end_s - entry.start_s)
        throw InputError({origin, 0, 0}, field("stream_wait_s"), fmt::format("{}", entry.stream_wait_s),
                         "seconds between 0 and the op's span");
      if (!(entry.flops >= 0.0) || !(entry.bytes >= 0.0) || !std::isfinite(entry.flops) || !std::isfinite(entry.bytes))
        throw InputError({origin, 0, 0}, field("flops"), fmt::format("flops {}, bytes {}", entry.flops, entry.bytes),
                         "finite, non-negative flops and bytes");
      if (const auto parts = op.find("gpu_end_s"); parts != op.end()) {
        t.gpu_part_ends.resize(t.ops.size() + 1);
        for (const auto& part : *parts) {
          const GpuPartEnd end{int_field(part.at(0), field("gpu_end_s"), origin), part.at(1).get<double>()};
          if (end.gpu < 0 || end.gpu >= t.num_gpus || end.end_s < entry.start_s || end.end_s > entry.end_s ||
              (!t.gpu_part_ends.back().empty() && end.gpu <= t.gpu_part_ends.back().back().gpu))
            throw InputError({origin, 0, 0}, field("gpu_end_s"), part.dump(),
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
