// Computations on GPUs, the same in every simulated engine: per GPU the streams the real
// executor uses (stream_of: GEMMs on the compute stream, a chunk's permute and unpermute on the
// dispatch or combine stream, beside another chunk's GEMMs), ops of one stream in the order they
// become ready, each for the cost model's duration.
//
// Interference from communication: a computation is slowed by 1 / (1 - comm_sm_share) while an
// all-to-all's part runs on its GPU (the SMs NCCL's kernels take), for as long as they overlap,
// not for its whole duration because one ran when it started; ops on reserved SMs (fine-grained
// overlap) are not slowed. When a GPU's communication begins or ends, its running and queued
// ops are retimed and the engine re-arms their ends (communication_begins / _ends return them).
// The other way round (transfer_slowdown.hpp): a GPU slows its own transfers while a computation
// on full SMs runs on its compute stream and one of its all-to-all parts runs; engines ask
// refresh_transfer_slowdown after each event on a GPU and change its edge links' capacity.
//
// Memory kernels beside the compute stream: a memory kernel (permute, unpermute, on a side
// stream) beside the compute stream's work runs at memory_kernel_rate_beside_compute (rho) of its
// alone rate (its blocks wait for SMs the GEMMs hold), and costs that stream
// memory_kernel_interference x the seconds of its alone work done there (the kernel at rho beside
// that extension too): charged to the compute op when the memory kernel was scheduled first (the
// kernel's end then moves later), else to the compute op running when the kernel starts (its end
// and its stream's queue move later; its next op when it is held), so the charge does not depend
// on which of the two became ready first. Moved ends are Retimed, as for communication. Not
// followed: compute work queued after a kernel was scheduled beside earlier compute work (that
// part runs at its alone rate); a retiming by communication moves a kernel's end, not the stretch
// it was priced with.
// rho = 1: spans as alone, only the compute stream charged.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "cost_model.hpp"
#include "plan.hpp"

namespace comet {

/// Placeholder end of a computation held by a streaming producer that has not ended (Plan::add's
/// `streaming`): far past any simulated time, so the ops queued behind it on its stream wait; the
/// hold's release sets the real end (set_end). Engines arm no end at or past it.
inline constexpr double HELD_END_S = 1e6;

/// An op whose times changed: its new start and end (seconds).
struct Retimed {
  std::int32_t op = 0;
  double start_s = 0.0, end_s = 0.0;
};

class ComputeStreams {
 public:
  ComputeStreams(int num_gpus, const CostModel& model);

  /// Schedules compute op `op`, ready at `now`, alone taking `duration_s`; returns its start and
  /// end as they stand now (a later communication change may move them: see Retimed). A compute
  /// op slows the memory kernels beside it: those whose ends move are appended to `retimed`.
  std::pair<double, double> schedule(const Op& op, double duration_s, double now, std::vector<Retimed>& retimed);
  /// An all-to-all began on these GPUs at `now`; communication_ends for each as its part ends.
  /// Both append the ops whose start or end moved to `retimed`.
  void communication_begins(std::span<const std::int32_t> gpus, double now, std::vector<Retimed>& retimed);
  void communication_ends(std::int32_t gpu, double now, std::vector<Retimed>& retimed);
  /// Re-evaluates whether `gpu` slows its transfers at `now`: a computation on full SMs runs or is
  /// queued on its compute stream while one of its all-to-all parts runs. True when that changed
  /// since the last call for `gpu`; transfers_slowed then holds the new state. Engines call it
  /// for a GPU after every event on it: a computation scheduled or ended, communication begun or
  /// ended.
  bool refresh_transfer_slowdown(std::int32_t gpu, double now);
  bool transfers_slowed(std::int32_t gpu) const { return transfers_slowed_[gpu] != 0; }
  /// Moves the end of computation `op` (scheduled, not yet ended) to `end_s` (HELD_END_S: held
  /// until a set_end with its real end); the ops queued behind it on its stream keep their gaps.
  /// A held op keeps its end when communication changes rates. Appends what moved to `retimed`,
  /// `op` included.
  void set_end(const Op& op, double end_s, double now, std::vector<Retimed>& retimed);

 private:
  struct Scheduled {
    std::int32_t op;
    double ready_s, start_s, end_s;
    double rate;      ///< share of full speed it runs at now
    bool slowable;    ///< slowed by communication (not on reserved SMs)
    bool held = false;  ///< its end is set by set_end (a streaming producer), not by its rate
  };
  /// A compute op's own work runs on `gpu` over [begin, begin + work_s): the memory kernels there
  /// whose work is left run at CostModel::memory_kernel_rate_beside_compute beside it (their ends
  /// move later: appended to `retimed`). Returns the seconds of their alone work done beside it.
  double slow_memory_kernels(std::int32_t gpu, double begin, double work_s, double now, std::vector<Retimed>& retimed);
  /// A memory kernel scheduled at `at` beside `gpu`'s queued compute work costs it `charge_s`: the
  /// compute op running at `at` ends that much later (and the ops queued behind it start later;
  /// appended to `retimed`), or, when it is held by a streaming producer, the stream's next op.
  void charge_compute_stream(std::int32_t gpu, double at, double charge_s, double now, std::vector<Retimed>& retimed);
  /// Memory kernel `id`'s record (if it is one) follows its queue entry: started start_shift_s
  /// later, now ending at end_s (a retiming by communication or by the op before it).
  void follow_memory_kernel(std::int32_t gpu, std::int32_t id, double start_shift_s, double end_s);
  /// set_end of op `id` on `gpu`'s stream `role`.
  void move_end(std::int32_t gpu, StreamRole role, std::int32_t id, double end_s, double now, std::vector<Retimed>& retimed);
  double rate_of(std::int32_t gpu, bool slowable) const {
    return slowable && communications_[gpu] > 0 ? 1.0 - model_.comm_sm_share : 1.0;
  }
  /// Communication on `gpu` changed: every op not yet ended there runs at its new rate from `now`.
  void retime(std::int32_t gpu, double now, std::vector<Retimed>& retimed);

  const CostModel& model_;
  std::vector<std::array<double, NUM_STREAM_ROLES>> free_at_;  ///< per GPU and stream role
  std::vector<std::array<std::deque<Scheduled>, NUM_STREAM_ROLES>> queued_;  ///< ops not known to have ended
  std::vector<int> communications_;
  std::vector<char> transfers_slowed_;  ///< per GPU, as of its last refresh_transfer_slowdown
  /// A memory kernel on a side stream: from full_from_s to end_s it runs at its alone rate (what
  /// it does beside compute work already charged is before full_from_s).
  struct MemoryKernel {
    std::int32_t op;
    StreamRole stream;
    double full_from_s, end_s;
  };
  /// Per GPU: memory kernels on its side streams not yet known to have ended before the latest
  /// `now` (pruned as time passes: engines schedule in time order).
  std::vector<std::vector<MemoryKernel>> memory_kernels_;
};

}  // namespace comet
