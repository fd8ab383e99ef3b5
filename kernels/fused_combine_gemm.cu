#include "fused_combine_gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef COMET_HAVE_CUTLASS
#include <cuda.h>
#include <cudaTypedefs.h>

#include "engine_copies.hpp"
#include "fused_launch.cuh"
#endif

namespace comet::kernels {

FusedCombineSchedule FusedCombineGemm::schedule_for(const DispatchRoute& route, std::int64_t n, int band_tiles, CombineOrder order,
                                                    CombineStores stores) {
  return make_fused_combine_schedule(route, TILE_M, static_cast<int>(std::max<std::int64_t>(1, (n + TILE_N - 1) / TILE_N)), CLUSTER_M,
                                     band_tiles, order, stores);
}

#ifdef COMET_HAVE_CUTLASS
namespace fused_detail {

// A tile's done flag once its TMA stores are complete: the store warp adds 1 (the scheduler).
constexpr unsigned TILE_DONE = 1;
static_assert(FUSED_TILE_M == FusedCombineGemm::TILE_M && FUSED_TILE_N == FusedCombineGemm::TILE_N &&
              FUSED_CLUSTER_M == FusedCombineGemm::CLUSTER_M);
static_assert(FusedCombineGemm::UNPERMUTE_TOKENS ==
              UNPERMUTE_TOKENS_PER_WARP * (static_cast<int>(decltype(FusedVariants::b_stored)::Kernel::MaxThreadsPerBlock) / 32 - 1));

// The GEMM groups of `schedule` (A from act, W_e from weights; D into the output at the group's own
// rows, or straight into the destination it is stored to) and its tile table, in `operands` and
// `table`. False on what the kernel cannot run (a group of more rows than int, a destination
// missing or misaligned, a tile of no group).
bool combine_groups(const FusedCombineSchedule& schedule, const FusedCombineBuffers& buffers, std::int64_t k, std::int64_t n,
                    std::vector<GroupOperands>& operands, std::vector<ArrivalTile>& table) {
  const auto* act = reinterpret_cast<const Element*>(buffers.act);
  const auto* weights = reinterpret_cast<const Element*>(buffers.weights);
  for (const CombineGroup& g : schedule.groups) {
    if (g.rows <= 0 || g.rows > INT32_MAX) return false;
    Element* d = reinterpret_cast<Element*>(buffers.out) + g.first_row * n;
    if (g.direct_source >= 0) {
      if (g.direct_source >= static_cast<int>(buffers.destinations.size()) || !aligned16(buffers.destinations[g.direct_source])) return false;
      d = reinterpret_cast<Element*>(buffers.destinations[g.direct_source]) + g.dest_row * n;
    }
    operands.push_back({static_cast<int>(g.rows), act + g.first_row * k, weights + static_cast<std::int64_t>(g.expert) * k * n, d});
  }
  for (const GemmTile& t : schedule.tiles) {
    if (t.group < 0 || t.group >= static_cast<int>(schedule.groups.size())) return false;
    table.push_back({t.group, t.m, t.n, -1, schedule.m_tiles(t.group)});
  }
  return true;
}

// The send blocks' tasks: every send's rows (a tile's columns, from the output to the
// destination, row strides n) and, with landing counters, each raising its destination's counter;
// with landing counters also a task of no rows per stored run, which only raises it once its tile
// is done. In the GEMM's order (done flags). False on a destination or counter missing or misaligned.
bool send_tasks(const FusedCombineSchedule& schedule, const FusedCombineBuffers& buffers, std::int64_t n, std::vector<RowTask>& tasks) {
  const bool landing = !buffers.landing.empty();
  if (landing && buffers.landing.size() != buffers.destinations.size()) return false;
  const auto task = [&](const RowSend& send, bool copies, RowTask& out) {
    if (send.source < 0 || send.source >= static_cast<int>(buffers.destinations.size())) return false;
    __nv_bfloat16* dest = buffers.destinations[send.source];
    if (!aligned16(dest)) return false;
    unsigned* land = nullptr;
    if (landing) {
      land = buffers.landing[send.source];
      if (land == nullptr || reinterpret_cast<std::uintptr_t>(land) % alignof(unsigned) != 0) return false;
      land += send.landing;
    }
    const std::int64_t column = static_cast<std::int64_t>(send.n) * FusedCombineGemm::TILE_N;
    const std::int64_t columns = std::min<std::int64_t>(FusedCombineGemm::TILE_N, n - column), stride = n / 8;
    out = {reinterpret_cast<const int4*>(buffers.out + send.row * n + column), reinterpret_cast<int4*>(dest + send.dest_row * n + column),
           copies ? send.rows : 0, columns / 8, stride, stride, send.done_flag, TILE_DONE, -1, 0, land, static_cast<unsigned>(send.rows)};
    return true;
  };
  const std::vector<RowSend>& sends = schedule.sends;
  const std::vector<RowSend> none;
  const std::vector<RowSend>& stored = landing ? schedule.stored : none;
  for (std::size_t i = 0, j = 0; i < sends.size() || j < stored.size();) {
    const bool take_stored = j < stored.size() && (i == sends.size() || stored[j].done_flag < sends[i].done_flag);
    RowTask t{};
    if (!(take_stored ? task(stored[j++], false, t) : task(sends[i++], true, t))) return false;
    tasks.push_back(t);
  }
  return true;
}

// cuStreamBatchMemOp, looked up in the driver at run time: the library links only the CUDA
// runtime, so that its programs start on machines without a driver (CI). Null where it is missing
// (or the toolkit predates cudaGetDriverEntryPointByVersion, CUDA 12.5).
PFN_cuStreamBatchMemOp_v11070 stream_batch_mem_op() {
#if CUDART_VERSION < 12050
  return nullptr;
#else
  static const PFN_cuStreamBatchMemOp_v11070 found = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult status{};
    if (cudaGetDriverEntryPointByVersion("cuStreamBatchMemOp", &f, 11070, cudaEnableDefault, &status) != cudaSuccess ||
        status != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return PFN_cuStreamBatchMemOp_v11070{nullptr};
    }
    return reinterpret_cast<PFN_cuStreamBatchMemOp_v11070>(f);
  }();
  return found;
#endif
}

// A driver call's failure in the runtime's terms (the two a stream memory operation can give for a
// caller's mistake, else unknown: not a kernel fault, which cudaErrorLaunchFailure would claim).
cudaError_t runtime_error_of(CUresult r) {
  switch (r) {
    case CUDA_SUCCESS: return cudaSuccess;
    case CUDA_ERROR_INVALID_VALUE: return cudaErrorInvalidValue;
    case CUDA_ERROR_NOT_SUPPORTED: return cudaErrorNotSupported;
    default: return cudaErrorUnknown;
  }
}

// One copy of an engine run (EngineCopy in pointers and bytes) and its waits, waits_count entries of
// the run's wait list from first_wait.
struct EngineOp {
  const void* from;
  void* to;
  std::size_t pitch, width, rows;
  std::size_t first_wait, wait_count;
};

// cuStreamBatchMemOp takes fewer than 256 operations per call.
constexpr std::size_t MAX_BATCH = 255;

}  // namespace fused_detail

