#include "grouped_gemm.hpp"

#include <algorithm>
#include <vector>

#ifdef COMET_HAVE_CUTLASS
#include "cutlass_grouped_kernels.cuh"
#endif

namespace comet::kernels {

#ifdef COMET_HAVE_CUTLASS
namespace grouped_detail {

// Groups one launch takes: the argument arrays travel as one kernel parameter (below 32 KiB).
constexpr int MAX_GROUPS = 256;

// Mean rows per group at or below which a launch takes the small tiles.
constexpr double SMALL_TILE_ROWS = 96.0;

using Row = cutlass::layout::RowMajor;
using Column = cutlass::layout::ColumnMajor;
using Forward = GroupedKernel<Row, Row, LargeTiles>;
using ForwardSmall = GroupedKernel<Row, Row, SmallTiles>;
using DataGradient = GroupedKernel<Row, Column, LargeTiles>;
using DataGradientSmall = GroupedKernel<Row, Column, SmallTiles>;
using WeightGradient = GroupedKernel<Column, Row, LargeTiles>;  // M is a weight's dimension: never small

// What the host knows of one launch, passed by value to the kernel that lays out CUTLASS's
// per-group argument arrays in device memory (graph-capturable: no host staging to outlive).
struct GroupList {
  int groups = 0;
  int m[MAX_GROUPS], n[MAX_GROUPS], k[MAX_GROUPS];
  const Element* a[MAX_GROUPS];
  const Element* b[MAX_GROUPS];
  Element* c[MAX_GROUPS];
};

// Device argument arrays, one after the other in one allocation. Templated on the stride types
// (CuTe's), not on GroupedKernel: nvcc's host stub of the kernel below must spell its template
// arguments, and spelling GroupedKernel's builder aliases broke the host compilation.
template <class StrideA, class StrideB, class StrideC, class StrideD>
struct DeviceArgs {
  typename GroupShape::UnderlyingProblemShape shapes[MAX_GROUPS];
  const Element* a[MAX_GROUPS];
  const Element* b[MAX_GROUPS];
  const Element* c[MAX_GROUPS];
  Element* d[MAX_GROUPS];
  StrideA stride_a[MAX_GROUPS];
  StrideB stride_b[MAX_GROUPS];
  StrideC stride_c[MAX_GROUPS];
  StrideD stride_d[MAX_GROUPS];
};

template <class K>
using DeviceArgsOf = DeviceArgs<typename K::StrideA, typename K::StrideB, typename K::StrideC, typename K::StrideD>;

template <class StrideA, class StrideB, class StrideC, class StrideD>
__global__ void lay_out_arguments(GroupList list, DeviceArgs<StrideA, StrideB, StrideC, StrideD>* out) {
  const int g = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (g >= list.groups) return;
  const int m = list.m[g], n = list.n[g], k = list.k[g];
  out->shapes[g] = {m, n, k};
  out->a[g] = list.a[g];
  out->b[g] = list.b[g];
  out->c[g] = list.c[g];  // read only when accumulating (beta = 1), in place
  out->d[g] = list.c[g];
  out->stride_a[g] = cutlass::make_cute_packed_stride(StrideA{}, {m, k, 1});
  out->stride_b[g] = cutlass::make_cute_packed_stride(StrideB{}, {n, k, 1});
  out->stride_c[g] = cutlass::make_cute_packed_stride(StrideC{}, {m, n, 1});
  out->stride_d[g] = cutlass::make_cute_packed_stride(StrideD{}, {m, n, 1});
}

}  // namespace grouped_detail

using namespace grouped_detail;

struct GroupedGemm::State {
  void* args = nullptr;       // DeviceArgs of either kernel (the larger size)
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  int device = -1, sm_count = 0;

  ~State() {
    cudaFree(args);
    cudaFree(workspace);
  }

  template <class K>
  static typename K::Gemm::Arguments arguments(int groups, DeviceArgsOf<K>* device_args,
                                               typename GroupShape::UnderlyingProblemShape* host_shapes,
                                               const cutlass::KernelHardwareInfo& hw, float beta = 0.0f) {
    typename K::Gemm::Arguments arguments{
        cutlass::gemm::GemmUniversalMode::kGrouped,
        {groups, device_args->shapes, host_shapes},
        {device_args->a, device_args->stride_a, device_args->b, device_args->stride_b},
        {{}, device_args->c, device_args->stride_c, device_args->d, device_args->stride_d},
        hw};
    arguments.epilogue.thread.alpha = 1.0f;
    arguments.epilogue.thread.beta = beta;
    return arguments;
  }

