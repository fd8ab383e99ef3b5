#!/usr/bin/env python3
"""The named patches of benchmarks/fused-variants/build.sh: each a list of (file in kernels/, text,
replacement), applied to a copy of kernels/. A patch whose text is not there (another revision)
stops the build with the patch's name.

  patches.py KERNELS_DIR VARIANT      apply VARIANT's patches ('+'-joined names; `base`: none)
  patches.py --list                   name them
"""
import sys

SCHED = "arrival_tile_scheduler.cuh"
FETCH_FENCE = ("    fence_generic_to_async_proxy();\n    return cute::make_tuple(work, true);\n  }\n\n"
               "  CUTLASS_HOST_DEVICE static bool compute_epilogue")
OLD_COUNT = ("    if (params_.done_signal == DoneSignal::OWN_STORES_SYSTEM) __threadfence_system();\n"
             "    else __threadfence();\n    __syncwarp();\n    if (cute::elect_one_sync())\n"
             "      atomicAdd(params_.tile_done + static_cast<int64_t>(tile.entry) * params_.cluster_size + rank_, 1u);")
RELEASE_ADD = ("    __syncwarp();\n    if (cute::elect_one_sync()) {\n"
               "      unsigned* done = params_.tile_done + static_cast<int64_t>(tile.entry) * params_.cluster_size + rank_;\n"
               "      if (params_.done_signal == DoneSignal::OWN_STORES_SYSTEM) asm volatile(\"red.release.sys.global.add.u32 [%0], %1;\" ::\"l\"(done), \"r\"(AMOUNT) : \"memory\");\n"
               "      else asm volatile(\"red.release.gpu.global.add.u32 [%0], %1;\" ::\"l\"(done), \"r\"(AMOUNT) : \"memory\");\n    }")

PATCHES = {
    # The consumer warps skip the proxy fence after fetching a tile (the producer warp keeps it).
    "nofence": [(SCHED, FETCH_FENCE, FETCH_FENCE.replace("    fence_generic_to_async_proxy();",
                                                         "    if (cutlass::canonical_warp_group_idx() == 0) fence_generic_to_async_proxy();"))],
    # No warp fences after fetching a tile (timing only: a dispatch whose rows really arrive needs it).
    "allnofence": [(SCHED, FETCH_FENCE, FETCH_FENCE.replace("    fence_generic_to_async_proxy();\n", ""))],
    # Two tiles claimed ahead instead of one.
    "la2": [(SCHED, "static constexpr int LOOKAHEAD = 1;", "static constexpr int LOOKAHEAD = 2;")],
    # The combine counts a tile when its warp asks for the tile after next (DoneCount::ONE_TILE_LATER).
    "next": [("fused_combine_gemm.cu", "DoneSignal requested_signal = DoneSignal::OWN_STORES;",
              "DoneSignal requested_signal = DoneSignal::NEXT_TILE;")],
    # Up to 3463e25 (every consumer warp counts): a release add instead of __threadfence + atomicAdd.
    "rel": [(SCHED, OLD_COUNT, RELEASE_ADD.replace("AMOUNT", "1u"))],
    # Up to 3463e25: the first consumer warp alone counts for all eight. That warp issues no stores,
    # so it waits for none: timing only, the cost of the counting (not a correct kernel).
    "wrongwarp": [(SCHED, "  CUTLASS_DEVICE void signal_done(WorkTileInfo const& tile) const {\n",
                   "  CUTLASS_DEVICE void signal_done(WorkTileInfo const& tile) const {\n"
                   "    if (static_cast<int>(threadIdx.x) / 32 != cutlass::NumThreadsPerWarpGroup / 32) return;\n"),
                  (SCHED, OLD_COUNT, RELEASE_ADD.replace("AMOUNT", "(blockDim.x - cutlass::NumThreadsPerWarpGroup) / 32"))],
    # Entries assigned as CUTLASS's group scheduler assigns tiles (cluster c takes c, c + clusters,
    # ...) instead of claimed from a counter: no atomic, no claim ring (timing only: a launch whose
    # transfer blocks join the GEMM would compute their entries twice or never).
    "static": [(SCHED, "    ClusterClaims& ring = params_.claims->clusters[cluster_];\n",
                "    if (sequence < 0x7fffffffu) return cluster_ + static_cast<int>(sequence) * static_cast<int>(gridDim.x) / params_.cluster_size;\n"
                "    ClusterClaims& ring = params_.claims->clusters[cluster_];\n")],
    # The dispatch's work units two experts at a time, N column by N column (expert e's M tiles of
    # column n, then expert e + 1's), instead of one expert's every column before the next: at 16K
    # the clusters at work read two experts' rows instead of one's (an L2 spread, stop 51's idea
    # for the 16K rounds' gap). Every unit still once, local units still first.
    "pair2": [("fused_schedule.cpp",
               "    for (int e = 0; e < experts; ++e) {\n"
               "      const int first_flag = s.expert_first_flag[static_cast<std::size_t>(e)];\n"
               "      const int m_tiles = layout.m_tiles(e);\n"
               "      for_each_unit({m_tiles}, n_tiles, cluster_m, band_tiles, [&](int, int m, int n) {\n",
               "    for (int e0 = 0; e0 < experts; e0 += 2) {\n"
               "      std::vector<int> pair_tiles;\n"
               "      for (int e = e0; e < std::min(e0 + 2, experts); ++e) pair_tiles.push_back(layout.m_tiles(e));\n"
               "      for_each_unit(pair_tiles, n_tiles, cluster_m, band_tiles, [&](int g, int m, int n) {\n"
               "        const int e = e0 + g;\n"
               "        const int first_flag = s.expert_first_flag[static_cast<std::size_t>(e)];\n"
               "        const int m_tiles = layout.m_tiles(e);\n")],
    # The combine counts nothing (timing only: its sends would wait forever).
    "nosignal": [("fused_combine_gemm.cu", "Watchdog{}, s.done.get()};", "Watchdog{}, nullptr};")],
}


def apply(kernels, variant):
    for name in variant.split("+"):
        if name == "base":
            continue
        if name not in PATCHES:
            sys.exit(f"patches.py: unknown patch '{name}' (known: {', '.join(PATCHES)})")
        for file, text, replacement in PATCHES[name]:
            path = f"{kernels}/{file}"
            with open(path) as f:
                source = f.read()
            if text not in source:
                sys.exit(f"patches.py: patch '{name}' does not apply to {path} (another revision?)")
            with open(path, "w") as f:
                f.write(source.replace(text, replacement, 1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        print("\n".join(PATCHES))
    elif len(sys.argv) == 3:
        apply(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
