#include "fused_dispatch_gemm.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef COMET_HAVE_CUTLASS
#include "arrival_tile_scheduler.cuh"
#include "cutlass_grouped_kernels.cuh"
#endif

namespace comet::kernels {

FusedDispatchSchedule FusedDispatchGemm::schedule_for(const DispatchRoute& route, std::int64_t n) {
  return make_fused_dispatch_schedule(route, TILE_M, static_cast<int>(std::max<std::int64_t>(1, (n + TILE_N - 1) / TILE_N)), CLUSTER_M);
}

#ifdef COMET_HAVE_CUTLASS
namespace fused_detail {

using grouped_detail::Element;

// The GEMM: 128 x 256 x 64 tiles, two consumer warp groups (cooperative), clusters of two blocks
// along M that share (multicast) the weight tile: without it the blocks' loads from L2 limit the
// GEMM (one H100: the Mixtral projection at 73-85% of per-expert cuBLAS with clusters of one).
struct ArrivalTiles {
  using Tile = cute::Shape<cute::_128, cute::_256, cute::_64>;
  using Cluster = cute::Shape<cute::_2, cute::_1, cute::_1>;
  using KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative;
  using Epilogue = grouped_detail::EpilogueFor<Tile, Cluster, cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative>;
  static constexpr int EPILOGUE_SMEM_BYTES = static_cast<int>(sizeof(Epilogue::SharedStorage));
};
using Row = cutlass::layout::RowMajor;
using Gemm = grouped_detail::GroupedKernel<Row, Row, ArrivalTiles, ArrivalProblemShape>;
using Kernel = Gemm::Kernel;
static_assert(cute::size<0>(ArrivalTiles::Tile{}) == FusedDispatchGemm::TILE_M &&
              cute::size<1>(ArrivalTiles::Tile{}) == FusedDispatchGemm::TILE_N &&
              cute::size<0>(ArrivalTiles::Cluster{}) == FusedDispatchGemm::CLUSTER_M);

// One row copy of the schedule as the copy blocks see it: 16-byte vectors.
struct RowCopyTask {
  const int4* source;
  int4* dest;
  long long vectors;
  int flag;
  unsigned rows;
};

struct CopyList {
  const RowCopyTask* tasks;
  int count;
  int copy_blocks;
  unsigned* flags;
};

// Loads in flight per thread: host-mapped memory over PCIe answers in microseconds, so each block
// keeps many requests outstanding.
constexpr int COPY_UNROLL = 16;

__device__ void copy_rows(const CopyList& list) {
  const long long stride = static_cast<long long>(blockDim.x) * COPY_UNROLL;
  for (int t = static_cast<int>(blockIdx.x); t < list.count; t += list.copy_blocks) {
    const RowCopyTask task = list.tasks[t];
    for (long long base = threadIdx.x; base < task.vectors; base += stride) {
      int4 v[COPY_UNROLL];
#pragma unroll
      for (int u = 0; u < COPY_UNROLL; ++u) {
        const long long i = base + static_cast<long long>(u) * blockDim.x;
        if (i < task.vectors) v[u] = __ldcs(task.source + i);
      }
#pragma unroll
      for (int u = 0; u < COPY_UNROLL; ++u) {
        const long long i = base + static_cast<long long>(u) * blockDim.x;
        if (i < task.vectors) task.dest[i] = v[u];
      }
    }
    // The rows are read by TMA (the async proxy) once the flag says so: every writer orders its
    // stores for that proxy, the block's stores all precede thread 0's release of the flag.
    fence_generic_to_async_proxy();
    __syncthreads();
    if (threadIdx.x == 0) asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(list.flags + task.flag), "r"(task.rows) : "memory");
  }
}

// The fused launch: copy blocks first (the hardware starts blocks in index order), then the GEMM.
template <class GemmKernel>
__global__ void __launch_bounds__(GemmKernel::MaxThreadsPerBlock, GemmKernel::MinBlocksPerMultiprocessor)
    fused_dispatch_kernel(CUTLASS_GRID_CONSTANT typename GemmKernel::Params const gemm, CopyList const copies) {
  if (static_cast<int>(blockIdx.x) < copies.copy_blocks) {
    copy_rows(copies);
    return;
  }
  extern __shared__ char shared_storage[];
  GemmKernel op;
  op(gemm, shared_storage);
}

// A device array filled from the host once (setup, synchronous).
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

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace fused_detail

using namespace fused_detail;

struct FusedDispatchGemm::State {
  int device = -1, sms = 0;
  std::uint64_t timeout_ns = 10'000'000'000ull;
  bool prepared = false;
  int tile_count = 0, copy_count = 0, flag_count = 0;
  DeviceArray<ArrivalTile> tiles;
  DeviceArray<RowCopyTask> copies;
  DeviceArray<unsigned> flags, flag_rows;
  DeviceArray<unsigned> timed_out;
  DeviceArray<typename ArrivalProblemShape::UnderlyingProblemShape> shapes;
  std::vector<typename ArrivalProblemShape::UnderlyingProblemShape> host_shapes;
  DeviceArray<const Element*> a, b;
  DeviceArray<Element*> d;
  DeviceArray<const Element*> c;
  DeviceArray<Gemm::StrideA> stride_a;
  DeviceArray<Gemm::StrideB> stride_b;
  DeviceArray<Gemm::StrideC> stride_c;
  DeviceArray<Gemm::StrideD> stride_d;
  DeviceArray<std::uint8_t> workspace;
  typename Kernel::Params params{};

