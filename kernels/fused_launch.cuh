// What COMET's fused kernels (fused_dispatch_gemm.cu, fused_combine_gemm.cu) share: the transfer
// blocks' row tasks, the one launch in which those blocks and the CUTLASS GEMM blocks run side by
// side, and device arrays filled once from the host. Included only where CUTLASS is.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "arrival_tile_scheduler.cuh"
#include "cutlass_grouped_kernels.cuh"
#include "fused_schedule.hpp"
#include "fused_unpermute_schedule.hpp"
#include "global_timer.hpp"

namespace comet::kernels::fused_detail {

using grouped_detail::Element;
using grouped_detail::hopper_kernels_run_here;

// The fused kernels' GEMM: 128 x 256 x 64 tiles, two consumer warp groups (cooperative), clusters
// of two blocks along M that share (multicast) the weight tile, which halves the weight traffic
// from L2 (as the grouped GEMM's large tiles do), TMA stores in the epilogue. The
// combine's send blocks wait for those stores (arrival_tile_scheduler.cuh): stores from registers
// instead (CUTLASS's NoSmem epilogue) left its GEMM 36% slower on DeepSeek-V3's down projection
// (K 2048), where the epilogue is a large share of a tile (one H200, 2026-12-05).
struct FusedTiles {
  using Tile = cute::Shape<cute::_128, cute::_256, cute::_64>;
  using Cluster = cute::Shape<cute::_2, cute::_1, cute::_1>;
  using KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative;
  using Epilogue = grouped_detail::EpilogueFor<Tile, Cluster, cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative>;
  static constexpr int EPILOGUE_SMEM_BYTES = static_cast<int>(sizeof(typename Epilogue::SharedStorage));
  /// Bulk store groups the epilogue commits per output tile: one per epilogue subtile.
  static constexpr int STORE_GROUPS_PER_TILE =
      static_cast<int>((cute::size<0>(Tile{}) / cute::size<0>(typename Epilogue::EpilogueTile{})) *
                       (cute::size<1>(Tile{}) / cute::size<1>(typename Epilogue::EpilogueTile{})));
};
constexpr int FUSED_TILE_M = 128, FUSED_TILE_N = 256, FUSED_CLUSTER_M = 2;
using FusedProblemShape = ArrivalProblemShape<FusedTiles::STORE_GROUPS_PER_TILE>;

// Row-major A [m, k] and D [m, n]; B [k, n] (an expert's weights: RowMajor) or B^T stored [n, k]
// (ColumnMajor: the backward's data gradients, dy w2^T and d_h13 w13^T); the arrival scheduler.
template <class LayoutB>
using FusedGemm = grouped_detail::GroupedKernel<cutlass::layout::RowMajor, LayoutB, FusedTiles, FusedProblemShape>;

/// One run of rows a transfer block moves, in 16-byte vectors: `rows` rows of `row_vectors`, row r
/// from source + r * source_stride to dest + r * dest_stride. Before: wait until flags[wait_flag]
/// reaches wait_count (wait_flag < 0: nothing to wait for). After: add raise_amount to
/// flags[raise_flag] (raise_flag < 0: nothing to raise), and land_rows to *land, a landing counter
/// in the destination's memory, once the rows are visible to every GPU (land null: none). A task
/// of no rows only waits and raises (the landing of rows the GEMM's epilogue stored itself).
struct RowTask {
  const int4* source;
  int4* dest;
  long long rows, row_vectors, source_stride, dest_stride;
  int wait_flag;
  unsigned wait_count;
  int raise_flag;
  unsigned raise_amount;
  unsigned* land;
  unsigned land_rows;
};

/// The transfer blocks' work: blocks [0, blocks) of the launch take tasks b, b + blocks, ...
struct TransferList {
  const RowTask* tasks;
  int count;
  int blocks;
  unsigned* flags;
  Watchdog watchdog;         ///< shared with the GEMM's scheduler
  /// Per transfer (and unpermute) block: %globaltimer when it finished its tasks (its start:
  /// watchdog.block_start_ns), and the SM clock cycles it ran (clock64): their ratio is the clock
  /// every SM ran at meanwhile (one clock for the whole GPU).
  unsigned long long* end_ns;
  unsigned long long* cycles;
  /// Each warp takes its own tasks (warp w of block b: tasks b x warps + w, stepping by every
  /// warp of the transfer blocks) instead of each block: for many small tasks (the combine's
  /// sends, a tile's 128 rows x 512 bytes each), whose per-task wait, fence and barrier held a
  /// block to one task at a time.
  bool per_warp;
  /// Pacing: each task taker (a block, or a warp with per_warp) starts a task no sooner than this
  /// many picoseconds per byte it has moved since it began (0: as fast as it can): what a rate
  /// below the link's costs or saves beside the GEMM.
  unsigned long long pace_ps_per_byte;
  /// Each transfer block, its tasks done, joins the GEMM (claims tiles as the GEMM blocks do), so
  /// that its SM computes for the rest of the launch instead of idling.
  bool join_gemm;
};

// Loads in flight per thread: host-mapped memory over PCIe answers in microseconds, so each block
// keeps many requests outstanding (one H100: 4 blocks moved 42 GB/s with 8 per thread).
constexpr int TRANSFER_UNROLL = 16;

// The transfers keep TRANSFER_UNROLL loads in flight per thread, every thread of the block busy:
// row by row, a send of 512-byte row pieces kept 32 threads busy and moved 0.5 GB/s per block to
// host memory (one H100), and splitting each vector index into row and column by a 64-bit
// division held a block at 11 GB/s even into device memory (one H200).

// Each copy below is done by `threads` threads together (a block, or a warp), this one `thread`.

// `count` contiguous vectors.
__device__ inline void copy_vectors(const int4* source, int4* dest, long long count, int thread, int threads) {
  const long long stride = static_cast<long long>(threads) * TRANSFER_UNROLL;
  for (long long base = thread; base < count; base += stride) {
    int4 v[TRANSFER_UNROLL];
#pragma unroll
    for (int u = 0; u < TRANSFER_UNROLL; ++u) {
      const long long i = base + static_cast<long long>(u) * threads;
      if (i < count) v[u] = __ldcs(source + i);
    }
#pragma unroll
    for (int u = 0; u < TRANSFER_UNROLL; ++u) {
      const long long i = base + static_cast<long long>(u) * threads;
      if (i < count) dest[i] = v[u];
    }
  }
}

// Row pieces no wider than the threads (a GEMM tile's columns of each row): each thread keeps one
// column and steps over rows, threads / row_vectors rows at a time.
__device__ inline void copy_row_pieces(const RowTask& task, int thread, int threads) {
  const int width = static_cast<int>(task.row_vectors);
  const int rows_at_once = threads / width;
  const int first_row = thread / width, column = thread % width;
  if (first_row >= rows_at_once) return;
  const long long step = static_cast<long long>(rows_at_once) * TRANSFER_UNROLL;
  for (long long base = first_row; base < task.rows; base += step) {
    int4 v[TRANSFER_UNROLL];
#pragma unroll
    for (int u = 0; u < TRANSFER_UNROLL; ++u) {
      const long long row = base + static_cast<long long>(u) * rows_at_once;
      if (row < task.rows) v[u] = __ldcs(task.source + row * task.source_stride + column);
    }
#pragma unroll
    for (int u = 0; u < TRANSFER_UNROLL; ++u) {
      const long long row = base + static_cast<long long>(u) * rows_at_once;
      if (row < task.rows) task.dest[row * task.dest_stride + column] = v[u];
    }
  }
}

// One task's rows, by `threads` threads together.
__device__ inline void copy_task(const RowTask& task, int thread, int threads) {
  if (task.source_stride == task.row_vectors && task.dest_stride == task.row_vectors)
    copy_vectors(task.source, task.dest, task.rows * task.row_vectors, thread, threads);
  else if (task.row_vectors <= threads)
    copy_row_pieces(task, thread, threads);
  else
    for (long long row = 0; row < task.rows; ++row)
      copy_vectors(task.source + row * task.source_stride, task.dest + row * task.dest_stride, task.row_vectors, thread, threads);
}

__device__ inline void raise_flag(const TransferList& list, const RowTask& task) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(list.flags + task.raise_flag), "r"(task.raise_amount) : "memory");
}