using namespace fused_detail;

struct FusedCombineGemm::State : FusedState {
  int send_count = 0, done_count = 0;
  bool per_warp = false;  // SendTasks::PER_BLOCK until per-warp sends have run on a GPU
  double send_rate = 0;   // bytes per second, all send blocks together (0: unpaced)
  DeviceArray<RowTask> sends;
  DeviceArray<unsigned> done;
  // This GPU's unpermute (prepare_unpermute): its tables, and the list a launch's blocks take.
  DeviceArray<UnpermuteUnit> units;
  DeviceArray<LandingWait> waits;
  DeviceArray<std::int32_t> unit_tokens;
  UnpermuteSchedule unpermute_schedule;  // for watchdog reports
  UnpermuteList unpermute{};
  bool unpermute_ready = false;
  DoneSignal requested_signal = DoneSignal::OWN_STORES;  // set_done_count, for runs with send blocks
  // The copy engines' runs (run_engine): their copies and waits, and the events that order the
  // engine stream after the done flags' reset and the run's stream after the copies.
  bool has_landing = false;
  std::vector<EngineOp> engine_ops;
  std::vector<CUstreamBatchMemOpParams> engine_waits;
  cudaEvent_t flags_reset = nullptr, engine_done = nullptr;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (flags_reset) cudaEventDestroy(flags_reset);
    if (engine_done) cudaEventDestroy(engine_done);
  }

  // `signal`: when the GEMM counts a tile done; `reset`, when given, is recorded on the stream once
  // the done flags are zeroed.
  cudaError_t launch(int send_blocks, int gemm_blocks, unsigned char done_byte, cudaStream_t stream, DoneSignal signal,
                     int unpermute_blocks = 0, bool gemm_capped = false, cudaEvent_t reset = nullptr) {
    if (cudaError_t e = cudaMemsetAsync(done.get(), done_byte, sizeof(unsigned) * std::max(done_count, 1), stream); e != cudaSuccess) return e;
    if (reset != nullptr)
      if (cudaError_t e = cudaEventRecord(reset, stream); e != cudaSuccess) return e;
    UnpermuteList list = unpermute;
    list.blocks = unpermute_blocks;
    list.report_base = done_count;
    return FusedState::launch(sends, send_count, done.get(), send_blocks, gemm_blocks, per_warp, stream, send_rate, list, gemm_capped,
                              signal);
  }

  // The engine copies of `schedule` (after the done flags are allocated): pointers, bytes and waits.
  void prepare_engine(const FusedCombineSchedule& schedule, const FusedCombineBuffers& buffers, std::int64_t n) {
    engine_ops.clear();
    engine_waits.clear();
    const std::size_t row_bytes = static_cast<std::size_t>(n) * sizeof(Element);
    for (const EngineCopy& c : merge_engine_copies(schedule, n, FusedCombineGemm::TILE_N)) {
      engine_ops.push_back({buffers.out + c.row * n + c.column, buffers.destinations[static_cast<std::size_t>(c.source)] + c.dest_row * n + c.column,
                            row_bytes, static_cast<std::size_t>(c.columns) * sizeof(Element), static_cast<std::size_t>(c.rows),
                            engine_waits.size(), c.flags.size()});
      for (int flag : c.flags) {
        CUstreamBatchMemOpParams wait{};
        wait.waitValue.operation = CU_STREAM_MEM_OP_WAIT_VALUE_32;
        wait.waitValue.address = reinterpret_cast<CUdeviceptr>(done.get() + flag);
        wait.waitValue.value = TILE_DONE;
        wait.waitValue.flags = CU_STREAM_WAIT_VALUE_GEQ;
        engine_waits.push_back(wait);
      }
    }
  }

  // Every engine copy on `stream`, each after its waits (`batch`) unless `batch` is null.
  cudaError_t enqueue_engine_copies(cudaStream_t stream, PFN_cuStreamBatchMemOp_v11070 batch) {
    for (const EngineOp& op : engine_ops) {
      for (std::size_t w = 0; batch != nullptr && w < op.wait_count; w += MAX_BATCH) {
        const auto count = static_cast<unsigned>(std::min(MAX_BATCH, op.wait_count - w));
        if (const CUresult r = batch(reinterpret_cast<CUstream>(stream), count, engine_waits.data() + op.first_wait + w, 0); r != CUDA_SUCCESS)
          return runtime_error_of(r);
      }
      if (cudaError_t e = cudaMemcpy2DAsync(op.to, op.pitch, op.from, op.pitch, op.width, op.rows, cudaMemcpyDefault, stream); e != cudaSuccess)
        return e;
    }
    return cudaSuccess;
  }
};

