// The same tile and cluster as comet's (128 x 256 x 64, clusters of 2 x 1, cooperative), as
// CUTLASS's regular (not ptr-array) Hopper GEMM launched once per expert, as cuBLAS is: with the
// persistent tile scheduler and with stream-K. Set beside the grouped kernel, it says whether a
// gap to cuBLAS is CUTLASS's kernel itself or its grouped (ptr-array) machinery.
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/gemm/kernel/tile_scheduler.hpp"
#include "cutlass/util/packed_stride.hpp"
#include "tile_sweep.cuh"

namespace sweep_regular {

using Element = cutlass::bfloat16_t;
using Layout = cutlass::layout::RowMajor;
using Tile = cute::Shape<cute::_128, cute::_256, cute::_64>;
using Cluster = cute::Shape<cute::_2, cute::_1, cute::_1>;
constexpr int ALIGNMENT = 8;

using Epilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, cutlass::epilogue::collective::EpilogueTileAuto, float, float,
    Element, Layout, ALIGNMENT, Element, Layout, ALIGNMENT, cutlass::epilogue::TmaWarpSpecializedCooperative,
    cutlass::epilogue::fusion::LinearCombination<Element, float>>::CollectiveOp;

using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, Layout, ALIGNMENT, Element, Layout, ALIGNMENT, float, Tile, Cluster,
    cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
    cutlass::gemm::KernelTmaWarpSpecializedCooperative>::CollectiveOp;

template <class Scheduler>
using Gemm = cutlass::gemm::device::GemmUniversalAdapter<
    cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, Mainloop, Epilogue, Scheduler>>;

template <class Scheduler>
class RegularRunner : public SweepRunner {
  using G = Gemm<Scheduler>;
  std::string label_;
  std::vector<G> gemms_;
  std::vector<typename G::Arguments> arguments_;
  std::vector<void*> workspaces_;

 public:
  explicit RegularRunner(std::string label) : label_(std::move(label)) {}
  ~RegularRunner() override {
    for (void* w : workspaces_) cudaFree(w);
  }
  std::string name() const override { return label_; }
  bool prepare(const SweepProblem& p, SweepSchedule s) override {
    using StrideA = typename G::GemmKernel::StrideA;
    using StrideB = typename G::GemmKernel::StrideB;
    using StrideC = typename G::GemmKernel::StrideC;
    using StrideD = typename G::GemmKernel::StrideD;
    gemms_ = std::vector<G>(static_cast<std::size_t>(p.groups));
    arguments_.clear();
    cutlass::KernelHardwareInfo hw;
    hw.device_id = 0;
    hw.sm_count = cutlass::KernelHardwareInfo::query_device_multiprocessor_count(0);
    // Packed strides of each operand in its layout (B [k, n] row-major: CUTLASS's N-major B), as
    // the grouped runner's.
    const auto sa = cutlass::make_cute_packed_stride(StrideA{}, {p.m, p.k, 1});
    const auto sb = cutlass::make_cute_packed_stride(StrideB{}, {p.n, p.k, 1});
    const auto sc = cutlass::make_cute_packed_stride(StrideC{}, {p.m, p.n, 1});
    const auto sd = cutlass::make_cute_packed_stride(StrideD{}, {p.m, p.n, 1});
    for (int g = 0; g < p.groups; ++g) {
      const auto* a = reinterpret_cast<const Element*>(p.a) + static_cast<std::int64_t>(g) * p.m * p.k;
      const auto* b = reinterpret_cast<const Element*>(p.b) + static_cast<std::int64_t>(g) * p.k * p.n;
      auto* d = reinterpret_cast<Element*>(p.c) + static_cast<std::int64_t>(g) * p.m * p.n;
      typename G::Arguments args{cutlass::gemm::GemmUniversalMode::kGemm, {p.m, p.n, p.k, 1}, {a, sa, b, sb}, {{}, d, sc, d, sd}, hw};
      args.epilogue.thread.alpha = 1.0f;
      args.epilogue.thread.beta = 0.0f;
      args.scheduler.raster_order = s.raster == 0 ? cutlass::gemm::kernel::detail::RasterOrderOptions::AlongM
                                                  : cutlass::gemm::kernel::detail::RasterOrderOptions::AlongN;
      args.scheduler.max_swizzle_size = s.swizzle;
      if (gemms_[g].can_implement(args) != cutlass::Status::kSuccess) return false;
      void* workspace = nullptr;
      const std::size_t bytes = G::get_workspace_size(args);
      if (bytes > 0 && cudaMalloc(&workspace, bytes) != cudaSuccess) return false;
      workspaces_.push_back(workspace);
      if (gemms_[g].initialize(args, workspace) != cutlass::Status::kSuccess) return false;
      arguments_.push_back(args);
    }
    return true;
  }
  // Stream-K's units that share an output tile meet at counters in the workspace, which the kernel
  // never resets: CUTLASS zeroes them in initialize_workspace only (tile_scheduler_params.h), so a
  // second launch on the same workspace waits for counts it has passed. Hence the zeroing (an
  // asynchronous memset of the counters, timed with the launch) before every launch that has a
  // workspace; the persistent scheduler has none. A sweep without it did not finish the stream-K
  // kernel on the Mixtral 16K dispatch shape (stop 47); the shapes it did finish may have been
  // split into whole tiles only, with no counters to meet at.
  bool run(cudaStream_t stream) override {
    for (std::size_t g = 0; g < gemms_.size(); ++g) {
      if (workspaces_[g] != nullptr &&
          G::GemmKernel::initialize_workspace(arguments_[g], workspaces_[g], stream) != cutlass::Status::kSuccess)
        return false;
      if (gemms_[g].run(stream) != cutlass::Status::kSuccess) return false;
    }
    return true;
  }
};

}  // namespace sweep_regular

std::unique_ptr<SweepRunner> make_regular_c128x256_c2x1() {
  return std::make_unique<sweep_regular::RegularRunner<cutlass::gemm::PersistentScheduler>>("reg128x256/2x1");
}
std::unique_ptr<SweepRunner> make_streamk_c128x256_c2x1() {
  return std::make_unique<sweep_regular::RegularRunner<cutlass::gemm::StreamKScheduler>>("sk128x256/2x1");
}