  cutlass::KernelHardwareInfo hardware(int sms) const {
    cutlass::KernelHardwareInfo hw;
    hw.device_id = device;
    hw.sm_count = sms > 0 ? std::min(sms, sm_count) : sm_count;
    return hw;
  }

  // The device, its SM count, the argument arrays and the largest workspace either kernel needs
  // (it depends on the SM count, not on the shapes), once: never while a stream is captured.
  cudaError_t reserve() {
    if (device >= 0) return cudaSuccess;
    int current = 0;
    if (cudaError_t e = cudaGetDevice(&current); e != cudaSuccess) return e;
    const int sms = cutlass::KernelHardwareInfo::query_device_multiprocessor_count(current);
    if (cudaError_t e = cudaMalloc(&args, std::max({sizeof(DeviceArgsOf<Forward>), sizeof(DeviceArgsOf<ForwardSmall>),
                                                     sizeof(DeviceArgsOf<DataGradient>), sizeof(DeviceArgsOf<DataGradientSmall>),
                                                     sizeof(DeviceArgsOf<WeightGradient>)}));
        e != cudaSuccess)
      return e;
    device = current;
    sm_count = sms;
    const std::size_t bytes = std::max({workspace_of<Forward>(), workspace_of<ForwardSmall>(), workspace_of<DataGradient>(),
                                        workspace_of<DataGradientSmall>(), workspace_of<WeightGradient>()});
    if (cudaError_t e = cudaMalloc(&workspace, std::max<std::size_t>(bytes, 1)); e != cudaSuccess) return e;
    workspace_bytes = bytes;
    return cudaSuccess;
  }

  template <class K>
  std::size_t workspace_of() {
    return K::Gemm::get_workspace_size(arguments<K>(MAX_GROUPS, static_cast<DeviceArgsOf<K>*>(args), nullptr, hardware(0)));
  }