// The destination reads the rows on another GPU, maybe: release at system scope by one thread
// after the group's barrier (cumulative: it covers the writes the barrier ordered before it, as
// NCCL's one fence after a barrier does). Its wait for the writes over the link is the costly
// part: with sends per warp the other warps' copies go on meanwhile.
__device__ inline void raise_landing(const RowTask& task) {
  asm volatile("red.release.sys.global.add.u32 [%0], %1;" ::"l"(task.land), "r"(task.land_rows) : "memory");
}

// With pacing, waits until `begin` + `moved` bytes' worth of time (by one thread of the taker).
__device__ inline void pace(const TransferList& list, unsigned long long begin, unsigned long long moved) {
  if (list.pace_ps_per_byte == 0) return;
  const unsigned long long due = begin + moved * list.pace_ps_per_byte / 1000;
  while (global_timer_ns() < due) __nanosleep(500);
}

__device__ inline unsigned long long task_bytes(const RowTask& task) {
  return static_cast<unsigned long long>(task.rows) * static_cast<unsigned long long>(task.row_vectors) * sizeof(int4);
}

// The tasks of this block (per_warp: of each of its warps), each after its wait (and its pace).
// Rows raised here are read by TMA (the async proxy): every writer orders its stores for that
// proxy, and the group's stores all precede the release of the flag by its first thread.
__device__ inline void transfer_rows(const TransferList& list) {
  const unsigned long long begin = list.pace_ps_per_byte ? global_timer_ns() : 0;
  unsigned long long moved = 0;
  if (list.per_warp) {
    const int lane = static_cast<int>(threadIdx.x) % 32, warps = static_cast<int>(blockDim.x) / 32;
    for (int t = static_cast<int>(blockIdx.x) * warps + static_cast<int>(threadIdx.x) / 32; t < list.count; t += list.blocks * warps) {
      const RowTask task = list.tasks[t];
      if (task.wait_flag >= 0 || list.pace_ps_per_byte) {
        if (lane == 0) {
          if (task.wait_flag >= 0) wait_for_count(list.flags, task.wait_flag, task.wait_count, list.watchdog);
          pace(list, begin, moved);
        }
        __syncwarp();
      }
      moved += task_bytes(task);
      copy_task(task, lane, 32);
      fence_generic_to_async_proxy();
      __syncwarp();
      if (lane == 0 && task.raise_flag >= 0) raise_flag(list, task);
      if (lane == 0 && task.land != nullptr) raise_landing(task);
    }
    return;
  }
  for (int t = static_cast<int>(blockIdx.x); t < list.count; t += list.blocks) {
    const RowTask task = list.tasks[t];
    if (task.wait_flag >= 0 || list.pace_ps_per_byte) {
      if (threadIdx.x == 0) {
        if (task.wait_flag >= 0) wait_for_count(list.flags, task.wait_flag, task.wait_count, list.watchdog);
        pace(list, begin, moved);
      }
      __syncthreads();
    }
    moved += task_bytes(task);
    copy_task(task, static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x));
    fence_generic_to_async_proxy();
    __syncthreads();
    if (threadIdx.x == 0 && task.raise_flag >= 0) raise_flag(list, task);
    if (threadIdx.x == 0 && task.land != nullptr) raise_landing(task);
  }
}