FusedCombineGemm::FusedCombineGemm() : state_(std::make_unique<State>()) {}
FusedCombineGemm::~FusedCombineGemm() = default;

bool FusedCombineGemm::available(std::string* why_not) { return hopper_kernels_run_here("the fused combine kernel", why_not); }

void FusedCombineGemm::set_timeout(double seconds) { state_->set_timeout(seconds); }

void FusedCombineGemm::set_send_blocks_join(bool join) { state_->set_transfers_join(join); }

void FusedCombineGemm::set_send_tasks(SendTasks tasks) { state_->per_warp = tasks == SendTasks::PER_WARP; }

void FusedCombineGemm::set_send_rate(double bytes_per_second) { state_->send_rate = std::max(bytes_per_second, 0.0); }

void FusedCombineGemm::set_done_count(DoneCount count) {
  state_->requested_signal = count == DoneCount::AT_ONCE ? DoneSignal::OWN_STORES : DoneSignal::NEXT_TILE;
}

cudaError_t FusedCombineGemm::prepare(const FusedCombineSchedule& schedule, std::int64_t k, std::int64_t n,
                                      const FusedCombineBuffers& buffers, bool weights_transposed) {
  State& s = *state_;
  s.prepared = false;
  s.gemm.transposed = weights_transposed;
  if (!State::runs(k, n, schedule.tile_m, schedule.cluster_m, schedule.n_tiles)) return cudaErrorInvalidValue;
  if (!aligned16(buffers.act) || !aligned16(buffers.weights) || !aligned16(buffers.out)) return cudaErrorInvalidValue;
  // The schedule's GEMM groups (nothing to wait for).
  std::vector<GroupOperands> groups;
  std::vector<ArrivalTile> tiles;
  if (!combine_groups(schedule, buffers, k, n, groups, tiles)) return cudaErrorInvalidValue;
  std::vector<RowTask> sends;
  if (!send_tasks(schedule, buffers, n, sends)) return cudaErrorInvalidValue;
  for (cudaError_t e : {s.tiles.upload(tiles), s.sends.upload(sends), s.done.resize(static_cast<std::size_t>(schedule.done_flags()))})
    if (e != cudaSuccess) return e;
  s.prepare_engine(schedule, buffers, n);
  s.has_landing = !buffers.landing.empty();
  s.host_tiles = tiles;
  s.tile_count = static_cast<int>(tiles.size());
  s.send_count = static_cast<int>(sends.size());
  s.done_count = schedule.done_flags();
  s.has_gemm = !groups.empty();
  const ArrivalSchedulerArguments scheduler{s.tiles.get(), s.tile_count, CLUSTER_M, nullptr, nullptr, nullptr, Watchdog{}, s.done.get()};
  if (cudaError_t e = s.gemm.visit([&](auto& v) { return v.prepare(groups, static_cast<int>(n), static_cast<int>(k), scheduler); });
      e != cudaSuccess)
    return e;
  if (cudaError_t e = s.prepare_watchdog(schedule.done_flags()); e != cudaSuccess) return e;
  s.prepared = true;
  return cudaSuccess;
}

