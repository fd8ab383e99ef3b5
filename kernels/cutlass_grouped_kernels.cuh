// The CUTLASS Hopper grouped-GEMM configurations comet's kernels share (grouped_gemm.cu,
// fused_dispatch_gemm.cu): bf16 operands, fp32 accumulation, bf16 output, TMA + wgmma, warp
// specialised over a persistent grid. Included only where CUTLASS is (COMET_HAVE_CUTLASS).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

// A named namespace, not an anonymous one: nvcc's host stubs for kernel templates over these
// types must name them.
namespace comet::kernels::grouped_detail {

/// Whether the current device runs these kernels (built for sm_90a only); if not, why (`what`
/// names the kernel in the message).
inline bool hopper_kernels_run_here(const char* what, std::string* why_not) {
  int device = 0;
  cudaDeviceProp props{};
  if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&props, device) != cudaSuccess) {
    if (why_not) *why_not = "no CUDA device";
    return false;
  }
  if (props.major != 9 || props.minor != 0) {
    if (why_not) *why_not = std::string(what) + " is built for sm_90 (Hopper); this device is sm_" + std::to_string(props.major) +
                            std::to_string(props.minor);
    return false;
  }
  return true;
}

using Element = cutlass::bfloat16_t;
using GroupShape = cutlass::gemm::GroupProblemShape<cute::Shape<int, int, int>>;  // (M, N, K) per group

// Two tile configurations, both over a persistent grid:
//  - Large: cooperative warp specialisation (two consumer warp groups share a 128 x 256 tile),
//    clusters of two along M multicasting B's tile, which every tile of an expert's rows shares.
//  - Small: ping-pong (each consumer warp group its own 64 x 256 tile, one's epilogue beside the
//    other's main loop), for experts of few rows: a 128-row tile over 32 rows computes 75% padding
//    (one H200, DeepSeek-V3 all 256 experts on one GPU: the layer 27% slower than per-expert
//    cuBLAS with the large tile alone, 2026-12-03).
// The epilogues are declared at namespace scope because nvcc's front end spelled
// `sizeof(typename Epilogue::SharedStorage)` inside a class template as an expression g++ could
// not parse.
using LayoutC = cutlass::layout::RowMajor;
constexpr int ALIGNMENT = 8;  // elements: 16 bytes

template <class Tile, class Cluster, class Schedule>
using EpilogueFor = typename cutlass::epilogue::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto,
    float, float, Element, LayoutC*, ALIGNMENT, Element, LayoutC*, ALIGNMENT, Schedule,
    cutlass::epilogue::fusion::LinearCombination<Element, float>>::CollectiveOp;

struct LargeTiles {
  using Tile = cute::Shape<cute::_128, cute::_256, cute::_64>;
  using Cluster = cute::Shape<cute::_2, cute::_1, cute::_1>;
  using KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative;
  using Epilogue = EpilogueFor<Tile, Cluster, cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative>;
  static constexpr int EPILOGUE_SMEM_BYTES = static_cast<int>(sizeof(Epilogue::SharedStorage));
};

struct SmallTiles {
  using Tile = cute::Shape<cute::_64, cute::_256, cute::_64>;
  using Cluster = cute::Shape<cute::_1, cute::_1, cute::_1>;
  using KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedPingpong;
  using Epilogue = EpilogueFor<Tile, Cluster, cutlass::epilogue::PtrArrayTmaWarpSpecializedPingpong>;
  static constexpr int EPILOGUE_SMEM_BYTES = static_cast<int>(sizeof(Epilogue::SharedStorage));
};

// One kernel per layout of A and B and tile configuration: (row, row) forward, (row, column)
// data gradient (B^T stored), (column, row) weight gradient (A^T stored). The problem shape's type
// picks the tile scheduler (CUTLASS's TileSchedulerSelector): GroupShape CUTLASS's group scheduler.
template <class LayoutA, class LayoutB, class Tiles, class ProblemShape = GroupShape>
struct GroupedKernel {
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, LayoutA*, ALIGNMENT, Element, LayoutB*, ALIGNMENT,
      float, typename Tiles::Tile, typename Tiles::Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<Tiles::EPILOGUE_SMEM_BYTES>,
      typename Tiles::KernelSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<ProblemShape, Mainloop, typename Tiles::Epilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  using StrideA = typename Kernel::InternalStrideA;
  using StrideB = typename Kernel::InternalStrideB;
  using StrideC = typename Kernel::InternalStrideC;
  using StrideD = typename Kernel::InternalStrideD;
};

}  // namespace comet::kernels::grouped_detail