/// The unpermute blocks' work (the combine side, at the destination): blocks [first_block,
/// first_block + blocks) of the launch take units u, u + blocks, ..., each once the landing counters
/// it waits for count their rows: out[t, columns of N tile n] += sum over j of weights[t, j] x
/// received[positions[t, j], same columns] (fp32; weights null: all 1), as combine_rows does.
struct UnpermuteList {
  const UnpermuteUnit* units;
  int count;
  int first_block, blocks;
  const LandingWait* waits;
  const unsigned* landing;       ///< this GPU's landing counters (raised by every sender)
  const std::int32_t* tokens;
  const std::int32_t* positions;  ///< [tokens x top_k] rows of `received`, < 0: no copy
  const float* weights;           ///< [tokens x top_k] or null
  int top_k;
  const int4* received;           ///< this GPU's combine buffer, bf16 [rows, columns]
  float* out;                     ///< [tokens, columns]
  long long columns;
  Watchdog watchdog;              ///< the launch's (set by the launch)
  int report_base;                ///< a trip on landing counter c reports report_base + c
};

// Tokens a warp reduces at once, their rows' loads in flight together (one latency for all).
constexpr int UNPERMUTE_TOKENS_PER_WARP = 4;

// The columns of N tile `unit.n` of the unit's tokens by the block's first `warps` warps: a warp
// takes UNPERMUTE_TOKENS_PER_WARP tokens at a time, lane l their columns 8l .. 8l + 7 (a 512-byte
// row piece per token and copy, coalesced). The rows are read through L2 (ld.global.cg): other
// blocks and GPUs wrote them during this launch. The sum is formed first and then added, as
// combine_rows does (same rounding).
__device__ inline void unpermute_unit(const UnpermuteList& u, const UnpermuteUnit& unit, int warps) {
  constexpr int G = UNPERMUTE_TOKENS_PER_WARP;
  const long long first_column = static_cast<long long>(unit.n) * FUSED_TILE_N;
  const int vectors = static_cast<int>(min(u.columns - first_column, static_cast<long long>(FUSED_TILE_N)) / 8);
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  if (lane >= vectors || warp >= warps) return;
  const long long column = first_column + static_cast<long long>(lane) * 8;
  for (int first = warp * G; first < unit.tokens; first += warps * G) {
    long long t[G];
    float4 out[G][2];
    float sum[G][8];
#pragma unroll
    for (int g = 0; g < G; ++g) {
      t[g] = first + g < unit.tokens ? u.tokens[unit.first_token + first + g] : -1;
      if (t[g] >= 0) {
        const auto* o = reinterpret_cast<const float4*>(u.out + t[g] * u.columns + column);
        out[g][0] = o[0], out[g][1] = o[1];
      }
#pragma unroll
      for (int x = 0; x < 8; ++x) sum[g][x] = 0.0f;
    }
    for (int j = 0; j < u.top_k; ++j) {
      int4 raw[G];
      float w[G];
      bool has[G];
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const std::int32_t p = t[g] < 0 ? -1 : u.positions[t[g] * u.top_k + j];
        has[g] = p >= 0;
        if (!has[g]) continue;
        w[g] = u.weights == nullptr ? 1.0f : u.weights[t[g] * u.top_k + j];
        raw[g] = __ldcg(u.received + (static_cast<long long>(p) * u.columns + column) / 8);
      }
#pragma unroll
      for (int g = 0; g < G; ++g) {
        if (!has[g]) continue;
        const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw[g]);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float2 f = __bfloat1622float2(pairs[q]);
          sum[g][2 * q] += w[g] * f.x;
          sum[g][2 * q + 1] += w[g] * f.y;
        }
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      if (t[g] < 0) continue;
      float4 a = out[g][0], b = out[g][1];
      a.x += sum[g][0], a.y += sum[g][1], a.z += sum[g][2], a.w += sum[g][3];
      b.x += sum[g][4], b.y += sum[g][5], b.z += sum[g][6], b.w += sum[g][7];
      auto* o = reinterpret_cast<float4*>(u.out + t[g] * u.columns + column);
      o[0] = a, o[1] = b;
    }
  }
}

// Every landing the unit waits for, by one warp: its lanes each wait for one counter at a time
// (their loads in flight together).
__device__ inline void wait_for_landings(const UnpermuteList& u, const UnpermuteUnit& unit) {
  for (int w = unit.first_wait + static_cast<int>(threadIdx.x) % 32; w < unit.first_wait + unit.waits; w += 32) {
    const LandingWait wait = u.waits[w];
    wait_for_count<WaitScope::SYSTEM>(u.landing, wait.counter, static_cast<unsigned>(wait.rows), u.watchdog, u.report_base + wait.counter);
  }
}

// This block's units, each after its landings: the last warp waits for the next unit's while the
// others reduce this one (a wait is a round trip at system scope, about as long as a unit's
// reduction), and the barrier after each unit hands its acquires on.
__device__ inline void unpermute_rows(const UnpermuteList& u) {
  const int reducing_warps = static_cast<int>(blockDim.x) / 32 - 1;
  const bool waiter = static_cast<int>(threadIdx.x) / 32 == reducing_warps;
  const int first = static_cast<int>(blockIdx.x) - u.first_block;
  if (waiter && first < u.count) wait_for_landings(u, u.units[first]);
  __syncthreads();
  for (int i = first; i < u.count; i += u.blocks) {
    if (!waiter) unpermute_unit(u, u.units[i], reducing_warps);
    else if (i + u.blocks < u.count) wait_for_landings(u, u.units[i + u.blocks]);
    __syncthreads();  // unit i reduced, unit i + blocks landed
  }
}