  cudaError_t bind_device() {
    if (device >= 0) return cudaSuccess;
    int current = 0;
    if (cudaError_t e = cudaGetDevice(&current); e != cudaSuccess) return e;
    if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, current); e != cudaSuccess) return e;
    if (cudaError_t e = cudaFuncSetAttribute(fused_dispatch_kernel<Kernel>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             Kernel::SharedStorageSize);
        e != cudaSuccess)
      return e;
    device = current;
    return timed_out.resize(1);
  }

  cudaError_t launch(int copy_blocks, int gemm_blocks, cudaStream_t stream) {
    typename Kernel::Params p = params;
    p.scheduler.first_gemm_block = copy_blocks;
    p.scheduler.gemm_blocks = std::max(gemm_blocks, CLUSTER_M);
    p.scheduler.timeout_ns = timeout_ns;
    const CopyList list{copies.get(), copy_count, copy_blocks, flags.get()};
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(copy_blocks + gemm_blocks), 1, 1);
    config.blockDim = dim3(Kernel::MaxThreadsPerBlock, 1, 1);
    config.dynamicSmemBytes = Kernel::SharedStorageSize;
    config.stream = stream;
    cudaLaunchAttribute cluster{};
    cluster.id = cudaLaunchAttributeClusterDimension;
    cluster.val.clusterDim.x = CLUSTER_M;
    cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
    config.attrs = &cluster;
    config.numAttrs = 1;
    return cudaLaunchKernelEx(&config, fused_dispatch_kernel<Kernel>, p, list);
  }
};

FusedDispatchGemm::FusedDispatchGemm() : state_(std::make_unique<State>()) {}
FusedDispatchGemm::~FusedDispatchGemm() = default;

bool FusedDispatchGemm::available(std::string* why_not) {
  int device = 0;
  cudaDeviceProp props{};
  if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&props, device) != cudaSuccess) {
    if (why_not) *why_not = "no CUDA device";
    return false;
  }
  if (props.major != 9 || props.minor != 0) {
    if (why_not) *why_not = "the fused dispatch kernel is built for sm_90 (Hopper); this device is sm_" + std::to_string(props.major) +
                            std::to_string(props.minor);
    return false;
  }
  return true;
}

int FusedDispatchGemm::sm_count() const { return state_->sms; }

void FusedDispatchGemm::set_timeout(double seconds) { state_->timeout_ns = static_cast<std::uint64_t>(std::max(seconds, 1e-3) * 1e9); }

