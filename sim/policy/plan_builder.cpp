#include "plan_builder.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "a2a_algorithms.hpp"
#include "a2a_footprint.hpp"
#include "analytical_engine.hpp"
#include "timeline.hpp"
#include "input_error.hpp"
#include "partition_policies.hpp"
#include "placement_policies.hpp"
#include "workload.hpp"

namespace comet {
namespace {

using Ids = std::vector<std::int32_t>;
using Matrices = std::vector<std::vector<std::int32_t>>;  // [chunk * groups + group] -> stage matrix ids

// Emits the ops of one request; keeps the per-GPU frontier ("what the next op on this GPU waits
// for") across layers and steps.
class PlanEmitter {
 public:
  /// `kept_groups` (one flag per expert-parallel group; null: all): the groups whose ops it emits.
  PlanEmitter(const PlanRequest& request, Plan& plan, const ExpertPlacement& placement,
              const std::vector<bool>* kept_groups = nullptr)
      : r_(request), plan_(plan), placement_(placement), model_(request.scenario->model),
        gpus_(request.topology->num_gpus()), ep_(request.scenario->expert_parallel),
        bytes_per_copy_(model_.bytes_per_token_copy()), last_(gpus_) {
    for (int group = 0; group < gpus_ / ep_; ++group) {
      if (kept_groups && !kept_groups->at(static_cast<std::size_t>(group))) continue;
      groups_.push_back(group);
      for (int g = group * ep_; g < (group + 1) * ep_; ++g) emitted_gpus_.push_back(g);
    }
  }

  void forward(int step, int layer, const RoutingMatrix& routing, const ChunkPlan& chunks, const Matrices& matrices);
  void backward(int step, int layer, const RoutingMatrix& routing, const ChunkPlan& chunks, const Matrices& matrices);
  /// Adds the transfer matrices of every chunk and group.
  Matrices add_matrices(const ChunkPlan& chunks);

 private:
  std::int32_t compute(OpKind kind, int gpu, OpTags tags, double flops, double bytes, const Ids& deps) {
    Op op;
    op.kind = kind;
    op.gpu = gpu;
    op.group = gpu / ep_;
    op.tags = tags;
    op.flops = flops;
    op.bytes = bytes;
    return plan_.add(op, deps);
  }
  Ids after(int gpu, std::int32_t also = -1) const {
    Ids deps = last_[gpu];
    if (also >= 0) deps.push_back(also);
    return deps;
  }
  // The shared experts of `gpu` (flops per token), if the model has any: -1 otherwise.
  std::int32_t shared_experts(int gpu, OpTags tags, double tokens, double flops_per_token, const Ids& deps) {
    return flops_per_token > 0.0 ? compute(OpKind::SHARED_EXPERT, gpu, tags, tokens * flops_per_token, 0.0, deps) : -1;
  }
  // The stages of one all-to-all in one group; returns what a consumer must wait for: the last
  // stage, or `inputs` when there is no traffic at all (an expert-parallel group of one GPU).
  // With `stream_inputs` (fused policies) the first stage streams from `inputs` instead of waiting for them.
  Ids all_to_all(int group, OpTags tags, const std::vector<std::int32_t>& stages, bool reversed, Ids inputs,
                 std::int32_t previous, bool stream_inputs = false);
  // `work_share` of each expert's pass (Op::work_share); `streaming`: what it streams from.
  std::int32_t gemm(OpKind kind, int gpu, OpTags tags, const std::vector<std::int64_t>& slot_tokens, double sm_fraction,
                    const Ids& deps, double work_share = 1.0, const Ids& streaming = {});
  // A fused policy's expert pass on `gpu`: its two projections, the first streaming from the
  // all-to-all that brings its rows (`arrived`: that op, or what it waits for when its group
  // exchanged nothing), the second after it. `first_share`: the first projection's share of the
  // pass (forward: gate + up, 2/3; backward data gradient: down's, 1/3). Returns the second.
  std::int32_t fused_gemms(int gpu, OpTags tags, const std::vector<std::int64_t>& slot_tokens, double sm_fraction,
                           const Ids& arrived, double first_share);
  // Tokens of each local expert slot of `gpu` in `chunk`.
  std::vector<std::int64_t> slot_tokens(int gpu, const TokenExchange& chunk) const;
  // One all-to-all phase of chunk tags.chunk in every group: `inputs[g]` is GPU g's op feeding
  // it, `previous[group]` the group's last op of this phase (stream order; updated). Returns
  // per GPU what its next op waits for: its group's last stage, or its own input when the
  // group exchanges nothing (a group of one GPU, or no tokens).
  std::vector<Ids> exchange(OpTags tags, A2aPhase phase, bool reversed, const Ids& inputs,
                            std::vector<std::int32_t>& previous, const Matrices& matrices, bool stream_inputs = false);
  /// Bytes each GPU's permute or unpermute of a chunk reads and writes.
  std::vector<double> bytes_moved(const TokenExchange& chunk) const;
  static Ids in_stream(Ids deps, std::int32_t previous);