  template <class K>
  cudaError_t launch(const GroupList& list, std::vector<typename GroupShape::UnderlyingProblemShape>& host_shapes,
                     cudaStream_t stream, int sms, float beta) {
    using Gemm = typename K::Gemm;
    auto* device_args = static_cast<DeviceArgsOf<K>*>(args);
    lay_out_arguments<<<(list.groups + 127) / 128, 128, 0, stream>>>(list, device_args);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    const typename Gemm::Arguments arguments =
        State::arguments<K>(list.groups, device_args, host_shapes.data(), hardware(sms), beta);
    Gemm gemm;
    if (gemm.can_implement(arguments) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
    if (Gemm::get_workspace_size(arguments) > workspace_bytes) return cudaErrorInvalidValue;  // reserve() sized it
    if (gemm.initialize(arguments, workspace, stream) != cutlass::Status::kSuccess) return cudaErrorInvalidValue;
    return gemm.run(stream) == cutlass::Status::kSuccess ? cudaGetLastError() : cudaErrorLaunchFailure;
  }
};

GroupedGemm::GroupedGemm() : state_(std::make_unique<State>()) {}
GroupedGemm::~GroupedGemm() = default;

cudaError_t GroupedGemm::reserve() { return state_->reserve(); }

bool GroupedGemm::available(std::string* why_not) { return hopper_kernels_run_here("the CUTLASS grouped GEMM", why_not); }

namespace {

// Groups (m, n, k, a, b, c) with work, in launches of at most MAX_GROUPS, each through `launch`.
template <typename Launch>
cudaError_t in_launches(int groups, const std::int64_t* m, const std::int64_t* n, const std::int64_t* k,
                        const __nv_bfloat16* const* a, const __nv_bfloat16* const* b, __nv_bfloat16* const* c, Launch launch) {
  GroupList list;
  std::vector<typename GroupShape::UnderlyingProblemShape> host_shapes;
  auto flush = [&]() -> cudaError_t {
    if (list.groups == 0) return cudaSuccess;
    const cudaError_t e = launch(list, host_shapes);
    list.groups = 0;
    host_shapes.clear();
    return e;
  };
  for (int g = 0; g < groups; ++g) {
    if (m[g] <= 0 || n[g] <= 0 || k[g] <= 0) continue;
    if (m[g] > INT32_MAX || n[g] > INT32_MAX || k[g] > INT32_MAX) return cudaErrorInvalidValue;
    const int slot = list.groups++;
    list.m[slot] = static_cast<int>(m[g]);
    list.n[slot] = static_cast<int>(n[g]);
    list.k[slot] = static_cast<int>(k[g]);
    list.a[slot] = reinterpret_cast<const Element*>(a[g]);
    list.b[slot] = reinterpret_cast<const Element*>(b[g]);
    list.c[slot] = reinterpret_cast<Element*>(c[g]);
    host_shapes.push_back({list.m[slot], list.n[slot], list.k[slot]});
    if (list.groups == MAX_GROUPS)
      if (cudaError_t e = flush(); e != cudaSuccess) return e;
  }
  return flush();
}

}  // namespace

cudaError_t GroupedGemm::run(int groups, const std::int64_t* m, std::int64_t n, std::int64_t k, const __nv_bfloat16* const* a,
                             const __nv_bfloat16* const* b, __nv_bfloat16* const* c, bool b_transposed, cudaStream_t stream,
                             int sm_count) {
  if (n % 8 != 0 || k % 8 != 0 || n > INT32_MAX || k > INT32_MAX || groups < 0) return cudaErrorInvalidValue;
  State& s = *state_;
  if (cudaError_t e = s.reserve(); e != cudaSuccess) return e;
  const std::vector<std::int64_t> ns(static_cast<std::size_t>(groups), n), ks(static_cast<std::size_t>(groups), k);
  return in_launches(groups, m, ns.data(), ks.data(), a, b, c, [&](const GroupList& list, auto& host_shapes) {
    double rows = 0.0;
    for (int g = 0; g < list.groups; ++g) rows += list.m[g];
    if (rows <= SMALL_TILE_ROWS * list.groups)
      return b_transposed ? s.launch<DataGradientSmall>(list, host_shapes, stream, sm_count, 0.0f)
                          : s.launch<ForwardSmall>(list, host_shapes, stream, sm_count, 0.0f);
    return b_transposed ? s.launch<DataGradient>(list, host_shapes, stream, sm_count, 0.0f)
                        : s.launch<Forward>(list, host_shapes, stream, sm_count, 0.0f);
  });
}

cudaError_t GroupedGemm::run_weight_gradient(int groups, const std::int64_t* k, std::int64_t m, std::int64_t n,
                                             const __nv_bfloat16* const* a, const __nv_bfloat16* const* b,
                                             __nv_bfloat16* const* c, cudaStream_t stream, int sm_count) {
  if (m % 8 != 0 || n % 8 != 0 || m > INT32_MAX || n > INT32_MAX || groups < 0) return cudaErrorInvalidValue;
  State& s = *state_;
  if (cudaError_t e = s.reserve(); e != cudaSuccess) return e;
  const std::vector<std::int64_t> ms(static_cast<std::size_t>(groups), m), ns(static_cast<std::size_t>(groups), n);
  return in_launches(groups, ms.data(), ns.data(), k, a, b, c, [&](const GroupList& list, auto& host_shapes) {
    return s.launch<WeightGradient>(list, host_shapes, stream, sm_count, 1.0f);
  });
}

#else  // without CUTLASS: the API exists and says why it cannot run

struct GroupedGemm::State {};

GroupedGemm::GroupedGemm() : state_(std::make_unique<State>()) {}
GroupedGemm::~GroupedGemm() = default;

cudaError_t GroupedGemm::reserve() { return cudaErrorNotSupported; }

bool GroupedGemm::available(std::string* why_not) {
  if (why_not) *why_not = "built without CUTLASS (scripts/setup.sh installs its headers; COMET_CUTLASS_DIR)";
  return false;
}

cudaError_t GroupedGemm::run(int, const std::int64_t*, std::int64_t, std::int64_t, const __nv_bfloat16* const*,
                             const __nv_bfloat16* const*, __nv_bfloat16* const*, bool, cudaStream_t, int) {
  return cudaErrorNotSupported;
}

cudaError_t GroupedGemm::run_weight_gradient(int, const std::int64_t*, std::int64_t, std::int64_t, const __nv_bfloat16* const*,
                                             const __nv_bfloat16* const*, __nv_bfloat16* const*, cudaStream_t, int) {
  return cudaErrorNotSupported;
}

#endif

}  // namespace comet::kernels