cudaError_t FusedCombineGemm::prepare_unpermute(const UnpermuteSchedule& schedule, std::int64_t n, const FusedUnpermuteBuffers& buffers) {
  State& s = *state_;
  s.unpermute_ready = false;
  if (n <= 0 || n % 8 != 0 || schedule.landing.n_tiles != static_cast<int>((n + TILE_N - 1) / TILE_N) || schedule.top_k <= 0)
    return cudaErrorInvalidValue;
  if (!aligned16(buffers.received) || !aligned16(buffers.out) || buffers.positions == nullptr || buffers.landing == nullptr)
    return cudaErrorInvalidValue;
  for (cudaError_t e : {s.units.upload(schedule.units), s.waits.upload(schedule.waits), s.unit_tokens.upload(schedule.tokens)})
    if (e != cudaSuccess) return e;
  s.unpermute_schedule = schedule;
  s.unpermute = UnpermuteList{s.units.get(), static_cast<int>(schedule.units.size()), 0, 0, s.waits.get(), buffers.landing,
                              s.unit_tokens.get(), buffers.positions, buffers.weights, schedule.top_k,
                              reinterpret_cast<const int4*>(buffers.received), buffers.out, static_cast<long long>(n), Watchdog{}, 0};
  s.unpermute_ready = true;
  return cudaSuccess;
}

