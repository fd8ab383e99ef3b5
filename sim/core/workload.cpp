#include "workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include "atomic_file.hpp"
#include "input_error.hpp"
#include "sequential_binomials.hpp"

namespace comet {
namespace {

// splitmix64: seeds independent streams per (seed, step, source) reproducibly.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t step, std::uint64_t src) {
  return mix(mix(mix(seed) ^ (step + 0x51ed27)) ^ (src + 0x2545f491));
}

// Caps every probability at `cap` and hands the excess to the others in proportion
// (water-filling); the result still sums to 1 when cap * size >= 1.
void cap_probabilities(std::vector<double>& p, double cap) {
  for (int round = 0; round < 64; ++round) {
    double excess = 0.0, free_mass = 0.0;
    for (double v : p) {
      if (v > cap) excess += v - cap;
      else if (v < cap) free_mass += v;
    }
    if (excess <= 1e-15) return;
    for (double& v : p) {
      if (v >= cap) v = cap;
      else if (free_mass > 0.0) v += excess * v / free_mass;
    }
    if (free_mass <= 0.0) {  // everything below cap was zero: spread the excess evenly
      std::size_t open = 0;
      for (double v : p) open += v < cap ? 1 : 0;
      for (double& v : p)
        if (v < cap && open > 0) v += excess / static_cast<double>(open);
    }
  }
}

// Moves any count above `limit` to experts with room, largest room first, so no count exceeds it.
void cap_counts(std::int32_t* counts, int experts, std::int64_t limit) {
  std::int64_t excess = 0;
  for (int e = 0; e < experts; ++e) {
    if (counts[e] <= limit) continue;
    excess += counts[e] - limit;
    counts[e] = static_cast<std::int32_t>(limit);
  }
  for (int e = 0; e < experts && excess > 0; ++e) {
    const std::int64_t room = limit - counts[e];
    const std::int64_t moved = std::min(room, excess);
    counts[e] += static_cast<std::int32_t>(moved);
    excess -= moved;
  }
}

[[noreturn]] void trace_error(const std::filesystem::path& path, int line, const std::string& field,
                              const std::string& value, const std::string& expected) {
  throw InputError({path.string(), line, 0}, field, value, expected);
}

std::int64_t parse_field(const std::filesystem::path& path, int line, const std::string& name, std::string_view text,
                         std::int64_t max) {
  std::int64_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0 || value > max)
    trace_error(path, line, name, std::string(text), fmt::format("expected a whole number in [0, {}]", max));
  return value;
}

}  // namespace

Workload::Workload(const WorkloadSpec& spec, const RoutingShape& shape) : spec_(spec), shape_(shape) {
  if (shape.num_experts < shape.top_k) throw std::invalid_argument("Workload: top_k exceeds the expert count");
  expert_order_.resize(shape.num_experts);
  std::iota(expert_order_.begin(), expert_order_.end(), 0);
  std::mt19937_64 rng(mix(spec.seed ^ 0x0e7e0e7eULL));
  std::shuffle(expert_order_.begin(), expert_order_.end(), rng);
  if (spec.routing.kind == RoutingKind::TRACE) {
    trace_steps_ = read_trace_csv(spec.routing.trace, shape);
    if (static_cast<int>(trace_steps_.size()) < spec.placement_fit_steps + spec.steps)
      throw InputError({spec.routing.trace.string(), 0, 0}, "workload.steps", std::to_string(spec.steps),
                       fmt::format("the trace has {} steps; expected at least workload.placement_fit_steps ({}) + "
                                   "workload.steps ({}): a trace holds the steps placements are fitted on first "
                                   "(set placement_fit_steps: 0 to fit on the scored steps)",
                                   trace_steps_.size(), spec.placement_fit_steps, spec.steps));
  }
}

std::int64_t Workload::tokens_of(int step, int src) const {
  double tokens = static_cast<double>(spec_.tokens_per_gpu);
  const RoutingSpec& r = spec_.routing;
  if (r.kind == RoutingKind::HOT_RANK && src == r.hot_rank) tokens *= r.factor;
  if (r.kind == RoutingKind::BURST) {
    // One draw per step decides whether the whole step is a burst.
    const double u = static_cast<double>(mix(stream_seed(spec_.seed, step, ~0ULL)) >> 11) * 0x1.0p-53;
    if (u < r.probability) tokens *= r.factor;
  }
  return static_cast<std::int64_t>(std::llround(tokens));
}