  const PlanRequest& r_;
  Plan& plan_;
  const ExpertPlacement& placement_;
  const MoeModel& model_;
  int gpus_, ep_;
  double bytes_per_copy_;
  std::vector<Ids> last_;  // per GPU, what its next layer or direction starts after
  std::vector<int> groups_, emitted_gpus_;  // the groups emitted, and their GPUs
};

Ids PlanEmitter::all_to_all(int group, OpTags tags, const std::vector<std::int32_t>& stages, bool reversed, Ids inputs,
                            std::int32_t previous, bool stream_inputs) {
  Ids streaming;
  if (stream_inputs) streaming = inputs;
  Ids frontier = stream_inputs ? Ids{} : std::move(inputs);
  if (previous >= 0) frontier.push_back(previous);
  const int count = static_cast<int>(stages.size());
  bool any = false;
  for (int i = 0; i < count; ++i) {
    // Reversed traffic (combine, dispatch-grad) runs the stages backwards.
    const std::int32_t matrix = stages[reversed ? count - 1 - i : i];
    if (plan_.matrices()[matrix].transfers.empty()) continue;
    Op op;
    op.kind = OpKind::ALL_TO_ALL;
    op.group = group;
    op.tags = tags;
    op.tags.stage = i;
    op.matrix = matrix;
    op.reversed = reversed;
    frontier = {plan_.add(op, frontier, streaming)};
    streaming.clear();  // later stages wait for the one before
    any = true;
  }
  if (!any && previous >= 0) frontier.pop_back();
  if (!any && stream_inputs) return streaming;
  return frontier;
}

std::vector<std::int64_t> PlanEmitter::slot_tokens(int gpu, const TokenExchange& chunk) const {
  std::vector<std::int64_t> tokens(placement_.experts_on(gpu % ep_).size());
  for (std::size_t s = 0; s < tokens.size(); ++s) tokens[s] = chunk.slot(gpu, static_cast<int>(s));
  return tokens;
}

// EXPERT_GEMM: the forward, or the backward's data gradient, of one chunk; EXPERT_WGRAD: the
// backward's weight gradient. Each is the flops of the forward over its tokens (three H x F
// SwiGLU matrices, 2 flops per multiply-add).
std::int32_t PlanEmitter::gemm(OpKind kind, int gpu, OpTags tags, const std::vector<std::int64_t>& slot_tokens,
                               double sm_fraction, const Ids& deps, double work_share, const Ids& streaming) {
  std::vector<ExpertWork> work;
  double tokens = 0.0;
  const std::vector<int>& experts = placement_.experts_on(gpu % ep_);
  for (std::size_t s = 0; s < experts.size(); ++s) {
    if (slot_tokens[s] == 0) continue;
    work.push_back({experts[s], slot_tokens[s]});
    tokens += static_cast<double>(slot_tokens[s]);
  }
  Op op;
  op.kind = kind;
  op.gpu = gpu;
  op.group = gpu / ep_;
  op.tags = tags;
  op.flops = tokens * 2.0 * 3.0 * model_.hidden * model_.expert_ffn * work_share;
  op.compute_sm_fraction = sm_fraction;
  op.work_share = work_share;
  op.first_work = plan_.add_work(work);
  op.num_work = static_cast<std::int32_t>(work.size());
  return plan_.add(op, deps, streaming);
}

std::int32_t PlanEmitter::fused_gemms(int gpu, OpTags tags, const std::vector<std::int64_t>& slot_tokens, double sm_fraction,
                                      const Ids& arrived, double first_share) {
  Ids deps, streaming;  // an all-to-all is streamed from; anything else (no exchange) waited for
  for (std::int32_t id : arrived) (plan_.ops()[id].kind == OpKind::ALL_TO_ALL ? streaming : deps).push_back(id);
  tags.stage = 0;  // EXPERT_GEMM's stage: which projection of a fused pass
  const std::int32_t first = gemm(OpKind::EXPERT_GEMM, gpu, tags, slot_tokens, sm_fraction, deps, first_share, streaming);
  tags.stage = 1;
  return gemm(OpKind::EXPERT_GEMM, gpu, tags, slot_tokens, sm_fraction, {first}, 1.0 - first_share);
}

Matrices PlanEmitter::add_matrices(const ChunkPlan& chunks) {
  const A2aAlgorithm algorithm = parse_a2a_algorithm(r_.a2a.name);
  const int groups = gpus_ / ep_;
  Matrices ids(chunks.chunks.size() * static_cast<std::size_t>(groups));
  for (std::size_t c = 0; c < chunks.chunks.size(); ++c)
    for (int group : groups_)
      for (TransferMatrix& m : build_a2a_stages(chunks.chunks[c], group, algorithm, *r_.topology, bytes_per_copy_, model_.top_k))
        ids[c * groups + group].push_back(plan_.add_matrix(std::move(m)));
  return ids;
}

std::vector<Ids> PlanEmitter::exchange(OpTags tags, A2aPhase phase, bool reversed, const Ids& inputs,
                                       std::vector<std::int32_t>& previous, const Matrices& matrices, bool stream_inputs) {
  const int groups = gpus_ / ep_;
  tags.phase = phase;
  std::vector<Ids> waits(gpus_);
  for (int group : groups_) {
    const Ids group_inputs(inputs.begin() + group * ep_, inputs.begin() + (group + 1) * ep_);
    const Ids done =
        all_to_all(group, tags, matrices[tags.chunk * groups + group], reversed, group_inputs, previous[group], stream_inputs);
    const bool exchanged = done.size() == 1;
    if (exchanged) previous[group] = done[0];
    for (int g = group * ep_; g < (group + 1) * ep_; ++g) waits[g] = exchanged ? done : Ids{inputs[g]};
  }
  return waits;
}

std::vector<double> PlanEmitter::bytes_moved(const TokenExchange& chunk) const {
  std::vector<double> bytes(gpus_, 0.0);
  for (int g : emitted_gpus_)
    for (int p = 0; p < ep_; ++p) bytes[g] += 2.0 * static_cast<double>(chunk.pair(g, p)) * bytes_per_copy_;
  return bytes;
}

// Stream order: a chunk's op on a GPU also waits for the previous chunk's op of its kind there.
Ids PlanEmitter::in_stream(Ids deps, std::int32_t previous) {
  if (previous >= 0) deps.push_back(previous);
  return deps;
}

void PlanEmitter::forward(int step, int layer, const RoutingMatrix& routing, const ChunkPlan& chunks,
                          const Matrices& matrices) {
  const double attention = attention_flops_per_token(model_, r_.scenario->workload.sequence_length);
  const double shared = shared_expert_flops_per_token(model_);
  const std::vector<std::int64_t> copies_sent = routing.per_source();
  OpTags tags{layer, step, Direction::FORWARD, A2aPhase::NONE, 0, 0};
  Ids gate(gpus_), shared_ops(gpus_, -1);
  for (int g : emitted_gpus_) {
    const double tokens = static_cast<double>(copies_sent[g]) / model_.top_k;
    const std::int32_t block = compute(OpKind::NON_MOE, g, tags, tokens * attention, 0.0, after(g));
    gate[g] = compute(OpKind::GATE, g, tags, tokens * 2.0 * model_.hidden * model_.experts,
                      tokens * model_.hidden * model_.dtype_bytes, {block});
  }
  Ids permute(gpus_, -1), gemm_ops(gpus_, -1), unpermute(gpus_, -1);
  const bool fused = chunks.transfer_blocks > 0;  // one chunk (partition_tokens)
  std::vector<std::int32_t> dispatch_prev(gpus_ / ep_, -1), combine_prev(gpus_ / ep_, -1);
  for (int c = 0; c < static_cast<int>(chunks.chunks.size()); ++c) {
    const TokenExchange& chunk = chunks.chunks[c];
    const std::vector<double> bytes = bytes_moved(chunk);
    tags.chunk = c;
    for (int g : emitted_gpus_)
      permute[g] = compute(OpKind::PERMUTE, g, tags, 0.0, bytes[g], in_stream({gate[g]}, permute[g]));
    // The shared experts after the first permute (ops ready at once start in id order): they
    // run while the first chunk's dispatch travels.
    if (c == 0)
      for (int g : emitted_gpus_)
        shared_ops[g] = shared_experts(g, tags, static_cast<double>(copies_sent[g]) / model_.top_k, shared, {gate[g]});
    const std::vector<Ids> dispatched = exchange(tags, A2aPhase::DISPATCH, false, permute, dispatch_prev, matrices);
    for (int g : emitted_gpus_)
      gemm_ops[g] = fused ? fused_gemms(g, tags, slot_tokens(g, chunk), chunks.compute_sm_fraction, dispatched[g], 2.0 / 3.0)
                          : gemm(OpKind::EXPERT_GEMM, g, tags, slot_tokens(g, chunk), chunks.compute_sm_fraction,
                                 in_stream(dispatched[g], gemm_ops[g]));
    const std::vector<Ids> combined = exchange(tags, A2aPhase::COMBINE, true, gemm_ops, combine_prev, matrices, fused);
    for (int g : emitted_gpus_)
      unpermute[g] = compute(OpKind::UNPERMUTE, g, tags, 0.0, bytes[g], in_stream(combined[g], unpermute[g]));
  }
  for (int g : emitted_gpus_) {
    last_[g] = {unpermute[g]};
    if (shared_ops[g] >= 0) last_[g].push_back(shared_ops[g]);
  }
}

void PlanEmitter::backward(int step, int layer, const RoutingMatrix& routing, const ChunkPlan& chunks,
                           const Matrices& matrices) {
  const double attention = attention_flops_per_token(model_, r_.scenario->workload.sequence_length);
  const double shared = shared_expert_flops_per_token(model_);
  const std::vector<std::int64_t> copies_sent = routing.per_source();
  OpTags tags{layer, step, Direction::BACKWARD, A2aPhase::NONE, 0, 0};
  Ids shared_ops(gpus_, -1);
  Ids unpermute(gpus_, -1), gemm_ops(gpus_, -1), wgrad_ops(gpus_, -1), permute(gpus_, -1);
  const bool fused = chunks.transfer_blocks > 0;
  std::vector<std::int32_t> combine_prev(gpus_ / ep_, -1), dispatch_prev(gpus_ / ep_, -1);
  std::vector<std::vector<std::int64_t>> layer_tokens(gpus_);
  for (int g : emitted_gpus_) layer_tokens[g].assign(placement_.experts_on(g % ep_).size(), 0);
  for (int c = 0; c < static_cast<int>(chunks.chunks.size()); ++c) {
    const TokenExchange& chunk = chunks.chunks[c];
    const std::vector<double> bytes = bytes_moved(chunk);
    tags.chunk = c;
    for (int g : emitted_gpus_)
      unpermute[g] = compute(OpKind::UNPERMUTE, g, tags, 0.0, bytes[g], after(g, unpermute[g]));
    // The shared experts' backward (twice the forward's flops) needs only the output gradient:
    // after the first unpermute, it runs while the first chunk's combine-grad travels.
    if (c == 0)
      for (int g : emitted_gpus_)
        shared_ops[g] = shared_experts(g, tags, 2.0 * static_cast<double>(copies_sent[g]) / model_.top_k, shared, after(g));
    // Output gradients travel like the dispatch, input gradients like the combine.
    const std::vector<Ids> to_experts = exchange(tags, A2aPhase::COMBINE_GRAD, false, unpermute, combine_prev, matrices);
    // Per chunk only the data gradient: what the input gradients' all-to-all waits for.
    for (int g : emitted_gpus_) {
      const std::vector<std::int64_t> tokens = slot_tokens(g, chunk);
      gemm_ops[g] = fused ? fused_gemms(g, tags, tokens, chunks.compute_sm_fraction, to_experts[g], 1.0 / 3.0)
                          : gemm(OpKind::EXPERT_GEMM, g, tags, tokens, chunks.compute_sm_fraction, in_stream(to_experts[g], gemm_ops[g]));
      for (std::size_t s = 0; s < tokens.size(); ++s) layer_tokens[g][s] += tokens[s];
    }
    const std::vector<Ids> to_sources = exchange(tags, A2aPhase::DISPATCH_GRAD, true, gemm_ops, dispatch_prev, matrices, fused);
    for (int g : emitted_gpus_)
      permute[g] = compute(OpKind::PERMUTE, g, tags, 0.0, bytes[g], in_stream(to_sources[g], permute[g]));
  }
  // The weight gradient once, over every chunk's tokens (tagged with the last chunk): after the
  // last data gradient on the compute stream, while the last input gradients travel. Per chunk
  // it would re-read and re-write every expert's weight gradient K times, at 1/K the rows.
  // comet:B's transfer blocks live inside its fused launches, which have ended when the weight
  // gradient (cuBLAS) starts, so it has every SM; an NCCL policy's share holds while NCCL runs.
  const double wgrad_sm_fraction = fused ? 1.0 : chunks.compute_sm_fraction;
  for (int g : emitted_gpus_)
    wgrad_ops[g] = gemm(OpKind::EXPERT_WGRAD, g, tags, layer_tokens[g], wgrad_sm_fraction, {gemm_ops[g]});
  tags.chunk = 0;
  for (int g : emitted_gpus_) {
    const double tokens = static_cast<double>(copies_sent[g]) / model_.top_k;
    Ids gate_deps = in_stream({permute[g]}, wgrad_ops[g]);
    if (shared_ops[g] >= 0) gate_deps.push_back(shared_ops[g]);
    const std::int32_t gate = compute(OpKind::GATE, g, tags, 2.0 * tokens * 2.0 * model_.hidden * model_.experts,
                                      tokens * model_.hidden * model_.dtype_bytes, gate_deps);
    last_[g] = {compute(OpKind::NON_MOE, g, tags, 2.0 * tokens * attention, 0.0, {gate})};
  }
}

// The one-layer, one-step Plan of `routing` cut into `chunks` (`kept_groups`: the groups whose ops
// it holds; null: all), emitted by the same code as the real one, so `dynamic`'s prediction is the
// layer time the engine then reports for a one-layer, one-step Plan of its choice (on a paced
// network within what sharing the whole exchange's pacing profiles moves it: 0.005% on a 256-GPU
// 4:1 tree).
Plan single_layer_plan(const PlanRequest& r, const ExpertPlacement& placement, const RoutingMatrix& routing,
                       const ChunkPlan& chunks, const std::vector<bool>* kept_groups = nullptr) {
  const Scenario& s = *r.scenario;
  Plan plan(PlanHeader{r.topology->num_gpus(), s.expert_parallel, 1, 1, s.model.hidden, s.model.expert_ffn,
                       r.placement.text(), r.partition.text(), r.a2a.text()});
  PlanEmitter emitter(r, plan, placement, kept_groups);
  const Matrices matrices = emitter.add_matrices(chunks);
  emitter.forward(0, 0, routing, chunks, matrices);
  emitter.backward(0, 0, routing, chunks, matrices);
  return plan;
}

// The analytical engine's run of that Plan. With `keep`, a run of the whole Plan with the engine's
// default options is kept there when it is the cheapest so far (ties: the first).
Timeline single_layer_run(const PlanRequest& r, const ExpertPlacement& placement, const RoutingMatrix& routing,
                          const ChunkPlan& chunks, const AnalyticalOptions& options,
                          const std::vector<bool>* kept_groups = nullptr, DynamicPricing* keep = nullptr) {
  const Plan plan = single_layer_plan(r, placement, routing, chunks, kept_groups);
  Timeline run = AnalyticalEngine(options).run(plan, *r.topology, *r.cost_model);
  const bool default_run = !kept_groups && !options.shared_pacing && options.per_gpu_completion;
  if (keep && default_run) {
    std::lock_guard lock(keep->mutex);
    if (!keep->cheapest_run || run.makespan_s() < keep->cheapest_run->makespan_s()) {
      keep->cheapest_plan_hash = plan.stable_hash();
      keep->cheapest_run = run;
    }
  }
  return run;
}

// Seconds from the layer's start to each expert-parallel group's last op (their max is the layer
// time, to the last bit: max(end - first) = max(end) - first; groups without ops 0).
std::vector<double> group_times_s(const Timeline& run, int groups) {
  std::vector<double> end(static_cast<std::size_t>(groups), 0.0);
  double first = run.ops.empty() ? 0.0 : run.ops.front().start_s;
  for (const TimelineOp& op : run.ops) first = std::min(first, op.start_s);
  for (const TimelineOp& op : run.ops) end.at(static_cast<std::size_t>(op.group)) = std::max(end[op.group], op.end_s);
  for (double& e : end) e = std::max(0.0, e - first);
  return end;
}

// The independent parts of the groups (a2a_footprint.hpp) in the one-chunk Plan of `routing`: a
// chunking's transfers are among its pairs, on the same routes, so they hold for every chunking.
std::vector<int> group_parts(const PlanRequest& r, const ExpertPlacement& placement, const RoutingMatrix& routing,
                             const ChunkPlan& one_chunk) {
  const Plan plan = single_layer_plan(r, placement, routing, one_chunk);
  A2aFootprints footprints(plan, *r.topology);
  int num_parts = 0;
  return independent_parts(plan, *r.topology, footprints, num_parts);
}

}  // namespace

double attention_flops_per_token(const MoeModel& m, int sequence_length) {
  const double h = m.hidden, q = static_cast<double>(m.heads) * m.head_dim, kv = static_cast<double>(m.kv_heads) * m.head_dim;
  const double projections = 2.0 * h * q + 2.0 * 2.0 * h * kv + 2.0 * q * h;
  const double attention = 2.0 * 2.0 * q * sequence_length / 2.0;  // QK^T and AV, causal: half the keys
  return projections + attention;
}

double shared_expert_flops_per_token(const MoeModel& m) {
  return m.shared_experts * 2.0 * 3.0 * static_cast<double>(m.hidden) * m.shared_expert_ffn;
}

ExpertPlacement make_plan_placement(const Scenario& s, const Topology& topology, const PathCosts& costs,
                                    const PolicySpec& placement, const PlanRouting& routing) {
  const PlacementInputs inputs{&topology, &costs, [&routing]() -> const RoutingMatrix& { return routing.expected(); },
                               s.model.experts, s.expert_parallel, s.model.bytes_per_token_copy()};
  try {
    return make_placement(placement, inputs);
  } catch (const std::invalid_argument& error) {
    throw InputError({s.origin, 0, 0}, "placement", placement.text(), error.what());
  }
}

void add_dynamic_pricers(const PlanRequest& r, const ExpertPlacement& placement, const RoutingMatrix& routing,
                         DynamicPricing& shared, PartitionInputs& in) {
  const ChunkPlan one_chunk = partition_tokens(parse_policy(PolicyFamily::PARTITION, "none"), in);
  const bool paced = pacing_applies(*r.topology);
  if (paced) single_layer_run(r, placement, routing, one_chunk, {.made_pacing = &shared.pacing});
  const AnalyticalOptions pricing{.shared_pacing = paced ? &shared.pacing : nullptr};
  in.layer_time_s = [&r, &placement, &routing, pricing, &shared](const ChunkPlan& chunks) {
    return single_layer_run(r, placement, routing, chunks, pricing, nullptr, &shared).makespan_s();
  };
  // Groups in independent parts: candidates bounded by one part first (dynamic_search.hpp).
  in.part_of_group = group_parts(r, placement, routing, one_chunk);
  const int groups = static_cast<int>(in.part_of_group.size());
  in.group_times_s = [&r, &placement, &routing, pricing, &shared, part_of_group = in.part_of_group, groups](const ChunkPlan& chunks,
                                                                                                         int part) {
    std::vector<bool> kept;
    for (int p : part_of_group) kept.push_back(p == part);
    return group_times_s(single_layer_run(r, placement, routing, chunks, pricing, part < 0 ? nullptr : &kept, &shared), groups);
  };
  // Ranked first at group completion, which skips the per-GPU profiles (half of a candidate's
  // work; docs/policies.md). Paced footprints get their parts from pacing anyway: no saving there.
  if (!paced)
    in.rough_layer_time_s = [&r, &placement, &routing](const ChunkPlan& chunks) {
      return single_layer_run(r, placement, routing, chunks, {.per_gpu_completion = false}).makespan_s();
    };
}

BuiltPlan build_plan(const PlanRequest& r) {
  const Scenario& s = *r.scenario;
  if (r.steps < 1 || r.steps > s.workload.steps)
    throw InputError({"<command line>", 0, 0}, "--steps", std::to_string(r.steps),
                     fmt::format("expected 1 to the scenario's {} steps", s.workload.steps));
  if (r.layers < 1 || r.layers > s.model.moe_layers)
    throw InputError({"<command line>", 0, 0}, "--layers", std::to_string(r.layers),
                     fmt::format("expected 1 to the model's {} MoE layers", s.model.moe_layers));
  std::optional<PlanRouting> generated;
  if (!r.routing) generated = route_workload(s, r.topology->num_gpus(), r.steps);
  const PlanRouting& routed = r.routing ? *r.routing : *generated;
  if (static_cast<int>(routed.steps.size()) != r.steps)
    throw std::logic_error(fmt::format("build_plan: {} routed steps for {} steps", routed.steps.size(), r.steps));
  const std::vector<RoutingMatrix>& routing = routed.steps;
  PlanHeader header{r.topology->num_gpus(), s.expert_parallel, r.layers, r.steps, s.model.hidden,
                    s.model.expert_ffn, r.placement.text(), r.partition.text(), r.a2a.text(), transfer_blocks_of(r.partition)};
  BuiltPlan built{Plan(std::move(header)),
                  r.made_placement ? *r.made_placement : make_plan_placement(s, *r.topology, *r.costs, r.placement, routed),
                  {}, {}, {}, {}};
  PlanEmitter emitter(r, built.plan, built.placement);
  for (int step = 0; step < r.steps; ++step) {
    PartitionInputs partition_inputs{&routing[step], &built.placement, r.topology, r.costs, r.cost_model, &s.model, {}, {}, {}, {}};
    DynamicPricing pricing;  // read by the pricers
    if (r.partition.name == "dynamic") add_dynamic_pricers(r, built.placement, routing[step], pricing, partition_inputs);
    const ChunkPlan chunks = partition_tokens(r.partition, partition_inputs);
    built.partition_choices.push_back(chunks.description);
    // Every layer of a step shares the step's routing, hence its transfer matrices.
    const auto matrices = emitter.add_matrices(chunks);
    for (int layer = 0; layer < r.layers; ++layer) emitter.forward(step, layer, routing[step], chunks, matrices);
    for (int layer = r.layers - 1; layer >= 0; --layer) emitter.backward(step, layer, routing[step], chunks, matrices);
    if (r.keep_chunks) built.chunks.push_back(chunks);
    // A one-layer, one-step Plan of the choice is the Plan its pricing ran whole.
    if (r.layers == 1 && r.steps == 1 && pricing.cheapest_run && pricing.cheapest_plan_hash == built.plan.stable_hash())
      built.analytical_run = std::move(pricing.cheapest_run);
  }
  built.routing = routing;
  return built;
}

PlanRouting::PlanRouting(std::vector<RoutingMatrix> steps_, std::function<RoutingMatrix()> fit)
    : steps(std::move(steps_)), fit_(std::make_shared<Fit>()) {
  fit_->make = std::move(fit);
}

const RoutingMatrix& PlanRouting::expected() const {
  if (!fit_) throw std::logic_error("PlanRouting::expected: no fit steps to make it from");
  std::call_once(fit_->once, [&] { fit_->sum = fit_->make(); });
  return fit_->sum;
}

PlanRouting route_workload(const Scenario& s, int num_gpus, int steps) {
  auto workload = std::make_shared<const Workload>(s.workload, RoutingShape{num_gpus, s.expert_parallel, s.model.experts, s.model.top_k});
  std::vector<RoutingMatrix> routed;
  for (int step = 0; step < steps; ++step) routed.push_back(workload->sample(step));
  // Fitted placements see the steps before the run (workload.placement_fit_steps), not the
  // steps they are scored on.
  return PlanRouting(std::move(routed), [workload, steps] { return workload->placement_routing(steps); });
}

}  // namespace comet
