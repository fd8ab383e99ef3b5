#include "rank_runner.hpp"

#include <fmt/format.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cmath>

#include "all_to_all_v.hpp"
#include "expert_ffn.hpp"
#include "expert_ffn_grouped.hpp"
#include "global_timer.hpp"
#include "gpu_error.hpp"
#include "permute.hpp"
#include "stream_schedule.hpp"

namespace comet {
namespace {

bool is_forward(const Op& op) { return op.tags.direction == Direction::FORWARD; }

std::vector<std::int64_t> bytes_of(const std::vector<std::int64_t>& rows, std::int64_t row_bytes) {
  std::vector<std::int64_t> out(rows.size());
  std::transform(rows.begin(), rows.end(), out.begin(), [&](std::int64_t r) { return r * row_bytes; });
  return out;
}

}  // namespace

RankRunner::RankRunner(const Plan& plan, const TokenLayout& layout, const LayerDims& dims, RankResources& resources,
                       LayerBuffers& buffers, double compute_sm_fraction, std::int64_t stand_in_cols,
                       FaultInjection fault, double watchdog_s, const FusedPeers* peers)
    : plan_(plan), layout_(layout), dims_(dims), res_(resources), buf_(buffers), sm_fraction_(compute_sm_fraction),
      stand_in_cols_(stand_in_cols), fault_(fault), schedule_(schedule_rank(plan, resources.rank)),
      graphs_(resources.compute_settings.op_graphs) {
  const std::size_t n = plan.ops().size();
  start_.assign(n, nullptr);
  end_.assign(n, nullptr);
  for (const ScheduledOp& s : schedule_) {
    check_cuda(cudaEventCreate(&start_[s.op]), "create event");
    check_cuda(cudaEventCreate(&end_[s.op]), "create event");
    const Op& op = plan.ops()[s.op];
    // What Nsight Systems shows for the op's launches: e.g. "op 12 forward chunk 1 dispatch all_to_all".
    range_names_.push_back(fmt::format("op {} {} chunk {} {} {}", op.id, to_string(op.tags.direction), op.tags.chunk,
                                       to_string(op.tags.phase), to_string(op.kind)));
  }
  check_cuda(cudaEventCreate(&base_), "create event");
  check_cuda(cudaEventCreate(&done_), "create event");
  check_cuda(cudaMalloc(&common_start_, sizeof(float)), "allocate the common start's element");
  const std::int64_t rb = dims.row_bytes();
  for (int c = 0; c < layout.num_chunks(); ++c) {
    const ChunkLayout& l = layout.chunk(c, resources.rank);
    pieces_.push_back({bytes_of(l.send_offsets, rb), bytes_of(l.send_count, rb), bytes_of(l.recv_offsets, rb),
                       bytes_of(l.recv_count, rb)});
    kernels::ExpertRows rows = kernels::ExpertRows::from_offsets(l.slot_offsets);
    rows.first = l.slot_first;  // the same counts, placed in the layer-wide buffers
    chunk_rows_.push_back(std::move(rows));
  }
  layer_rows_ = kernels::ExpertRows::from_offsets(layout.layer_slot_offsets(resources.rank));
  if (const int blocks = plan.header().transfer_blocks; blocks > 0) {
    // The fused launches read and write the other ranks' buffers directly: between GPUs they need
    // those buffers and the board that orders their launches against the other ranks' ops.
    if (layout.num_ranks() != 1 && (!peers || static_cast<int>(peers->buffers.size()) != layout.num_ranks() || !peers->board))
      throw std::logic_error("RankRunner: comet:B Plans between GPUs need every rank's buffers and a milestone board");
    peers_ = layout.num_ranks() != 1 ? peers : nullptr;
    // The kernels' own watchdog gives up first, so that its report (which flags) is what stops the
    // run: each of the four launches of a run may wait out its timeout once while the host blocks
    // in its enqueue, so all four within half of the run's watchdog.
    fused_ = std::make_unique<FusedExpertOps>(layout, resources.rank, dims, peers_ ? peers_->buffers : std::vector<LayerBuffers*>{&buffers},
                                              blocks, watchdog_s / 8.0, fault.silent_rank);
    check_cuda(cudaEventCreate(&stamped_), "create event");
    check_cuda(cudaMalloc(&stamp_ns_, sizeof(unsigned long long)), "allocate the timer stamp");
    return;  // the weight gradient stays on cuBLAS
  }
  grouped_ = choose_grouped();
}

std::string RankRunner::fused_watchdog_report() { return fused_ ? fused_->watchdog_report() : ""; }

bool RankRunner::choose_grouped() {
  const std::string& mode = res_.compute_settings.expert_gemm;
  if (!res_.grouped || mode == "cublas") return false;
  if (mode == "grouped") return true;
  // auto: chunk 0's forward each way, as the runs will launch it (replayed from a CUDA graph when
  // the runs are: a per-expert launch loop timed without its graph pays the host's launch cost
  // the runs do not), one warm-up and three timed runs each, before any run.
  OpGraphs timing_graphs(res_.compute_settings.op_graphs);
  std::vector<double> per_expert, grouped;
  for (int i = 0; i < 4; ++i) {
    const double c = time_forward_s(false, timing_graphs), g = time_forward_s(true, timing_graphs);
    if (i > 0) per_expert.push_back(c), grouped.push_back(g);
  }
  std::sort(per_expert.begin(), per_expert.end());
  std::sort(grouped.begin(), grouped.end());
  return grouped[1] < per_expert[1];
}

double RankRunner::time_forward_s(bool grouped, OpGraphs& graphs) {
  const kernels::ExpertFfnShape shape{dims_.hidden, dims_.ffn};
  const kernels::ExpertRows& rows = chunk_rows_.front();
  const auto forward = [&](cudaStream_t s) {
    if (grouped)
      check_cuda(kernels::expert_ffn_forward_grouped(*res_.grouped, shape, rows, buf_.x_experts.get(), buf_.w13_ptr.data(),
                                                     buf_.w2_ptr.data(), buf_.h13.get(), buf_.act.get(), buf_.y.get(), s),
                 "time the grouped expert FFN");
    else
      check_cublas(kernels::expert_ffn_forward(res_.cublas, shape, rows, buf_.x_experts.get(), buf_.w13_ptr.data(),
                                               buf_.w2_ptr.data(), buf_.h13.get(), buf_.act.get(), buf_.y.get(), s,
                                               res_.lanes.get()),
                   "time the expert FFN");
  };
  graphs.prepare(grouped ? 1 : 0, forward);
  cudaEvent_t from = nullptr, to = nullptr;
  check_cuda(cudaEventCreate(&from), "create event");
  check_cuda(cudaEventCreate(&to), "create event");
  check_cuda(cudaEventRecord(from, res_.compute), "record event");
  graphs.launch(grouped ? 1 : 0, res_.compute, forward);
  check_cuda(cudaEventRecord(to, res_.compute), "record event");
  check_cuda(cudaEventSynchronize(to), "wait for the timed FFN");
  float ms = 0.0f;
  check_cuda(cudaEventElapsedTime(&ms, from, to), "read the timed FFN");
  cudaEventDestroy(from);
  cudaEventDestroy(to);
  return ms * 1e-3;
}

RankRunner::~RankRunner() {
  for (auto* list : {&start_, &end_})
    for (cudaEvent_t e : *list)
      if (e) cudaEventDestroy(e);
  cudaEventDestroy(base_);
  cudaEventDestroy(done_);
  cudaFree(common_start_);
  if (stamped_) cudaEventDestroy(stamped_);
  cudaFree(stamp_ns_);
}

cudaStream_t RankRunner::stream(StreamRole s) const {
  return s == StreamRole::COMPUTE ? res_.compute : s == StreamRole::DISPATCH ? res_.dispatch : res_.combine;
}

cudaEvent_t RankRunner::enqueue() {
  if (peers_) run_ = ++*peers_->run;
  // The common start: the dispatch and combine streams wait for the base event, so this is the
  // run's first use of the dispatch communicator on every rank.
  check_nccl(ncclAllReduce(common_start_, common_start_, 1, ncclFloat32, ncclSum, res_.dispatch_comm, res_.compute),
             "the ranks' common start");
  check_cuda(cudaEventRecord(base_, res_.compute), "record base event");
  if (fused_) {
    check_cuda(kernels::stamp_global_timer(stamp_ns_, res_.compute), "stamp the global timer");
    check_cuda(cudaEventRecord(stamped_, res_.compute), "record the stamp's event");
  }
  check_cuda(cudaStreamWaitEvent(res_.dispatch, base_, 0), "order streams");
  check_cuda(cudaStreamWaitEvent(res_.combine, base_, 0), "order streams");
  gemm_sms_ = sm_fraction_ < 1.0 ? static_cast<int>(std::floor(res_.sm_count * sm_fraction_)) : 0;
  const int pipeline_sms = res_.compute_settings.pipeline_gemm_sms;
  if (pipeline_sms > 0 && layout_.num_chunks() > 1) gemm_sms_ = std::min(pipeline_sms, res_.sm_count);
  if (res_.lanes) check_cublas(res_.lanes->set_sm_count_target(gemm_sms_), "set the GEMMs' SM count");
  for (std::size_t i = 0; i < schedule_.size(); ++i) {
    const ScheduledOp& s = schedule_[i];
    const Op& op = plan_.ops()[s.op];
    nvtxRangePushA(range_names_[i].c_str());
    for (std::int32_t dep : s.waits) check_cuda(cudaStreamWaitEvent(stream(s.stream), end_[dep], 0), "wait for a dependency");
    if (peers_)  // comet:B between GPUs: after every rank's milestone (fused_rank_order.hpp)
      if (const auto milestone = milestone_awaited(op))
        for (cudaEvent_t e : peers_->board->wait_all(run_, *milestone, *peers_->failed))
          check_cuda(cudaStreamWaitEvent(stream(s.stream), e, 0), "wait for the other GPUs");
    if (const auto work = expert_work(op)) graphs_.prepare(op.id, work);  // host time, before the op's timing starts
    check_cuda(cudaEventRecord(start_[op.id], stream(s.stream)), "record op start");
    launch(op, s.stream);
    check_cuda(cudaEventRecord(end_[op.id], stream(s.stream)), "record op end");
    if (peers_)
      if (const auto milestone = milestone_reached(op)) peers_->board->publish(run_, *milestone, res_.rank, end_[op.id]);
    nvtxRangePop();
  }
  for (cudaStream_t s : {res_.dispatch, res_.combine}) {
    cudaEvent_t tail = nullptr;
    check_cuda(cudaEventCreateWithFlags(&tail, cudaEventDisableTiming), "create event");
    check_cuda(cudaEventRecord(tail, s), "record stream end");
    check_cuda(cudaStreamWaitEvent(res_.compute, tail, 0), "join streams");
    cudaEventDestroy(tail);  // released when the wait no longer needs it
  }
  check_cuda(cudaEventRecord(done_, res_.compute), "record end event");
  return done_;
}

std::vector<std::pair<double, double>> RankRunner::op_times() const {
  std::vector<std::pair<double, double>> times(plan_.ops().size(), {-1.0, -1.0});
  const std::optional<TimerStamp> stamp = fused_ ? std::optional(timer_stamp()) : std::nullopt;
  for (const ScheduledOp& s : schedule_) {
    const std::size_t i = static_cast<std::size_t>(s.op);
    float start_ms = 0.0f, end_ms = 0.0f;
    check_cuda(cudaEventElapsedTime(&start_ms, base_, start_[i]), "read op start");
    check_cuda(cudaEventElapsedTime(&end_ms, base_, end_[i]), "read op end");
    times[i] = {start_ms * 1e-3, end_ms * 1e-3};
    const Op& op = plan_.ops()[i];
    if (fused_ && op.kind == OpKind::ALL_TO_ALL)
      if (const auto transfer = fused_transfer_times(op, s.stream, *stamp)) times[i] = *transfer;
  }
  return times;
}

RankRunner::TimerStamp RankRunner::timer_stamp() const {
  TimerStamp stamp;
  float stamped_ms = 0.0f;
  check_cuda(cudaMemcpy(&stamp.ns, stamp_ns_, sizeof stamp.ns, cudaMemcpyDeviceToHost), "read the timer stamp");
  check_cuda(cudaEventElapsedTime(&stamped_ms, base_, stamped_), "read the stamp's event");
  stamp.s = stamped_ms * 0.5e-3;  // it ran between the base event and its own event: taken at the middle
  return stamp;
}

std::optional<std::pair<double, double>> RankRunner::fused_transfer_times(const Op& op, StreamRole role,
                                                                          const TimerStamp& stamp) const {
  const kernels::TransferSpan span = fused_->transfer_span(is_forward(op), role == StreamRole::DISPATCH ? 0 : 1);
  if (!span.ran()) return std::nullopt;
  const auto at = [&](std::uint64_t ns) { return stamp.s + (static_cast<double>(ns) - static_cast<double>(stamp.ns)) * 1e-9; };
  return std::pair{at(span.start_ns), at(span.end_ns)};
}

void RankRunner::copy_self(const bf16* from, std::int64_t from_row, bf16* to, std::int64_t to_row, std::int64_t rows,
                           cudaStream_t s) {
  if (rows == 0) return;
  check_cuda(cudaMemcpyAsync(to + to_row * dims_.hidden, from + from_row * dims_.hidden,
                             static_cast<std::size_t>(rows * dims_.row_bytes()), cudaMemcpyDeviceToDevice, s),
             "copy this rank's own rows");
}

void RankRunner::launch(const Op& op, StreamRole role) {
  const int c = op.tags.chunk, r = res_.rank, h = dims_.hidden;
  const cudaStream_t s = stream(role);
  switch (op.kind) {
    case OpKind::ALL_TO_ALL: return all_to_all_op(c, role);
    case OpKind::EXPERT_GEMM:
      if (fused_) return fused_gemm_op(op, s);
      return graphs_.launch(op.id, s, expert_work(op));
    case OpKind::EXPERT_WGRAD: return graphs_.launch(op.id, s, expert_work(op));
    case OpKind::GATE: return stand_in_gemms(op, dims_.experts, buf_.gate_w.get(), buf_.logits.get());
    case OpKind::NON_MOE:
    case OpKind::SHARED_EXPERT: return stand_in_gemms(op, stand_in_cols_, buf_.stand_in_w.get(), buf_.stand_in_out.get());
    default: break;
  }
  const ChunkLayout& l = layout_.chunk(c, r);
  const ChunkBuffers& cb = buf_.chunks[c];
  const StagingSlot& slot = buf_.staging[c % 2];
  const auto& send_at = l.send_offsets;
  const auto& recv_at = l.recv_offsets;
  const bool sending = (op.kind == OpKind::PERMUTE) == is_forward(op);
  if (sending) {
    // Forward permute: token rows into send order. Backward unpermute: output gradients times
    // the gate weights, in the same order (they travel like the dispatch).
    const bf16* from = is_forward(op) ? buf_.x.get() : buf_.d_out.get();
    const float* scale = is_forward(op) ? nullptr : cb.send_weights.get();
    check_cuda(kernels::gather_rows(from, cb.send_rows.get(), scale, l.rows_sent(), h, slot.send.get(), s), "permute");
    // The fused launches read this rank's own rows from the send buffer too (fused_gemm_op).
    if (!fused_) copy_self(slot.send.get(), send_at[r], slot.recv.get(), recv_at[r], l.send_count[r], s);
    return;
  }
  // Forward unpermute: weighted sum of the returned expert outputs. Backward permute: sum of the
  // returned input-gradient copies.
  float* into = is_forward(op) ? buf_.out.get() : buf_.dx.get();
  const float* weights = is_forward(op) ? buf_.gate_weights.get() : nullptr;
  check_cuda(kernels::combine_rows(slot.combine_recv.get(), cb.combine_positions.get(), weights, buf_.tokens,
                                   dims_.top_k, h, into, s),
             "unpermute");
}

std::function<void(cudaStream_t)> RankRunner::expert_work(const Op& op) {
  if (op.kind == OpKind::EXPERT_GEMM && fused_) return {};  // launched as it is (fused_gemm_op)
  if (op.kind == OpKind::EXPERT_GEMM) return [this, &op](cudaStream_t into) { gemm_op(op, op.tags.chunk, into); };
  if (op.kind == OpKind::EXPERT_WGRAD) return [this](cudaStream_t into) { weight_gradient_op(into); };
  return {};
}

// One chunk's expert GEMMs: its received rows into the layer-wide expert-major buffers, the
// forward (or the backward's data gradient) on the chunk's rows there, and the results back in
// receive order for the combine (or dispatch-grad) all-to-all.
void RankRunner::gemm_op(const Op& op, int c, cudaStream_t s) {
  const int r = res_.rank, h = dims_.hidden;
  const ChunkLayout& l = layout_.chunk(c, r);
  const ChunkBuffers& cb = buf_.chunks[c];
  const StagingSlot& slot = buf_.staging[c % 2];
  const std::int64_t rows = l.rows_received();
  const kernels::ExpertFfnShape shape{dims_.hidden, dims_.ffn};
  // Only the expert GEMMs get the pipeline's SM share; the stand-ins set all SMs back.
  check_cublas(cublasSetSmCountTarget(res_.cublas, gemm_sms_), "set the GEMMs' SM count");
  if (is_forward(op)) {
    check_cuda(kernels::gather_rows(slot.recv.get(), cb.expert_rows.get(), nullptr, rows, h, buf_.x_experts.get(), s,
                                    cb.layer_rows.get()),
               "expert-major reorder");
    if (grouped_)
      check_cuda(kernels::expert_ffn_forward_grouped(*res_.grouped, shape, chunk_rows_[c], buf_.x_experts.get(),
                                                     buf_.w13_ptr.data(), buf_.w2_ptr.data(), buf_.h13.get(), buf_.act.get(),
                                                     buf_.y.get(), s, gemm_sms_),
                 "expert FFN forward (grouped)");
    else
      check_cublas(kernels::expert_ffn_forward(res_.cublas, shape, chunk_rows_[c], buf_.x_experts.get(), buf_.w13_ptr.data(),
                                               buf_.w2_ptr.data(), buf_.h13.get(), buf_.act.get(), buf_.y.get(), s,
                                               res_.lanes.get()),
                   "expert FFN forward");
  } else {
    check_cuda(kernels::gather_rows(slot.recv.get(), cb.expert_rows.get(), nullptr, rows, h, buf_.dy.get(), s,
                                    cb.layer_rows.get()),
               "expert-major reorder");
    if (grouped_)
      check_cuda(kernels::expert_ffn_backward_data_grouped(*res_.grouped, shape, chunk_rows_[c], buf_.dy.get(), buf_.h13.get(),
                                                           buf_.w13_ptr.data(), buf_.w2_ptr.data(), grads(), s, gemm_sms_),
                 "expert FFN backward (data gradient, grouped)");
    else
      check_cublas(kernels::expert_ffn_backward_data(res_.cublas, shape, chunk_rows_[c], buf_.dy.get(), buf_.h13.get(),
                                                     buf_.w13_ptr.data(), buf_.w2_ptr.data(), grads(), s, res_.lanes.get()),
                   "expert FFN backward (data gradient)");
  }
  check_cuda(kernels::gather_rows(buf_.y.get(), cb.source_layer_rows.get(), nullptr, rows, h, slot.combine_send.get(), s),
             "source-major reorder");
  copy_self(slot.combine_send.get(), l.recv_offsets[r], slot.combine_recv.get(), l.send_offsets[r], l.recv_count[r], s);
}

// comet:B: stage 0 is the pass's first projection (forward gate + up, backward the down
// projection's data gradient), streaming from the rows' transfer; stage 1 the second, streaming
// into the transfer back (plan_builder.cpp, fused_gemms).
void RankRunner::fused_gemm_op(const Op& op, cudaStream_t s) {
  const bool first = op.tags.stage == 0;
  if (is_forward(op))
    first ? fused_->forward_gate_up(s) : fused_->forward_down(s);
  else
    first ? fused_->backward_down(s) : fused_->backward_gate_up(s);
}

kernels::ExpertFfnGrads RankRunner::grads() const {
  return {buf_.d_act.get(), buf_.d_h13.get(), buf_.y.get(), buf_.d_w13_ptr.data(), buf_.d_w2_ptr.data()};
}

// Once per layer, after the last chunk's data gradient: every chunk's rows of an expert are one
// range of the layer-wide buffers, so each weight gradient is one GEMM over all its rows.
void RankRunner::weight_gradient_op(cudaStream_t s) {
  const kernels::ExpertFfnShape shape{dims_.hidden, dims_.ffn};
  check_cublas(cublasSetSmCountTarget(res_.cublas, gemm_sms_), "set the GEMMs' SM count");
  if (grouped_)
    check_cuda(kernels::expert_ffn_backward_weights_grouped(*res_.grouped, shape, layer_rows_, buf_.dy.get(),
                                                            buf_.x_experts.get(), buf_.act.get(), grads(), s, gemm_sms_),
               "expert FFN backward (weight gradient, grouped)");
  else
    check_cublas(kernels::expert_ffn_backward_weights(res_.cublas, shape, layer_rows_, buf_.dy.get(), buf_.x_experts.get(),
                                                      buf_.act.get(), grads(), s, res_.lanes.get()),
                 "expert FFN backward (weight gradient)");
}

void RankRunner::all_to_all_op(int c, StreamRole role) {
  if (fault_.silent_rank == res_.rank) return;
  if (fused_) return;  // comet:B: the fused launches' transfer blocks move the rows (fused_transfer_times)
  const int r = res_.rank;
  const StagingSlot& slot = buf_.staging[c % 2];
  const auto& [send_at, send_bytes, recv_at, recv_bytes] = pieces_[c];
  const bool outbound = role == StreamRole::DISPATCH;  // dispatch and combine-grad go to the experts
  if (outbound)
    check_nccl(kernels::all_to_all_v(slot.send.get(), send_at.data(), send_bytes.data(), slot.recv.get(), recv_at.data(),
                                     recv_bytes.data(), res_.num_ranks, r, false, res_.dispatch_comm, res_.dispatch),
               "dispatch all-to-all");
  else
    check_nccl(kernels::all_to_all_v(slot.combine_send.get(), recv_at.data(), recv_bytes.data(), slot.combine_recv.get(),
                                     send_at.data(), send_bytes.data(), res_.num_ranks, r, false, res_.combine_comm,
                                     res_.combine),
               "combine all-to-all");
}

void RankRunner::stand_in_gemms(const Op& op, std::int64_t cols, const bf16* weights, bf16* out) {
  // The router and the non-MoE part are stand-ins: GEMMs of the plan's flops on this rank's tokens.
  const double unit = 2.0 * static_cast<double>(buf_.tokens) * dims_.hidden * static_cast<double>(cols);
  if (unit <= 0.0) return;
  check_cublas(cublasSetStream(res_.cublas, res_.compute), "set stream");
  check_cublas(cublasSetSmCountTarget(res_.cublas, 0), "give the stand-ins every SM");
  const int calls = std::max(1, static_cast<int>(std::lround(op.flops / unit)));
  for (int i = 0; i < calls; ++i)
    check_cublas(kernels::gemm_bf16(res_.cublas, false, false, buf_.tokens, cols, dims_.hidden, buf_.x.get(), weights, out, false),
                 "stand-in GEMM");
}

}  // namespace comet
