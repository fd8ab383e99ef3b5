// The Plan: a DAG of operations for L MoE layers over S steps, forward and backward, on every GPU.
// Built by sim/policy/plan_builder (the same code for the simulator and the real executor); the
// only thing an executor sees (DESIGN.md, "Two contracts").
//
// Ops are stored in topological order: every dependency of op i has an id below i. An
// all-to-all op covers one expert-parallel group and holds a sparse bytes matrix (one entry per
// communicating GPU pair), never one op per pair, so memory stays near linear in the GPUs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace comet {

/// EXPERT_GEMM is the experts' forward, or in the backward their data gradient, per chunk (what
/// the dispatch-grad all-to-all waits for); EXPERT_WGRAD is the backward's weight gradient, once
/// per layer over every chunk's tokens, after the last data gradient: nothing downstream in the
/// layer needs it, so it overlaps the last dispatch-grad all-to-all. SHARED_EXPERT is the
/// always-active experts (DeepSeek-V3's shared expert): they need only the attention block's
/// output, so they run while the routed tokens' dispatch (and in the backward the combine-grad)
/// travels; NON_MOE is the attention block (projections and attention).
enum class OpKind : std::uint8_t { NON_MOE, GATE, PERMUTE, ALL_TO_ALL, EXPERT_GEMM, UNPERMUTE, EXPERT_WGRAD, SHARED_EXPERT };
inline constexpr std::size_t NUM_OP_KINDS = 8;
enum class Direction : std::uint8_t { FORWARD, BACKWARD };
/// Which all-to-all: forward dispatch / combine, backward combine-grad / dispatch-grad.
enum class A2aPhase : std::uint8_t { NONE, DISPATCH, COMBINE, COMBINE_GRAD, DISPATCH_GRAD };

/// The stream an op runs on, in the real executor and in every simulated engine:
///   compute   expert GEMMs, router, non-MoE and shared experts
///   dispatch  forward permute + dispatch all-to-all; backward unpermute + combine-grad
///   combine   forward combine + unpermute; backward dispatch-grad + permute
/// so a chunk's permute or unpermute runs beside another chunk's GEMMs.
enum class StreamRole : std::uint8_t { COMPUTE, DISPATCH, COMBINE };
inline constexpr std::size_t NUM_STREAM_ROLES = 3;

std::string_view to_string(OpKind kind);
std::string_view to_string(Direction direction);
std::string_view to_string(A2aPhase phase);

struct Transfer {
  std::int32_t src = 0;
  std::int32_t dst = 0;
  double bytes = 0.0;
};

/// One all-to-all stage's traffic: sparse, sorted by (src, dst), no zero entries.
struct TransferMatrix {
  std::vector<Transfer> transfers;
  double total_bytes() const;
  /// Bytes GPU `gpu` receives from other GPUs: dst == gpu, src != gpu; with `reversed` (the
  /// traffic flows dst -> src, Op::reversed), src == gpu, dst != gpu. By the sort order: a binary
  /// search per source, not a scan of the whole matrix.
  double bytes_into(std::int32_t gpu, bool reversed = false) const;
};

/// Tokens one GPU computes for one local expert (the M of its GEMMs).
struct ExpertWork {
  std::int32_t expert = 0;
  std::int64_t tokens = 0;
};

struct OpTags {
  std::int32_t layer = 0;
  std::int32_t step = 0;
  Direction direction = Direction::FORWARD;
  A2aPhase phase = A2aPhase::NONE;
  std::int32_t chunk = 0;  ///< pipeline chunk (0 without partitioning)
  std::int32_t stage = 0;  ///< all-to-all stage (hierarchical: 0 intra gather, 1 inter, 2 intra scatter)
};

struct Op {
  std::int32_t id = 0;
  OpKind kind = OpKind::NON_MOE;
  std::int32_t gpu = -1;    ///< compute ops: the GPU; all-to-all: -1
  std::int32_t group = 0;   ///< expert-parallel group
  OpTags tags;
  double flops = 0.0;       ///< compute work (GEMMs, attention)
  double bytes = 0.0;       ///< memory traffic of memory-bound ops (permute, unpermute, gate reads)
  double compute_sm_fraction = 1.0;  ///< share of SMs the op may use (fine-grained overlap reserves some)
  /// EXPERT_GEMM: the share of each expert's pass it computes (1; a fused policy splits the pass
  /// into its two projections, the SwiGLU gate + up GEMM 2/3 of the flops and the down GEMM 1/3).
  double work_share = 1.0;
  std::int32_t matrix = -1;          ///< ALL_TO_ALL: index into Plan::matrices()
  bool reversed = false;             ///< ALL_TO_ALL: traffic flows dst -> src of the matrix
  std::int32_t first_work = 0;       ///< EXPERT_GEMM, EXPERT_WGRAD: range in Plan::expert_work()
  std::int32_t num_work = 0;
};

