#include "stream_schedule.hpp"

#include <algorithm>

namespace comet {
namespace {

bool is_forward(const Op& op) { return op.tags.direction == Direction::FORWARD; }

// The first op of a chunk that writes its receive-side staging buffers (the self piece lands
// there before the all-to-all fills the rest), and the last one that reads them.
bool writes_receive_slot(const Op& op) {
  return (op.kind == OpKind::PERMUTE && is_forward(op)) || (op.kind == OpKind::UNPERMUTE && !is_forward(op));
}
bool ends_chunk(const Op& op) {
  return (op.kind == OpKind::UNPERMUTE && is_forward(op)) || (op.kind == OpKind::PERMUTE && !is_forward(op));
}

}  // namespace

bool runs_on(const Op& op, int rank) { return op.kind == OpKind::ALL_TO_ALL ? op.group == 0 : op.gpu == rank; }

std::vector<ScheduledOp> schedule_rank(const Plan& plan, int rank) {
  const std::size_t n = plan.ops().size();
  std::vector<int> stream_used(n, -1);  // -1: not run by this rank
  int chunks = 1;
  for (const Op& op : plan.ops()) chunks = std::max(chunks, op.tags.chunk + 1);
  // Per direction and chunk: this rank's expert GEMM and the op that ends the chunk.
  std::vector<std::vector<std::int32_t>> gemm_of(2, std::vector<std::int32_t>(chunks, -1)), end_of = gemm_of;
  std::vector<ScheduledOp> schedule;
  for (const Op& op : plan.ops()) {
    if (!runs_on(op, rank)) continue;
    ScheduledOp s{op.id, stream_of(op), {}};
    auto wait = [&](std::int32_t dep) {
      if (dep >= 0 && stream_used[dep] >= 0 && stream_used[dep] != static_cast<int>(s.stream) &&
          std::find(s.waits.begin(), s.waits.end(), dep) == s.waits.end())
        s.waits.push_back(dep);
    };
    for (std::int32_t dep : plan.deps(op.id)) wait(dep);
    const int c = op.tags.chunk, d = is_forward(op) ? 0 : 1;
    if (c >= 2 && writes_receive_slot(op)) wait(gemm_of[d][c - 2]);      // chunk c-2's GEMM read the slot
    if (c >= 2 && op.kind == OpKind::EXPERT_GEMM) wait(end_of[d][c - 2]);  // chunk c-2 consumed the combine buffers
    if (op.kind == OpKind::EXPERT_GEMM) gemm_of[d][c] = op.id;
    if (ends_chunk(op)) end_of[d][c] = op.id;
    stream_used[op.id] = static_cast<int>(s.stream);
    schedule.push_back(std::move(s));
  }
  return schedule;
}

}  // namespace comet
