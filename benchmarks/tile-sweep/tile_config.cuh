// The runner of one tile configuration (included once per configuration's .cu).
#pragma once

#include "cutlass_grouped_kernels.cuh"
#include "tile_sweep.cuh"

namespace sweep {

using namespace comet::kernels::grouped_detail;

template <int TM, int TN, int CM, int CN>
struct Tiles {
  using Tile = cute::Shape<cute::Int<TM>, cute::Int<TN>, cute::_64>;
  using Cluster = cute::Shape<cute::Int<CM>, cute::Int<CN>, cute::_1>;
  using KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative;
  using Epilogue = EpilogueFor<Tile, Cluster, cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative>;
  static constexpr int EPILOGUE_SMEM_BYTES = static_cast<int>(sizeof(typename Epilogue::SharedStorage));
};

template <int TM, int TN, int CM, int CN>
class Runner : public SweepRunner {
  using K = GroupedKernel<cutlass::layout::RowMajor, cutlass::layout::RowMajor, Tiles<TM, TN, CM, CN>>;
  using Gemm = typename K::Gemm;
  using Shape = typename GroupShape::UnderlyingProblemShape;

  template <class T>
  struct Device {
    T* p = nullptr;
    ~Device() { cudaFree(p); }
    bool upload(const std::vector<T>& v) {
      cudaFree(p);
      p = nullptr;
      return cudaMalloc(&p, sizeof(T) * v.size()) == cudaSuccess && cudaMemcpy(p, v.data(), sizeof(T) * v.size(), cudaMemcpyHostToDevice) == cudaSuccess;
    }
  };
  Device<Shape> shapes_;
  Device<const Element*> a_, b_;
  Device<Element*> d_;
  Device<const Element*> c_;
  Device<typename K::StrideA> sa_;
  Device<typename K::StrideB> sb_;
  Device<typename K::StrideC> sc_;
  Device<typename K::StrideD> sd_;
  Device<unsigned char> workspace_;
  std::vector<Shape> host_shapes_;
  Gemm gemm_;

 public:
  std::string name() const override {
    return std::to_string(TM) + "x" + std::to_string(TN) + "/" + std::to_string(CM) + "x" + std::to_string(CN);
  }
  bool prepare(const SweepProblem& p, SweepSchedule s) override {
    host_shapes_.assign(p.groups, Shape{p.m, p.n, p.k});
    std::vector<const Element*> a, b, c;
    std::vector<Element*> d;
    for (int g = 0; g < p.groups; ++g) {
      a.push_back(reinterpret_cast<const Element*>(p.a) + static_cast<std::int64_t>(g) * p.m * p.k);
      b.push_back(reinterpret_cast<const Element*>(p.b) + static_cast<std::int64_t>(g) * p.k * p.n);
      d.push_back(reinterpret_cast<Element*>(p.c) + static_cast<std::int64_t>(g) * p.m * p.n);
      c.push_back(d.back());
    }
    std::vector<typename K::StrideA> sa(p.groups, cutlass::make_cute_packed_stride(typename K::StrideA{}, {p.m, p.k, 1}));
    std::vector<typename K::StrideB> sb(p.groups, cutlass::make_cute_packed_stride(typename K::StrideB{}, {p.n, p.k, 1}));
    std::vector<typename K::StrideC> sc(p.groups, cutlass::make_cute_packed_stride(typename K::StrideC{}, {p.m, p.n, 1}));
    std::vector<typename K::StrideD> sd(p.groups, cutlass::make_cute_packed_stride(typename K::StrideD{}, {p.m, p.n, 1}));
    if (!shapes_.upload(host_shapes_) || !a_.upload(a) || !b_.upload(b) || !c_.upload(c) || !d_.upload(d) || !sa_.upload(sa) ||
        !sb_.upload(sb) || !sc_.upload(sc) || !sd_.upload(sd))
      return false;
    cutlass::KernelHardwareInfo hw;
    hw.device_id = 0;
    hw.sm_count = cutlass::KernelHardwareInfo::query_device_multiprocessor_count(0);
    typename Gemm::Arguments args{cutlass::gemm::GemmUniversalMode::kGrouped,
                                  {p.groups, shapes_.p, host_shapes_.data()},
                                  {a_.p, sa_.p, b_.p, sb_.p},
                                  {{}, c_.p, sc_.p, d_.p, sd_.p},
                                  hw};
    args.epilogue.thread.alpha = 1.0f;
    args.epilogue.thread.beta = 0.0f;
    args.scheduler.raster_order = s.raster == 0 ? cutlass::gemm::kernel::detail::RasterOrderOptions::AlongM
                                                : cutlass::gemm::kernel::detail::RasterOrderOptions::AlongN;
    args.scheduler.max_swizzle_size = s.swizzle;
    if (gemm_.can_implement(args) != cutlass::Status::kSuccess) return false;
    std::vector<unsigned char> zeros(std::max<std::size_t>(Gemm::get_workspace_size(args), 1));
    if (!workspace_.upload(zeros)) return false;
    return gemm_.initialize(args, workspace_.p) == cutlass::Status::kSuccess;
  }
  bool run(cudaStream_t stream) override { return gemm_.run(stream) == cutlass::Status::kSuccess; }
};

}  // namespace sweep