struct PlanHeader {
  int num_gpus = 0;
  int expert_parallel = 1;
  int layers = 1;
  int steps = 1;
  int hidden = 0;
  int expert_ffn = 0;
  std::string placement, partition, a2a;
  /// Fused policies (`comet:B`): the thread blocks each GPU gives its transfers inside the fused
  /// kernels, which cap what one GPU's all-to-all parts move (CostModel::fused_block_Bps each);
  /// 0: the transfers are NCCL's, uncapped.
  int transfer_blocks = 0;
};

StreamRole stream_of(const Op& op);

class Plan {
 public:
  explicit Plan(PlanHeader header);

  /// Appends an op; `deps` must name existing ops. Returns its id. `streaming` (existing ops too,
  /// none of them in `deps`): producers the op streams from, as a fused kernel's GEMM consumes
  /// rows while they arrive (docs/policies.md, "comet:B"): the op may start once each of them
  /// has started (and its `deps` have ended), and it cannot end before each has ended plus its
  /// streaming tail (streaming_tail_s). An all-to-all's part on GPU g counts as its end there.
  std::int32_t add(Op op, std::span<const std::int32_t> deps, std::span<const std::int32_t> streaming = {});
  std::int32_t add_matrix(TransferMatrix matrix);
  /// Appends expert work items; returns the index of the first.
  std::int32_t add_work(std::span<const ExpertWork> work);

  const PlanHeader& header() const { return header_; }
  const std::vector<Op>& ops() const { return ops_; }
  std::span<const std::int32_t> deps(std::int32_t op) const {
    return {dep_ids_.data() + dep_start_[op], dep_ids_.data() + dep_start_[op + 1]};
  }
  const std::vector<TransferMatrix>& matrices() const { return matrices_; }
  std::span<const ExpertWork> work(const Op& op) const {
    return {expert_work_.data() + op.first_work, static_cast<std::size_t>(op.num_work)};
  }
  std::span<const std::int32_t> streaming_deps(std::int32_t op) const {
    return {stream_dep_ids_.data() + stream_dep_start_[op], stream_dep_ids_.data() + stream_dep_start_[op + 1]};
  }
  bool has_streaming() const { return !stream_dep_ids_.empty(); }
  /// Bytes the all-to-alls op `op` streams from bring to its GPU from other GPUs
  /// (TransferMatrix::bytes_into; computed once, when the op is added): what a fused launch's
  /// transfer blocks copy in. 0 for an op without a GPU or without streaming all-to-alls.
  double streamed_in_bytes(std::int32_t op) const;
  std::size_t num_dependencies() const { return dep_ids_.size(); }
  std::size_t num_streaming_dependencies() const { return stream_dep_ids_.size(); }

  /// FNV-1a over the header (policy names included), every op, dependency, matrix and work
  /// item: equal plans hash equal on any machine; any change to an op changes it.
  std::uint64_t stable_hash() const;
  /// The same without the policy names: equal for two policies that produced the same work
  /// (dynamic choosing one chunk and none), which run and time alike.
  std::uint64_t work_hash() const;
  /// Approximate bytes held (ops, deps, streamed-in bytes, matrices, work).
  std::size_t memory_bytes() const;

 private:
  std::uint64_t hash(bool with_policy_names) const;

  PlanHeader header_;
  std::vector<Op> ops_;
  std::vector<std::int64_t> dep_start_{0};
  std::vector<std::int32_t> dep_ids_;
  std::vector<std::int64_t> stream_dep_start_{0};
  std::vector<std::int32_t> stream_dep_ids_;
  std::vector<std::pair<std::int32_t, double>> streamed_in_;  // (op, streamed_in_bytes) where not 0, by op
  std::vector<TransferMatrix> matrices_;
  std::vector<ExpertWork> expert_work_;
};

}  // namespace comet

namespace comet {

/// Who waits for each op: the Plan's dependency lists inverted, as one flat array.
struct Successors {
  std::vector<std::size_t> start;  ///< op i's successors are ids[start[i] .. start[i + 1])
  std::vector<std::int32_t> ids;
  std::span<const std::int32_t> of(std::int32_t op) const {
    return {ids.data() + start[op], ids.data() + start[op + 1]};
  }
};
/// With `streaming`, who streams from each op (Plan::streaming_deps inverted) instead.
Successors successors_of(const Plan& plan, bool streaming = false);

}  // namespace comet