// The fused launch: transfer blocks first (the hardware starts blocks in index order), then the
// unpermute's blocks (the combine at the destination; none elsewhere), then the GEMM's clusters.
// Unpermute blocks wait for transfer blocks (here, or of other GPUs' launches), which wait for
// GEMM blocks, which wait for nothing here (the combine) or for transfer blocks (the dispatch).
// With join_gemm a transfer block becomes a GEMM block once its tasks are done: it then waits as
// the GEMM blocks do, for transfer blocks that are still running (every block is resident).
template <class GemmKernel>
__global__ void __launch_bounds__(GemmKernel::MaxThreadsPerBlock, GemmKernel::MinBlocksPerMultiprocessor)
    fused_kernel(CUTLASS_GRID_CONSTANT typename GemmKernel::Params const gemm, TransferList const transfers,
                 UnpermuteList const unpermute) {
  // When each block started: what a watchdog trip reports (which blocks were running then).
  if (threadIdx.x == 0) transfers.watchdog.block_start_ns[blockIdx.x] = global_timer_ns();
  if (static_cast<int>(blockIdx.x) < transfers.blocks + unpermute.blocks) {
    const long long first_cycle = clock64();
    const bool transfer = static_cast<int>(blockIdx.x) < transfers.blocks;
    if (transfer) transfer_rows(transfers);
    else unpermute_rows(unpermute);
    __syncthreads();  // every warp's tasks done (per_warp)
    if (threadIdx.x == 0) {
      transfers.end_ns[blockIdx.x] = global_timer_ns();
      transfers.cycles[blockIdx.x] = static_cast<unsigned long long>(clock64() - first_cycle);
    }
    // Transfer blocks come in whole clusters, so both blocks of a cluster join (the GEMM's first
    // cluster barrier waits for the later one). Unpermute blocks never do: they wait for other GPUs.
    if (!transfer || !transfers.join_gemm) return;
  }
  extern __shared__ char shared_storage[];
  GemmKernel op;
  op(gemm, shared_storage);
}

/// Once per device: lets the fused kernel of GemmKernel use the shared memory its GEMM needs.
template <class GemmKernel>
cudaError_t allow_fused_shared_memory() {
  return cudaFuncSetAttribute(fused_kernel<GemmKernel>, cudaFuncAttributeMaxDynamicSharedMemorySize, GemmKernel::SharedStorageSize);
}

/// The launch configuration of the fused kernel of GemmKernel: `blocks` blocks in clusters of
/// cluster_m along x, the GEMM's threads and shared memory per block.
template <class GemmKernel>
class FusedLaunchConfig {
 public:
  FusedLaunchConfig(int blocks, int cluster_m, cudaStream_t stream) {
    cluster_.id = cudaLaunchAttributeClusterDimension;
    cluster_.val.clusterDim.x = static_cast<unsigned>(cluster_m);
    cluster_.val.clusterDim.y = cluster_.val.clusterDim.z = 1;
    config_.gridDim = dim3(static_cast<unsigned>(blocks), 1, 1);
    config_.blockDim = dim3(GemmKernel::MaxThreadsPerBlock, 1, 1);
    config_.dynamicSmemBytes = GemmKernel::SharedStorageSize;
    config_.stream = stream;
    config_.attrs = &cluster_;
    config_.numAttrs = 1;
  }
  FusedLaunchConfig(const FusedLaunchConfig&) = delete;  // config_ points at cluster_
  FusedLaunchConfig& operator=(const FusedLaunchConfig&) = delete;
  const cudaLaunchConfig_t* get() const { return &config_; }

 private:
  cudaLaunchAttribute cluster_{};
  cudaLaunchConfig_t config_{};
};

/// One launch of the transfer blocks, the unpermute's and `gemm_blocks` GEMM blocks (the
/// unpermute's and the GEMM's whole clusters of cluster_m, the transfer blocks with them).
template <class GemmKernel>
cudaError_t launch_fused(typename GemmKernel::Params params, const TransferList& transfers, const UnpermuteList& unpermute,
                         int gemm_blocks, int cluster_m, ClaimBoard* claims, DoneSignal done_signal, cudaStream_t stream) {
  params.scheduler.claims = claims;
  params.scheduler.done_signal = done_signal;
  params.scheduler.watchdog = transfers.watchdog;
  const FusedLaunchConfig<GemmKernel> config(transfers.blocks + unpermute.blocks + gemm_blocks, cluster_m, stream);
  return cudaLaunchKernelEx(config.get(), fused_kernel<GemmKernel>, params, transfers, unpermute);
}