std::vector<double> Workload::expert_probabilities(int step, int src) const {
  const int experts = shape_.num_experts;
  const RoutingSpec& r = spec_.routing;
  std::vector<double> p(experts, 1.0 / experts);
  auto hot_set = [&](int first_rank, int count, double share) {
    std::fill(p.begin(), p.end(), experts > count ? (1.0 - share) / (experts - count) : 0.0);
    // first_rank is negative in the fit steps before step 0: a modulo that stays in 0..experts-1.
    for (int i = 0; i < count; ++i) p[expert_order_[((first_rank + i) % experts + experts) % experts]] = share / count;
  };
  switch (r.kind) {
    case RoutingKind::UNIFORM:
    case RoutingKind::HOT_RANK:
    case RoutingKind::BURST:
    case RoutingKind::TRACE:
      break;
    case RoutingKind::ZIPF: {
      double sum = 0.0;
      for (int rank = 0; rank < experts; ++rank) sum += std::pow(rank + 1.0, -r.alpha);
      for (int rank = 0; rank < experts; ++rank) p[expert_order_[rank]] = std::pow(rank + 1.0, -r.alpha) / sum;
      break;
    }
    case RoutingKind::HOT_EXPERTS:
      hot_set(0, r.hot_experts, r.hot_share);
      break;
    case RoutingKind::ROTATING:
      // Floor division: the fit steps before step 0 belong to earlier periods.
      hot_set((step >= 0 ? step / r.period : -((-step + r.period - 1) / r.period)) * r.hot_experts, r.hot_experts,
              r.hot_share);
      break;
    case RoutingKind::AFFINITY: {
      // Sources are grouped by position in their expert-parallel group; group g prefers the g-th
      // slice of a seeded expert permutation (so contiguous placement does not co-locate them).
      const int groups = r.groups;
      const int position = src % shape_.expert_parallel;
      const int g = static_cast<int>(static_cast<std::int64_t>(position) * groups / shape_.expert_parallel);
      const int begin = static_cast<int>(static_cast<std::int64_t>(g) * experts / groups);
      const int end = static_cast<int>(static_cast<std::int64_t>(g + 1) * experts / groups);
      for (double& v : p) v = (1.0 - r.strength) / experts;
      for (int rank = begin; rank < end; ++rank) p[expert_order_[rank]] += r.strength / (end - begin);
      break;
    }
  }
  cap_probabilities(p, 1.0 / shape_.top_k);
  return p;
}

RoutingMatrix Workload::sample(int step) const {
  if (step < 0 || step >= spec_.steps) throw std::out_of_range(fmt::format("step {} of {}", step, spec_.steps));
  if (!trace_steps_.empty()) return trace_steps_[static_cast<std::size_t>(spec_.placement_fit_steps + step)];
  return generate(step);
}

RoutingMatrix Workload::fit_sample(int i) const {
  if (i < 0 || i >= spec_.placement_fit_steps)
    throw std::out_of_range(fmt::format("fit step {} of {}", i, spec_.placement_fit_steps));
  if (!trace_steps_.empty()) return trace_steps_[static_cast<std::size_t>(i)];
  return generate(i - spec_.placement_fit_steps);
}

RoutingMatrix Workload::placement_routing(int scored_steps) const {
  RoutingMatrix sum(shape_.num_gpus, shape_.num_experts);
  if (spec_.placement_fit_steps > 0)
    for (int i = 0; i < spec_.placement_fit_steps; ++i) sum += fit_sample(i);
  else
    for (int step = 0; step < scored_steps; ++step) sum += sample(step);
  return sum;
}

RoutingMatrix Workload::generate(int step) const {
  RoutingMatrix matrix(shape_.num_gpus, shape_.num_experts);
  // Sources with the same probabilities share one vector; affinity has one per group.
  std::vector<int> key_of(static_cast<std::size_t>(shape_.num_gpus));
  std::map<int, std::vector<double>> probabilities;
  for (int src = 0; src < shape_.num_gpus; ++src) {
    key_of[src] = spec_.routing.kind == RoutingKind::AFFINITY
                      ? static_cast<int>(static_cast<std::int64_t>(src % shape_.expert_parallel) * spec_.routing.groups /
                                         shape_.expert_parallel)
                      : 0;
    if (!probabilities.contains(key_of[src])) probabilities.emplace(key_of[src], expert_probabilities(step, src));
  }
  // Every source draws from its own seeded stream, so sources split over threads give the same
  // matrix as one thread; drawing is most of a Plan's build time at 1024 GPUs.
  auto draw_sources = [&](int first, int last) {
    for (const auto& [key, p] : probabilities) {
      std::vector<SourceDraw> sources;  // each holds a 2.5 KB stream: no regrowth
      sources.reserve(static_cast<std::size_t>(last - first));
      for (int src = first; src < last; ++src)
        if (key_of[src] == key)
          sources.push_back({std::mt19937_64(stream_seed(spec_.seed, static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(src))),
                             tokens_of(step, src) * shape_.top_k, matrix.row(src)});
      draw_sequential_binomials(p, sources);
    }
    for (int src = first; src < last; ++src) cap_counts(matrix.row(src), shape_.num_experts, tokens_of(step, src));
  };
  const int threads = std::clamp(shape_.num_gpus / 256, 1, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t)
    helpers.emplace_back(draw_sources, shape_.num_gpus * t / threads, shape_.num_gpus * (t + 1) / threads);
  draw_sources(0, shape_.num_gpus / threads);
  for (std::thread& helper : helpers) helper.join();
  return matrix;
}

