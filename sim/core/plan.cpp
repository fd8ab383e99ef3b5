#include "plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <stdexcept>

namespace comet {

StreamRole stream_of(const Op& op) {
  const bool forward = op.tags.direction == Direction::FORWARD;
  switch (op.kind) {
    case OpKind::ALL_TO_ALL:
      return op.tags.phase == A2aPhase::DISPATCH || op.tags.phase == A2aPhase::COMBINE_GRAD ? StreamRole::DISPATCH
                                                                                               : StreamRole::COMBINE;
    case OpKind::PERMUTE: return forward ? StreamRole::DISPATCH : StreamRole::COMBINE;
    case OpKind::UNPERMUTE: return forward ? StreamRole::COMBINE : StreamRole::DISPATCH;
    default: return StreamRole::COMPUTE;
  }
}
namespace {

class Fnv1a {
 public:
  void bytes(const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) hash_ = (hash_ ^ p[i]) * 0x100000001b3ULL;
  }
  template <typename T>
  void value(T v) {
    if constexpr (std::is_same_v<T, double>) {
      const auto bits = std::bit_cast<std::uint64_t>(v);
      bytes(&bits, sizeof bits);
    } else {
      const auto wide = static_cast<std::int64_t>(v);
      bytes(&wide, sizeof wide);
    }
  }
  void text(const std::string& s) {
    value(s.size());
    bytes(s.data(), s.size());
  }
  std::uint64_t result() const { return hash_; }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

}  // namespace

std::string_view to_string(OpKind kind) {
  switch (kind) {
    case OpKind::NON_MOE: return "non_moe";
    case OpKind::GATE: return "gate";
    case OpKind::PERMUTE: return "permute";
    case OpKind::ALL_TO_ALL: return "all_to_all";
    case OpKind::EXPERT_GEMM: return "expert_gemm";
    case OpKind::UNPERMUTE: return "unpermute";
    case OpKind::EXPERT_WGRAD: return "expert_wgrad";
    case OpKind::SHARED_EXPERT: return "shared_expert";
  }
  return "?";
}

std::string_view to_string(Direction direction) { return direction == Direction::FORWARD ? "forward" : "backward"; }

std::string_view to_string(A2aPhase phase) {
  switch (phase) {
    case A2aPhase::NONE: return "none";
    case A2aPhase::DISPATCH: return "dispatch";
    case A2aPhase::COMBINE: return "combine";
    case A2aPhase::COMBINE_GRAD: return "combine_grad";
    case A2aPhase::DISPATCH_GRAD: return "dispatch_grad";
  }
  return "?";
}

double TransferMatrix::total_bytes() const {
  double total = 0.0;
  for (const Transfer& t : transfers) total += t.bytes;
  return total;
}

double TransferMatrix::bytes_into(std::int32_t gpu, bool reversed) const {
  const auto before = [](const Transfer& t, std::pair<std::int32_t, std::int32_t> key) {
    return std::pair{t.src, t.dst} < key;
  };
  double bytes = 0.0;
  if (reversed) {  // one contiguous run: src == gpu
    for (auto it = std::lower_bound(transfers.begin(), transfers.end(), std::pair{gpu, INT32_MIN}, before);
         it != transfers.end() && it->src == gpu; ++it)
      if (it->dst != gpu) bytes += it->bytes;
    return bytes;
  }
  // Per source, its entry for dst == gpu, then on to the next source.
  for (auto it = transfers.begin(); it != transfers.end();) {
    const std::int32_t src = it->src;
    it = std::lower_bound(it, transfers.end(), std::pair{src, gpu}, before);
    if (it != transfers.end() && it->src == src && it->dst == gpu && src != gpu) bytes += it->bytes;
    if (src == INT32_MAX) break;
    it = std::lower_bound(it, transfers.end(), std::pair{src + 1, INT32_MIN}, before);
  }
  return bytes;
}

Plan::Plan(PlanHeader header) : header_(std::move(header)) {}

std::int32_t Plan::add(Op op, std::span<const std::int32_t> deps, std::span<const std::int32_t> streaming) {
  const auto id = static_cast<std::int32_t>(ops_.size());
  for (std::int32_t dep : deps)
    if (dep < 0 || dep >= id) throw std::logic_error(fmt::format("op {} depends on op {} not yet added", id, dep));
  for (std::int32_t dep : streaming) {
    if (dep < 0 || dep >= id) throw std::logic_error(fmt::format("op {} streams from op {} not yet added", id, dep));
    if (std::find(deps.begin(), deps.end(), dep) != deps.end())
      throw std::logic_error(fmt::format("op {} both waits for and streams from op {}", id, dep));
  }
  if (op.kind == OpKind::ALL_TO_ALL && (op.matrix < 0 || op.matrix >= static_cast<std::int32_t>(matrices_.size())))
    throw std::logic_error(fmt::format("all-to-all op {} has no matrix", id));
  op.id = id;
  ops_.push_back(op);
  dep_ids_.insert(dep_ids_.end(), deps.begin(), deps.end());
  dep_start_.push_back(static_cast<std::int64_t>(dep_ids_.size()));
  stream_dep_ids_.insert(stream_dep_ids_.end(), streaming.begin(), streaming.end());
  stream_dep_start_.push_back(static_cast<std::int64_t>(stream_dep_ids_.size()));
  double streamed_in = 0.0;
  if (op.gpu >= 0)
    for (std::int32_t producer : streaming)
      if (const Op& from = ops_[producer]; from.kind == OpKind::ALL_TO_ALL) streamed_in += matrices_[from.matrix].bytes_into(op.gpu, from.reversed);
  if (streamed_in != 0.0) streamed_in_.emplace_back(id, streamed_in);
  return id;
}

double Plan::streamed_in_bytes(std::int32_t op) const {
  const auto it = std::lower_bound(streamed_in_.begin(), streamed_in_.end(), op, [](const auto& entry, std::int32_t id) { return entry.first < id; });
  return it != streamed_in_.end() && it->first == op ? it->second : 0.0;
}

std::int32_t Plan::add_matrix(TransferMatrix matrix) {
  matrices_.push_back(std::move(matrix));
  return static_cast<std::int32_t>(matrices_.size() - 1);
}

std::int32_t Plan::add_work(std::span<const ExpertWork> work) {
  const auto first = static_cast<std::int32_t>(expert_work_.size());
  expert_work_.insert(expert_work_.end(), work.begin(), work.end());
  return first;
}

std::uint64_t Plan::stable_hash() const { return hash(true); }

std::uint64_t Plan::work_hash() const { return hash(false); }

std::uint64_t Plan::hash(bool with_policy_names) const {
  Fnv1a h;
  h.value(header_.num_gpus);
  h.value(header_.expert_parallel);
  h.value(header_.layers);
  h.value(header_.steps);
  h.value(header_.hidden);
  h.value(header_.expert_ffn);
  if (with_policy_names) {
    h.text(header_.placement);
    h.text(header_.partition);
    h.text(header_.a2a);
  }
  // Fields added later are hashed only when set, so that the Plans of recorded measurements
  // (tests/data, calibrations/, benchmarks/) keep their hashes.
  if (header_.transfer_blocks != 0) h.value(header_.transfer_blocks);
  for (const Op& op : ops_) {
    h.value(op.id);
    h.value(static_cast<int>(op.kind));
    h.value(op.gpu);
    h.value(op.group);
    h.value(op.tags.layer);
    h.value(op.tags.step);
    h.value(static_cast<int>(op.tags.direction));
    h.value(static_cast<int>(op.tags.phase));
    h.value(op.tags.chunk);
    h.value(op.tags.stage);
    h.value(op.flops);
    h.value(op.bytes);
    h.value(op.compute_sm_fraction);
    if (op.work_share != 1.0) h.value(op.work_share);
    h.value(op.matrix);
    h.value(op.reversed ? 1 : 0);
    h.value(op.first_work);
    h.value(op.num_work);
    for (std::int32_t dep : deps(op.id)) h.value(dep);
    for (std::int32_t dep : streaming_deps(op.id)) h.value(-1 - dep);  // apart from an ordinary one
  }
  for (const TransferMatrix& m : matrices_) {
    h.value(m.transfers.size());
    for (const Transfer& t : m.transfers) {
      h.value(t.src);
      h.value(t.dst);
      h.value(t.bytes);
    }
  }
  for (const ExpertWork& w : expert_work_) {
    h.value(w.expert);
    h.value(w.tokens);
  }
  return h.result();
}

std::size_t Plan::memory_bytes() const {
  std::size_t bytes = ops_.capacity() * sizeof(Op) + dep_ids_.capacity() * sizeof(std::int32_t) +
                      dep_start_.capacity() * sizeof(std::int64_t) + stream_dep_ids_.capacity() * sizeof(std::int32_t) +
                      stream_dep_start_.capacity() * sizeof(std::int64_t) + expert_work_.capacity() * sizeof(ExpertWork) +
                      streamed_in_.capacity() * sizeof(streamed_in_[0]);
  for (const TransferMatrix& m : matrices_) bytes += m.transfers.capacity() * sizeof(Transfer);
  return bytes;
}

}  // namespace comet

namespace comet {

Successors successors_of(const Plan& plan, bool streaming) {
  auto deps = [&](std::int32_t op) { return streaming ? plan.streaming_deps(op) : plan.deps(op); };
  Successors s;
  s.start.assign(plan.ops().size() + 1, 0);
  for (const Op& op : plan.ops())
    for (std::int32_t dep : deps(op.id)) ++s.start[dep + 1];
  for (std::size_t i = 1; i < s.start.size(); ++i) s.start[i] += s.start[i - 1];
  s.ids.resize(s.start.back());
  std::vector<std::size_t> fill(s.start.begin(), s.start.end() - 1);
  for (const Op& op : plan.ops())
    for (std::int32_t dep : deps(op.id)) s.ids[fill[dep]++] = op.id;
  return s;
}

}  // namespace comet