/// A device array filled from the host once (setup, synchronous).
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(data_); }
  cudaError_t upload(const std::vector<T>& values) {
    if (cudaError_t e = resize(values.size()); e != cudaSuccess) return e;
    return values.empty() ? cudaSuccess : cudaMemcpy(data_, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  cudaError_t resize(std::size_t count) {
    if (count <= capacity_) return cudaSuccess;
    cudaFree(data_);
    data_ = nullptr;
    capacity_ = 0;
    if (cudaError_t e = cudaMalloc(&data_, std::max<std::size_t>(count, 1) * sizeof(T)); e != cudaSuccess) return e;
    capacity_ = count;
    return cudaSuccess;
  }
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

/// One GEMM group: D [m, n] = A [m, k] x B [k, n].
struct GroupOperands {
  int m;
  const Element* a;
  const Element* b;
  Element* d;
};

/// The per-group argument arrays of a fused GEMM in device memory, and the kernel parameters made
/// from them (setup, synchronous: once per routing).
template <class Gemm>
class GroupArrays {
 public:
  using Kernel = typename Gemm::Kernel;
  using Scheduler = typename Kernel::TileSchedulerArguments;

  cudaError_t prepare(const std::vector<GroupOperands>& groups, int n, int k, int device, int sms, const Scheduler& scheduler,
                      typename Kernel::Params& params) {
    std::vector<typename FusedProblemShape::UnderlyingProblemShape> host_shapes;
    std::vector<const Element*> a, b, c;
    std::vector<Element*> d;
    std::vector<typename Gemm::StrideA> sa;
    std::vector<typename Gemm::StrideB> sb;
    std::vector<typename Gemm::StrideC> sc;
    std::vector<typename Gemm::StrideD> sd;
    for (const GroupOperands& g : groups) {
      host_shapes.push_back({g.m, n, k});
      a.push_back(g.a), b.push_back(g.b), c.push_back(g.d), d.push_back(g.d);  // C read only with beta != 0: never here
      sa.push_back(cutlass::make_cute_packed_stride(typename Gemm::StrideA{}, {g.m, k, 1}));
      sb.push_back(cutlass::make_cute_packed_stride(typename Gemm::StrideB{}, {n, k, 1}));
      sc.push_back(cutlass::make_cute_packed_stride(typename Gemm::StrideC{}, {g.m, n, 1}));
      sd.push_back(cutlass::make_cute_packed_stride(typename Gemm::StrideD{}, {g.m, n, 1}));
    }
    for (cudaError_t e : {shapes_.upload(host_shapes), a_.upload(a), b_.upload(b), c_.upload(c), d_.upload(d), stride_a_.upload(sa),
                          stride_b_.upload(sb), stride_c_.upload(sc), stride_d_.upload(sd)})
      if (e != cudaSuccess) return e;
    host_shapes_ = std::move(host_shapes);
    if (groups.empty()) return cudaSuccess;
    cutlass::KernelHardwareInfo hw;
    hw.device_id = device;
    hw.sm_count = sms;
    typename Kernel::Arguments arguments{cutlass::gemm::GemmUniversalMode::kGrouped,
                                         FusedProblemShape{{static_cast<int>(host_shapes_.size()), shapes_.get(), host_shapes_.data()}},
                                         {a_.get(), stride_a_.get(), b_.get(), stride_b_.get()},
                                         {{}, c_.get(), stride_c_.get(), d_.get(), stride_d_.get()},
                                         hw,
                                         scheduler};
    arguments.epilogue.thread.alpha = 1.0f;
    arguments.epilogue.thread.beta = 0.0f;
    if (!Kernel::can_implement(arguments)) return cudaErrorInvalidValue;
    if (cudaError_t e = workspace_.resize(Kernel::get_workspace_size(arguments)); e != cudaSuccess) return e;
    if (Kernel::initialize_workspace(arguments, workspace_.get(), nullptr) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
    params = Kernel::to_underlying_arguments(arguments, workspace_.get());
    return cudaDeviceSynchronize();
  }

 private:
  DeviceArray<typename FusedProblemShape::UnderlyingProblemShape> shapes_;
  std::vector<typename FusedProblemShape::UnderlyingProblemShape> host_shapes_;  // read by the kernel's setup
  DeviceArray<const Element*> a_, b_, c_;
  DeviceArray<Element*> d_;
  DeviceArray<typename Gemm::StrideA> stride_a_;
  DeviceArray<typename Gemm::StrideB> stride_b_;
  DeviceArray<typename Gemm::StrideC> stride_c_;
  DeviceArray<typename Gemm::StrideD> stride_d_;
  DeviceArray<std::uint8_t> workspace_;
};

/// Blocks of the fused kernel that can be resident at once in whole clusters of cluster_m: with a
/// block per SM, clusters must fit in a GPC, and a GPC with an odd number of free SMs leaves one
/// idle, so this can be below the SM count. The grid never exceeds it, so that every block a wait
/// depends on is running (cudaOccupancyMaxActiveClusters; the SM count if the query fails).
template <class GemmKernel>
int resident_blocks(int cluster_m, int sms) {
  const FusedLaunchConfig<GemmKernel> config(sms / cluster_m * cluster_m, cluster_m, nullptr);
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, fused_kernel<GemmKernel>, config.get()) != cudaSuccess || clusters < 1) {
    cudaGetLastError();  // clear a failed query
    return sms / cluster_m * cluster_m;
  }
  return std::min(sms, clusters * cluster_m) / cluster_m * cluster_m;
}

/// The current device, the blocks of the fused kernel that fit on it at once (resident_blocks) and
/// the shared memory its GEMM needs allowed there, once.
template <class Kernel>
cudaError_t bind_device(int& device, int& blocks, int cluster_m) {
  if (device >= 0) return cudaSuccess;
  int current = 0, sms = 0;
  if (cudaError_t e = cudaGetDevice(&current); e != cudaSuccess) return e;
  if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, current); e != cudaSuccess) return e;
  if (cudaError_t e = allow_fused_shared_memory<Kernel>(); e != cudaSuccess) return e;
  blocks = resident_blocks<Kernel>(cluster_m, sms);
  device = current;
  return cudaSuccess;
}

/// One fused GEMM kernel with its device arguments and parameters.
template <class Gemm>
struct FusedVariant {
  using Kernel = typename Gemm::Kernel;
  GroupArrays<Gemm> groups;
  typename Kernel::Params params{};
  int device = -1;
  int blocks = 0;  // blocks of the fused kernel resident at once (resident_blocks): the grid's limit