std::vector<RoutingMatrix> read_trace_csv(const std::filesystem::path& path, const RoutingShape& shape) {
  std::ifstream in(path);
  if (!in) throw InputError({path.string(), 0, 0}, "", "", "cannot open the trace file");
  std::string text;
  int line_number = 0;
  bool header_seen = false;
  std::map<int, RoutingMatrix> steps;
  while (std::getline(in, text)) {
    ++line_number;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty()) continue;
    if (text[0] == '#') {
      // "# gpus=N experts=E": written by export; must agree with the scenario when present.
      int gpus = -1, experts = -1;
      if (std::sscanf(text.c_str(), "# gpus=%d experts=%d", &gpus, &experts) == 2) {
        if (gpus != shape.num_gpus)
          trace_error(path, line_number, "gpus", std::to_string(gpus),
                      fmt::format("the trace is for {} GPUs; the scenario has {}", gpus, shape.num_gpus));
        if (experts != shape.num_experts)
          trace_error(path, line_number, "experts", std::to_string(experts),
                      fmt::format("the trace is for {} experts; the scenario has {}", experts, shape.num_experts));
      }
      continue;
    }
    if (!header_seen) {
      if (text != "step,src_gpu,expert,tokens")
        trace_error(path, line_number, "header", text, "expected the header 'step,src_gpu,expert,tokens'");
      header_seen = true;
      continue;
    }
    std::vector<std::string_view> fields;
    std::string_view rest = text;
    for (std::size_t comma; (comma = rest.find(',')) != std::string_view::npos; rest.remove_prefix(comma + 1))
      fields.push_back(rest.substr(0, comma));
    fields.push_back(rest);
    if (fields.size() != 4) trace_error(path, line_number, "", text, "expected 4 comma-separated fields");
    const auto step = static_cast<int>(parse_field(path, line_number, "step", fields[0], 1000000));
    const std::int64_t src = parse_field(path, line_number, "src_gpu", fields[1], 1 << 30);
    const std::int64_t expert = parse_field(path, line_number, "expert", fields[2], 1 << 30);
    const std::int64_t tokens = parse_field(path, line_number, "tokens", fields[3], 1 << 30);
    if (src >= shape.num_gpus)
      trace_error(path, line_number, "src_gpu", std::string(fields[1]),
                  fmt::format("GPU {} is outside the scenario's {} GPUs", src, shape.num_gpus));
    if (expert >= shape.num_experts)
      trace_error(path, line_number, "expert", std::string(fields[2]),
                  fmt::format("unknown expert {}; the model has {} experts", expert, shape.num_experts));
    auto [it, inserted] = steps.try_emplace(step, shape.num_gpus, shape.num_experts);
    std::int32_t& cell = it->second.at(static_cast<int>(src), static_cast<int>(expert));
    if (cell != 0) trace_error(path, line_number, "", text, "duplicate (step, src_gpu, expert) entry");
    cell = static_cast<std::int32_t>(tokens);
  }
  if (!header_seen) throw InputError({path.string(), 0, 0}, "", "", "empty trace; expected a CSV with header step,src_gpu,expert,tokens");
  std::vector<RoutingMatrix> result;
  for (auto& [step, matrix] : steps) {
    if (step != static_cast<int>(result.size()))
      throw InputError({path.string(), 0, 0}, "step", std::to_string(step),
                       fmt::format("steps must be numbered 0, 1, 2, ... without gaps; step {} is missing", result.size()));
    result.push_back(std::move(matrix));
  }
  return result;
}

void write_trace_csv(const std::filesystem::path& path, const std::vector<RoutingMatrix>& steps) {
  std::string text;
  if (!steps.empty()) text += fmt::format("# gpus={} experts={}\n", steps[0].num_gpus(), steps[0].num_experts());
  text += "step,src_gpu,expert,tokens\n";
  for (std::size_t step = 0; step < steps.size(); ++step) {
    const RoutingMatrix& m = steps[step];
    // A step without any copies still needs a row, or it would read back as a gap.
    if (m.total() == 0) fmt::format_to(std::back_inserter(text), "{},0,0,0\n", step);
    for (int src = 0; src < m.num_gpus(); ++src)
      for (int e = 0; e < m.num_experts(); ++e)
        if (m.at(src, e) != 0) fmt::format_to(std::back_inserter(text), "{},{},{},{}\n", step, src, e, m.at(src, e));
  }
  write_file_atomically(path, text);
}

}  // namespace comet