cudaError_t FusedCombineGemm::clear_landing(cudaStream_t stream) {
  State& s = *state_;
  if (!s.unpermute_ready) return cudaErrorInvalidValue;
  const std::size_t counters = static_cast<std::size_t>(std::max(s.unpermute_schedule.landing.counters(), 1));
  return cudaMemsetAsync(const_cast<unsigned*>(s.unpermute.landing), 0, counters * sizeof(unsigned), stream);
}

cudaError_t FusedCombineGemm::run(int send_blocks, cudaStream_t stream, int gemm_sms, int unpermute_blocks) {
  State& s = *state_;
  if (unpermute_blocks < 0 || unpermute_blocks % CLUSTER_M != 0 || (unpermute_blocks > 0 && !s.unpermute_ready)) return cudaErrorInvalidValue;
  if (send_blocks % CLUSTER_M != 0) return cudaErrorInvalidValue;
  if (unpermute_blocks > 0 && send_blocks == 0 && s.send_count > 0) return cudaErrorInvalidValue;  // its own rows would never land
  const int gemm_blocks = s.gemm_blocks_beside(send_blocks + unpermute_blocks, gemm_sms);
  if (gemm_blocks < 0) return cudaErrorInvalidValue;
  if (send_blocks == 0 && gemm_blocks == 0 && unpermute_blocks == 0) return cudaSuccess;
  return s.launch(send_blocks, gemm_blocks, 0, stream, s.requested_signal, unpermute_blocks, gemm_sms > 0);
}

cudaError_t FusedCombineGemm::run_sends(int send_blocks, cudaStream_t stream) {
  State& s = *state_;
  if (!s.transfers_alone_run(send_blocks)) return cudaErrorInvalidValue;
  return s.launch(send_blocks, 0, 0xFF, stream, s.requested_signal);  // every tile already done
}

cudaError_t FusedCombineGemm::run_engine(cudaStream_t stream, cudaStream_t engine_stream, int gemm_sms) {
  State& s = *state_;
  if (!s.prepared || s.has_landing || stream == engine_stream) return cudaErrorInvalidValue;
  const PFN_cuStreamBatchMemOp_v11070 batch = stream_batch_mem_op();
  if (batch == nullptr) return cudaErrorNotSupported;
  const int gemm_blocks = s.gemm_blocks_beside(0, gemm_sms);
  if (gemm_blocks < 0) return cudaErrorInvalidValue;
  if (gemm_blocks == 0) return cudaSuccess;  // no tile, so nothing to send
  for (cudaEvent_t* event : {&s.flags_reset, &s.engine_done})
    if (*event == nullptr)
      if (cudaError_t e = cudaEventCreateWithFlags(event, cudaEventDisableTiming); e != cudaSuccess) return e;
  // System scope: the engine stream reads the flags and the rows from outside the SMs.
  if (cudaError_t e = s.launch(0, gemm_blocks, 0, stream, DoneSignal::OWN_STORES_SYSTEM, 0, gemm_sms > 0, s.flags_reset); e != cudaSuccess)
    return e;
  if (cudaError_t e = cudaStreamWaitEvent(engine_stream, s.flags_reset); e != cudaSuccess) return e;
  // Whatever was enqueued, `stream` waits for it: the launch raises every flag, so waits left by a
  // failure part-way still pass, but the next run's reset of the flags must not come before them.
  const cudaError_t enqueued = s.enqueue_engine_copies(engine_stream, batch);
  if (cudaError_t e = cudaEventRecord(s.engine_done, engine_stream); e != cudaSuccess) return e;
  if (cudaError_t e = cudaStreamWaitEvent(stream, s.engine_done); e != cudaSuccess) return e;
  return enqueued;
}

cudaError_t FusedCombineGemm::run_engine_sends(cudaStream_t stream) {
  State& s = *state_;
  if (!s.prepared) return cudaErrorInvalidValue;
  return s.enqueue_engine_copies(stream, nullptr);  // every tile already done: no waits
}

int FusedCombineGemm::engine_copy_count() const { return static_cast<int>(state_->engine_ops.size()); }