  cudaError_t prepare(const std::vector<GroupOperands>& operands, int n, int k, const typename Kernel::TileSchedulerArguments& scheduler) {
    if (cudaError_t e = bind_device<Kernel>(device, blocks, FUSED_CLUSTER_M); e != cudaSuccess) return e;
    return groups.prepare(operands, n, k, device, blocks, scheduler, params);
  }
  cudaError_t launch(const TransferList& transfers, const UnpermuteList& unpermute, int gemm_blocks, ClaimBoard* claims,
                     DoneSignal done_signal, cudaStream_t stream) {
    return launch_fused<Kernel>(params, transfers, unpermute, gemm_blocks, FUSED_CLUSTER_M, claims, done_signal, stream);
  }
};

/// A fused kernel's two layouts of B, the one prepared last in use (visit calls f with it).
struct FusedVariants {
  FusedVariant<FusedGemm<cutlass::layout::RowMajor>> b_stored;
  FusedVariant<FusedGemm<cutlass::layout::ColumnMajor>> b_transposed;
  bool transposed = false;

  template <class F>
  auto visit(F&& f) {
    return transposed ? f(b_transposed) : f(b_stored);
  }
};


/// What the dispatch and combine kernels keep alike on the host: the tile table, the watchdog (its
/// word, timeout and what a trip records), the GEMM in both layouts of B, and how one launch's
/// blocks are counted.
struct FusedState {
  std::uint64_t timeout_ns = 10'000'000'000ull;
  bool prepared = false, has_gemm = false;
  int tile_count = 0;
  DeviceArray<ArrivalTile> tiles;
  std::vector<ArrivalTile> host_tiles;  // the tile table as uploaded (for watchdog reports)
  FusedVariants gemm;
  // The watchdog: its word (sticky: set by the first wait that gives up in any launch since
  // prepare()), the blocks' start times of the launch running, and the trip's snapshot.
  DeviceArray<unsigned> watchdog_word, flag_snapshot;
  DeviceArray<unsigned long long> block_start, start_snapshot;
  int waited_flags = 0;  // flags the launches' waits read
  // Per transfer (then unpermute) block of the last launch: when it finished, and the SM clock cycles it ran.
  DeviceArray<unsigned long long> transfer_end, block_cycles;
  int last_transfer_blocks = 0, last_unpermute_blocks = 0;
  DeviceArray<ClaimBoard> claims;  // the GEMM clusters' tile claims (tile_claims.hpp), zeroed before each launch
  bool transfers_join = true;      // set_transfers_join

  /// Once per prepare(), after the GEMM's: room for the watchdog's records of a launch whose waits
  /// read `flag_count` flags, and its word cleared (synchronous).
  cudaError_t prepare_watchdog(int flag_count) {
    waited_flags = flag_count;
    const std::size_t most_blocks = static_cast<std::size_t>(std::max(blocks(), 1));
    if (!claims_fit(static_cast<int>(most_blocks), FUSED_CLUSTER_M)) return cudaErrorInvalidValue;  // a GPU of more SMs than the board
    for (cudaError_t e : {watchdog_word.resize(1), flag_snapshot.resize(static_cast<std::size_t>(std::max(flag_count, 1))),
                          block_start.resize(most_blocks), start_snapshot.resize(most_blocks + Watchdog::TRIP_RECORD),
                          transfer_end.resize(most_blocks), block_cycles.resize(most_blocks), claims.resize(1)})
      if (e != cudaSuccess) return e;
    return cudaMemset(watchdog_word.get(), 0, sizeof(unsigned));
  }

  /// One GEMM group per expert with rows (rows of A from `a`, row stride k; W_e at b + e k n; D
  /// into `d`, row stride n) and the tile table of `schedule_tiles` over them, in `operands` and
  /// `table`. The tiles wait for their rows when `expert_first_flag` is given (flag of M tile m of
  /// expert e: expert_first_flag[e] + m). False on what the kernel cannot run (an expert of more
  /// rows than int, a tile of an expert without rows).
  static bool expert_groups(const std::vector<std::int64_t>& expert_first_row, const std::vector<GemmTile>& schedule_tiles,
                            const std::vector<int>* expert_first_flag, const Element* a, const Element* b, Element* d, std::int64_t k,
                            std::int64_t n, std::vector<GroupOperands>& operands, std::vector<ArrivalTile>& table) {
    const int experts = static_cast<int>(expert_first_row.size()) - 1;
    std::vector<int> group_of(static_cast<std::size_t>(std::max(experts, 0)), -1);
    for (int e = 0; e < experts; ++e) {
      const std::int64_t first = expert_first_row[e], rows = expert_first_row[e + 1] - first;
      if (rows == 0) continue;
      if (rows > INT32_MAX) return false;
      group_of[e] = static_cast<int>(operands.size());
      operands.push_back({static_cast<int>(rows), a + first * k, b + static_cast<std::int64_t>(e) * k * n, d + first * n});
    }
    for (const GemmTile& t : schedule_tiles) {
      if (t.expert < 0 || t.expert >= experts || group_of[t.expert] < 0) return false;
      const std::int64_t rows = expert_first_row[t.expert + 1] - expert_first_row[t.expert];
      const int flag = expert_first_flag ? (*expert_first_flag)[t.expert] + t.m : -1;
      table.push_back({group_of[t.expert], t.m, t.n, flag, static_cast<int>((rows + FUSED_TILE_M - 1) / FUSED_TILE_M)});
    }
    return true;
  }