cudaError_t FusedDispatchGemm::prepare(const FusedDispatchSchedule& schedule, std::int64_t k, std::int64_t n,
                                       const FusedDispatchBuffers& buffers) {
  State& s = *state_;
  s.prepared = false;
  if (k % 8 != 0 || n % 8 != 0 || k <= 0 || n <= 0 || k > INT32_MAX || n > INT32_MAX) return cudaErrorInvalidValue;
  if (schedule.tile_m != TILE_M || schedule.cluster_m != CLUSTER_M || schedule.n_tiles != static_cast<int>((n + TILE_N - 1) / TILE_N))
    return cudaErrorInvalidValue;
  if (!aligned16(buffers.received) || !aligned16(buffers.weights) || !aligned16(buffers.out)) return cudaErrorInvalidValue;
  if (cudaError_t e = s.bind_device(); e != cudaSuccess) return e;
  const int experts = static_cast<int>(schedule.expert_first_row.size()) - 1;

  // One GEMM group per expert with rows.
  std::vector<int> group_of(static_cast<std::size_t>(std::max(experts, 0)), -1);
  std::vector<const Element*> a, b, c;
  std::vector<Element*> d;
  std::vector<Gemm::StrideA> sa;
  std::vector<Gemm::StrideB> sb;
  std::vector<Gemm::StrideC> sc;
  std::vector<Gemm::StrideD> sd;
  s.host_shapes.clear();
  auto* received = reinterpret_cast<Element*>(buffers.received);
  auto* out = reinterpret_cast<Element*>(buffers.out);
  const auto* weights = reinterpret_cast<const Element*>(buffers.weights);
  for (int e = 0; e < experts; ++e) {
    const std::int64_t first = schedule.expert_first_row[e], rows = schedule.expert_first_row[e + 1] - first;
    if (rows == 0) continue;
    if (rows > INT32_MAX) return cudaErrorInvalidValue;
    group_of[e] = static_cast<int>(s.host_shapes.size());
    const int m = static_cast<int>(rows), ni = static_cast<int>(n), ki = static_cast<int>(k);
    s.host_shapes.push_back({m, ni, ki});
    a.push_back(received + first * k);
    b.push_back(weights + static_cast<std::int64_t>(e) * k * n);
    c.push_back(out + first * n);  // read only with beta != 0: never here
    d.push_back(out + first * n);
    sa.push_back(cutlass::make_cute_packed_stride(Gemm::StrideA{}, {m, ki, 1}));
    sb.push_back(cutlass::make_cute_packed_stride(Gemm::StrideB{}, {ni, ki, 1}));
    sc.push_back(cutlass::make_cute_packed_stride(Gemm::StrideC{}, {m, ni, 1}));
    sd.push_back(cutlass::make_cute_packed_stride(Gemm::StrideD{}, {m, ni, 1}));
  }
  std::vector<ArrivalTile> tiles;
  for (const GemmTile& t : schedule.tiles) {
    if (t.expert < 0 || t.expert >= experts || group_of[t.expert] < 0) return cudaErrorInvalidValue;
    const int first_flag = schedule.expert_first_flag[t.expert];
    tiles.push_back({group_of[t.expert], t.m, t.n, first_flag + t.m, schedule.expert_first_flag[t.expert + 1] - first_flag});
  }
  const std::vector<unsigned> flag_rows(schedule.flag_rows.begin(), schedule.flag_rows.end());
  std::vector<RowCopyTask> copies;
  for (const RowCopy& c_ : schedule.copies) {
    if (c_.source < 0 || c_.source >= static_cast<int>(buffers.sources.size())) return cudaErrorInvalidValue;
    const __nv_bfloat16* source = buffers.sources[c_.source];
    if (!aligned16(source)) return cudaErrorInvalidValue;
    copies.push_back({reinterpret_cast<const int4*>(source + c_.source_row * k), reinterpret_cast<int4*>(buffers.received + c_.dest_row * k),
                      c_.rows * k / 8, c_.flag, static_cast<unsigned>(c_.rows)});
  }
  for (auto e : {s.tiles.upload(tiles), s.copies.upload(copies), s.flags.resize(static_cast<std::size_t>(schedule.flag_count())),
                 s.flag_rows.upload(flag_rows),
                 s.shapes.upload(s.host_shapes), s.a.upload(a), s.b.upload(b), s.c.upload(c), s.d.upload(d), s.stride_a.upload(sa),
                 s.stride_b.upload(sb), s.stride_c.upload(sc), s.stride_d.upload(sd)})
    if (e != cudaSuccess) return e;
  s.tile_count = static_cast<int>(tiles.size());
  s.copy_count = static_cast<int>(copies.size());
  s.flag_count = schedule.flag_count();

  cutlass::KernelHardwareInfo hw;
  hw.device_id = s.device;
  hw.sm_count = s.sms;
  typename Kernel::Arguments arguments{
      cutlass::gemm::GemmUniversalMode::kGrouped,
      ArrivalProblemShape{{static_cast<int>(s.host_shapes.size()), s.shapes.get(), s.host_shapes.data()}},
      {s.a.get(), s.stride_a.get(), s.b.get(), s.stride_b.get()},
      {{}, s.c.get(), s.stride_c.get(), s.d.get(), s.stride_d.get()},
      hw,
      {s.tiles.get(), s.tile_count, 0, CLUSTER_M, CLUSTER_M, s.flags.get(), s.flag_rows.get(), s.timed_out.get(), s.timeout_ns}};
  arguments.epilogue.thread.alpha = 1.0f;
  arguments.epilogue.thread.beta = 0.0f;
  if (s.host_shapes.empty()) {  // nothing to compute: runs only copy
    s.prepared = true;
    return cudaSuccess;
  }
  if (Kernel::can_implement(arguments) != true) return cudaErrorInvalidValue;
  if (cudaError_t e = s.workspace.resize(Kernel::get_workspace_size(arguments)); e != cudaSuccess) return e;
  if (Kernel::initialize_workspace(arguments, s.workspace.get(), nullptr) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
  s.params = Kernel::to_underlying_arguments(arguments, s.workspace.get());
  if (cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) return e;
  s.prepared = true;
  return cudaSuccess;
}

cudaError_t FusedDispatchGemm::run(int copy_blocks, cudaStream_t stream, int gemm_sms) {
  State& s = *state_;
  if (!s.prepared || copy_blocks < 0 || copy_blocks >= s.sms || copy_blocks % CLUSTER_M != 0) return cudaErrorInvalidValue;
  int gemm_blocks = s.sms - copy_blocks;
  if (gemm_sms > 0) gemm_blocks = std::min(gemm_blocks, gemm_sms);
  gemm_blocks = std::min(gemm_blocks, std::max(s.tile_count, 1) * CLUSTER_M) / CLUSTER_M * CLUSTER_M;
  if (s.host_shapes.empty()) gemm_blocks = 0;
  if (copy_blocks == 0 && gemm_blocks == 0) return cudaSuccess;
  // Without copy blocks the rows are already there: every flag raised (all ones) before the launch.
  if (cudaError_t e = cudaMemsetAsync(s.flags.get(), copy_blocks == 0 ? 0xFF : 0, sizeof(unsigned) * std::max(s.flag_count, 1), stream);
      e != cudaSuccess)
    return e;
  if (cudaError_t e = cudaMemsetAsync(s.timed_out.get(), 0, sizeof(unsigned), stream); e != cudaSuccess) return e;
  return s.launch(copy_blocks, gemm_blocks, stream);
}

cudaError_t FusedDispatchGemm::run_copies(int copy_blocks, cudaStream_t stream) {
  State& s = *state_;
  if (!s.prepared || copy_blocks <= 0 || copy_blocks > s.sms || copy_blocks % CLUSTER_M != 0) return cudaErrorInvalidValue;
  if (cudaError_t e = cudaMemsetAsync(s.flags.get(), 0, sizeof(unsigned) * std::max(s.flag_count, 1), stream); e != cudaSuccess) return e;
  return s.launch(copy_blocks, 0, stream);
}

int FusedDispatchGemm::watchdog() {
  unsigned flag = 0;
  if (!state_->prepared || cudaMemcpy(&flag, state_->timed_out.get(), sizeof flag, cudaMemcpyDeviceToHost) != cudaSuccess) return -1;
  return flag == 0 ? -1 : static_cast<int>(flag) - 1;
}

#else  // without CUTLASS: the API exists and says why it cannot run

struct FusedDispatchGemm::State {};
FusedDispatchGemm::FusedDispatchGemm() : state_(std::make_unique<State>()) {}
FusedDispatchGemm::~FusedDispatchGemm() = default;
bool FusedDispatchGemm::available(std::string* why_not) {
  if (why_not) *why_not = "built without CUTLASS (scripts/setup.sh installs its headers; COMET_CUTLASS_DIR)";
  return false;
}
int FusedDispatchGemm::sm_count() const { return 0; }
void FusedDispatchGemm::set_timeout(double) {}
cudaError_t FusedDispatchGemm::prepare(const FusedDispatchSchedule&, std::int64_t, std::int64_t, const FusedDispatchBuffers&) {
  return cudaErrorNotSupported;
}
cudaError_t FusedDispatchGemm::run(int, cudaStream_t, int) { return cudaErrorNotSupported; }
cudaError_t FusedDispatchGemm::run_copies(int, cudaStream_t) { return cudaErrorNotSupported; }
int FusedDispatchGemm::watchdog() { return -1; }

#endif

}  // namespace comet::kernels