int FusedCombineGemm::watchdog() { return state_->watchdog(); }

std::string FusedCombineGemm::watchdog_report(int listed) {
  State& s = *state_;
  if (!s.prepared) return "";
  if (const int trip = s.watchdog(); trip >= s.done_count && s.unpermute_ready) {
    // An unpermute block gave up on a landing counter: which sender, expert and N tile, and its count now.
    const int counter = trip - s.done_count;
    const LandingLayout& l = s.unpermute_schedule.landing;
    unsigned now = 0;
    if (counter >= l.counters() || cudaMemcpy(&now, s.unpermute.landing + counter, sizeof now, cudaMemcpyDeviceToHost) != cudaSuccess)
      return "(an unpermute block gave up on landing counter " + std::to_string(counter) + ", which cannot be read)";
    const int n = counter % l.n_tiles, expert = counter / l.n_tiles % l.experts, sender = counter / l.n_tiles / l.experts;
    return "an unpermute block gave up waiting for the rows of sender " + std::to_string(sender) + ", expert " + std::to_string(expert) +
           ", N tile " + std::to_string(n) + ": " + std::to_string(now) + " of " +
           std::to_string(s.unpermute_schedule.expected[static_cast<std::size_t>(counter)]) + " rows landed";
  }
  return s.watchdog_report(std::vector<unsigned>(static_cast<std::size_t>(s.done_count), TILE_DONE),
                           [&](int flag) { return s.tile_at(flag / CLUSTER_M, flag % CLUSTER_M); }, listed);
}

TransferSpan FusedCombineGemm::transfer_span() { return state_->transfer_span(); }

TransferSpan FusedCombineGemm::unpermute_span() { return state_->unpermute_span(); }

double FusedCombineGemm::send_clock_mhz() { return state_->transfer_clock_mhz(); }

#else  // without CUTLASS: the API exists and says why it cannot run

struct FusedCombineGemm::State {};
FusedCombineGemm::FusedCombineGemm() : state_(std::make_unique<State>()) {}
FusedCombineGemm::~FusedCombineGemm() = default;
bool FusedCombineGemm::available(std::string* why_not) {
  if (why_not) *why_not = "built without CUTLASS (scripts/setup.sh installs its headers; COMET_CUTLASS_DIR)";
  return false;
}
void FusedCombineGemm::set_timeout(double) {}
void FusedCombineGemm::set_send_blocks_join(bool) {}
void FusedCombineGemm::set_send_tasks(SendTasks) {}
void FusedCombineGemm::set_send_rate(double) {}
void FusedCombineGemm::set_done_count(DoneCount) {}
cudaError_t FusedCombineGemm::run_engine(cudaStream_t, cudaStream_t, int) { return cudaErrorNotSupported; }
cudaError_t FusedCombineGemm::run_engine_sends(cudaStream_t) { return cudaErrorNotSupported; }
int FusedCombineGemm::engine_copy_count() const { return 0; }
cudaError_t FusedCombineGemm::prepare(const FusedCombineSchedule&, std::int64_t, std::int64_t, const FusedCombineBuffers&, bool) {
  return cudaErrorNotSupported;
}
cudaError_t FusedCombineGemm::prepare_unpermute(const UnpermuteSchedule&, std::int64_t, const FusedUnpermuteBuffers&) {
  return cudaErrorNotSupported;
}
cudaError_t FusedCombineGemm::clear_landing(cudaStream_t) { return cudaErrorNotSupported; }
cudaError_t FusedCombineGemm::run(int, cudaStream_t, int, int) { return cudaErrorNotSupported; }
cudaError_t FusedCombineGemm::run_sends(int, cudaStream_t) { return cudaErrorNotSupported; }
int FusedCombineGemm::watchdog() { return -1; }
std::string FusedCombineGemm::watchdog_report(int) { return ""; }
TransferSpan FusedCombineGemm::transfer_span() { return {}; }
TransferSpan FusedCombineGemm::unpermute_span() { return {}; }
double FusedCombineGemm::send_clock_mhz() { return 0.0; }

#endif

}  // namespace comet::kernels