  /// A shape the kernel runs: k and n multiples of 8 (16-byte rows) within int, and a schedule in
  /// the kernel's tiles.
  static bool runs(std::int64_t k, std::int64_t n, int tile_m, int cluster_m, int n_tiles) {
    return k > 0 && n > 0 && k % 8 == 0 && n % 8 == 0 && k <= INT32_MAX && n <= INT32_MAX && tile_m == FUSED_TILE_M &&
           cluster_m == FUSED_CLUSTER_M && n_tiles == static_cast<int>((n + FUSED_TILE_N - 1) / FUSED_TILE_N);
  }
  int blocks() { return gemm.visit([](auto& v) { return v.blocks; }); }
  /// Threads of every block of the launch (the GEMM's).
  int threads_per_block() {
    return gemm.visit([](auto& v) { return static_cast<int>(std::remove_reference_t<decltype(v)>::Kernel::MaxThreadsPerBlock); });
  }
  /// GEMM blocks of a launch beside `transfer_blocks` (at most gemm_sms when > 0), or -1 when the
  /// transfer-block count cannot run (not prepared, not whole clusters, no SM left for the GEMM).
  int gemm_blocks_beside(int transfer_blocks, int gemm_sms) {
    if (!prepared || transfer_blocks < 0 || transfer_blocks >= blocks() || transfer_blocks % FUSED_CLUSTER_M != 0) return -1;
    if (!has_gemm) return 0;
    int gemm_blocks = blocks() - transfer_blocks;
    if (gemm_sms > 0) gemm_blocks = std::min(gemm_blocks, gemm_sms);
    return std::min(gemm_blocks, std::max(tile_count, 1) * FUSED_CLUSTER_M) / FUSED_CLUSTER_M * FUSED_CLUSTER_M;
  }
  /// Whether `transfer_blocks` can run alone (whole clusters, at most a launch's blocks).
  bool transfers_alone_run(int transfer_blocks) {
    return prepared && transfer_blocks > 0 && transfer_blocks <= blocks() && transfer_blocks % FUSED_CLUSTER_M == 0;
  }
  /// One launch; `per_warp`: the transfer blocks' warps take tasks one by one (TransferList);
  /// `bytes_per_second` > 0: the transfers together paced to that rate; `unpermute`: its blocks
  /// (none by default) after the transfer blocks, given this launch's watchdog here. The transfer
  /// blocks join the GEMM after their tasks when transfers_join is set, the launch has GEMM blocks
  /// and their SMs were not capped (`gemm_capped`: a caller's limit on the GEMM's SMs holds).
  /// `done_signal`: when the GEMM counts a tile done (with the scheduler's tile_done set: the combine).
  cudaError_t launch(const DeviceArray<RowTask>& tasks, int task_count, unsigned* flags, int transfer_blocks, int gemm_blocks,
                     bool per_warp, cudaStream_t stream, double bytes_per_second = 0, UnpermuteList unpermute = {},
                     bool gemm_capped = false, DoneSignal done_signal = DoneSignal::NEXT_TILE) {
    const int moving_blocks = transfer_blocks + unpermute.blocks, launch_blocks = moving_blocks + gemm_blocks;
    if (cudaError_t e = cudaMemsetAsync(block_start.get(), 0, sizeof(unsigned long long) * launch_blocks, stream); e != cudaSuccess)
      return e;
    if (cudaError_t e = cudaMemsetAsync(claims.get(), 0, claims_reset_bytes(), stream); e != cudaSuccess) return e;
    if (moving_blocks > 0)
      if (cudaError_t e = cudaMemsetAsync(transfer_end.get(), 0, sizeof(unsigned long long) * moving_blocks, stream); e != cudaSuccess)
        return e;
    last_transfer_blocks = transfer_blocks;
    last_unpermute_blocks = unpermute.blocks;
    const Watchdog watchdog{watchdog_word.get(), timeout_ns, block_start.get(),   launch_blocks,       moving_blocks,
                            flags,               waited_flags, flag_snapshot.get(), start_snapshot.get()};
    // Each taker's share of the rate: the blocks, or every warp of them.
    const double takers = static_cast<double>(transfer_blocks) * (per_warp ? threads_per_block() / 32 : 1);
    const auto pace_ps_per_byte = bytes_per_second > 0 ? static_cast<unsigned long long>(takers * 1e12 / bytes_per_second) : 0ull;
    const bool join = transfers_join && gemm_blocks > 0 && !gemm_capped;
    const TransferList list{tasks.get(),        task_count,         transfer_blocks, flags, watchdog,
                            transfer_end.get(), block_cycles.get(), per_warp,        pace_ps_per_byte, join};
    unpermute.first_block = transfer_blocks;
    unpermute.watchdog = watchdog;
    return gemm.visit([&](auto& v) { return v.launch(list, unpermute, gemm_blocks, claims.get(), done_signal, stream); });
  }
  /// Whether later launches' transfer blocks join the GEMM after their tasks (default: yes).
  void set_transfers_join(bool join) { transfers_join = join; }
  void set_timeout(double seconds) { timeout_ns = static_cast<std::uint64_t>(std::max(seconds, 1e-3) * 1e9); }
  /// After the last launch is synchronised: when its transfer blocks ran (synchronous reads).
  TransferSpan transfer_span() { return blocks_span(0, last_transfer_blocks); }
  /// After the last launch is synchronised: when its unpermute blocks ran.
  TransferSpan unpermute_span() { return blocks_span(last_transfer_blocks, last_unpermute_blocks); }
  /// After the last launch is synchronised: the SM clock while its transfer blocks ran, MHz (their
  /// cycles over their time, averaged); 0 when it had none or a block's record is missing.
  double transfer_clock_mhz() {
    const int first = 0, count = last_transfer_blocks;
    if (!prepared || count <= 0) return 0.0;
    std::vector<unsigned long long> starts(static_cast<std::size_t>(count)), ends(starts.size()), cycles(starts.size());
    for (auto [into, from] : {std::pair{&starts, block_start.get()}, std::pair{&ends, transfer_end.get()}, std::pair{&cycles, block_cycles.get()}})
      if (cudaMemcpy(into->data(), from + first, into->size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost) != cudaSuccess) return 0.0;
    double sum = 0.0;
    for (std::size_t b = 0; b < starts.size(); ++b) {
      if (starts[b] == 0 || ends[b] <= starts[b]) return 0.0;
      sum += static_cast<double>(cycles[b]) / static_cast<double>(ends[b] - starts[b]) * 1e3;
    }
    return sum / static_cast<double>(count);
  }
  /// When blocks [first, first + count) of the last launch ran (none, or one that never finished: 0s).
  TransferSpan blocks_span(int first, int count) {
    TransferSpan span;
    if (!prepared || count <= 0) return span;
    std::vector<unsigned long long> starts(static_cast<std::size_t>(count)), ends(starts.size());
    if (cudaMemcpy(starts.data(), block_start.get() + first, starts.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(ends.data(), transfer_end.get() + first, ends.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost) != cudaSuccess)
      return TransferSpan{};
    for (std::size_t b = 0; b < starts.size(); ++b) {
      if (starts[b] == 0 || ends[b] == 0) return TransferSpan{};  // a block that never ran or never finished
      span.start_ns = span.start_ns == 0 ? starts[b] : std::min<std::uint64_t>(span.start_ns, starts[b]);
      span.end_ns = std::max<std::uint64_t>(span.end_ns, ends[b]);
    }
    return span;
  }
  /// After a watchdog trip (runs synchronised): what the first wait that gave up saw, e.g. "at the
  /// trip, 10002.1 ms after the launch's first block started: 2 of 4096 flags short: 5 at 7 of 8 (entry
  /// 2: group 0, M tile 5 of 32, N tile 0), ...; blocks started: 4 of 4 transfer, 12 of 128 GEMM (not
  /// started: 16, 17, ...)"; "" without a trip. `expected[f]`: the count that completes flag f;
  /// `where(f)`: what flag f is. The first `listed` of each list.
  template <class Where>
  std::string watchdog_report(const std::vector<unsigned>& expected, Where&& where, int listed) {
    if (watchdog() < 0) return "";
    // The tripping launch's record (the word is sticky: it may be an earlier launch than the last).
    std::vector<unsigned> counts(static_cast<std::size_t>(waited_flags));
    std::vector<unsigned long long> record(static_cast<std::size_t>(std::max(blocks(), 1)) + Watchdog::TRIP_RECORD);
    if ((!counts.empty() && cudaMemcpy(counts.data(), flag_snapshot.get(), counts.size() * sizeof(unsigned), cudaMemcpyDeviceToHost) != cudaSuccess) ||
        cudaMemcpy(record.data(), start_snapshot.get(), record.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost) != cudaSuccess)
      return "(the watchdog's records could not be read)";
    const unsigned long long trip_ns = record[0];
    const int launch_blocks = static_cast<int>(record[1]), transfer_blocks = static_cast<int>(record[2]);
    const unsigned long long* starts = record.data() + Watchdog::TRIP_RECORD;
    const auto listing = [listed](std::string& text, std::size_t& count, const std::string& item) {
      if (static_cast<int>(count++) < listed) text += (text.empty() ? "" : ", ") + item;
      else if (static_cast<int>(count) == listed + 1) text += ", ...";
    };
    std::string flags_text;
    std::size_t short_count = 0;
    for (std::size_t f = 0; f < counts.size() && f < expected.size(); ++f)
      if (counts[f] < expected[f])
        listing(flags_text, short_count,
                std::to_string(f) + " at " + std::to_string(counts[f]) + " of " + std::to_string(expected[f]) + " (" + where(static_cast<int>(f)) + ")");
    unsigned long long first = 0;
    for (int b = 0; b < launch_blocks; ++b)
      if (starts[b] != 0 && (first == 0 || starts[b] < first)) first = starts[b];
    std::string missing;
    std::size_t missing_count = 0;
    int started_transfer = 0, started_gemm = 0;
    for (int b = 0; b < launch_blocks; ++b) {
      if (starts[b] == 0) listing(missing, missing_count, std::to_string(b));
      else (b < transfer_blocks ? started_transfer : started_gemm)++;
    }
    char trip_ms[32];
    std::snprintf(trip_ms, sizeof trip_ms, "%.1f", first == 0 ? 0.0 : static_cast<double>(trip_ns - first) * 1e-6);
    return std::string("at the trip, ") + trip_ms + " ms after the launch's first block started: " + std::to_string(short_count) +
           " of " + std::to_string(counts.size()) + " flags short" + (flags_text.empty() ? "" : ": " + flags_text) + "; blocks started: " +
           std::to_string(started_transfer) + " of " + std::to_string(transfer_blocks) + " transfer, " + std::to_string(started_gemm) +
           " of " + std::to_string(launch_blocks - transfer_blocks) + " GEMM" + (missing.empty() ? "" : " (not started: " + missing + ")");
  }
  /// "entry e: group g, M tile m of M, N tile n" of the tile table's entry `entry`, rank `rank` of its cluster.
  std::string tile_at(int entry, int rank) const {
    if (entry < 0 || entry >= static_cast<int>(host_tiles.size())) return "no tile";
    const ArrivalTile& t = host_tiles[static_cast<std::size_t>(entry)];
    return "entry " + std::to_string(entry) + ": group " + std::to_string(t.group) + ", M tile " + std::to_string(t.m + rank) +
           " of " + std::to_string(t.m_tiles) + ", N tile " + std::to_string(t.n);
  }

  /// After the runs: -1, or the flag the first wait that gave up (in any launch since prepare()) gave up on.
  int watchdog() {
    unsigned flag = 0;
    if (!prepared || cudaMemcpy(&flag, watchdog_word.get(), sizeof flag, cudaMemcpyDeviceToHost) != cudaSuccess) return -1;
    return flag == 0 ? -1 : static_cast<int>(flag) - 1;
  }
};

}  // namespace comet::kernels::fused_detail
