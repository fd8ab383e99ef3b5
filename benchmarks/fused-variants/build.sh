#!/usr/bin/env bash
# Builds comet's kernel C API library (libcomet_gemm_c.so) with the fused kernels of git revision REV
# changed by named patches (patches.py), so that scripts/grouped_mm_vs_comet.py can time variants
# side by side in one process (--lib LABEL=PATH): how BENCHMARKS.md, stop 48, found the combine's
# per-tile cost. Not part of the build or of CI.
#   benchmarks/fused-variants/build.sh VARIANT [REV] [OUT_DIR]
#     VARIANT  patch names joined by '+' (`base`: none); `patches.py --list` names them
#     REV      the revision whose kernels/ is patched (default HEAD)
#     OUT_DIR  default build-variants/ at the repository root: OUT_DIR/libcomet_gemm_c_VARIANT.so
# Needs the CUDA build configured with CUTLASS in build/ (its C API object, grouped GEMM object and
# static libraries are linked in) and nvcc; two nvcc jobs at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
variant=${1:?usage: benchmarks/fused-variants/build.sh VARIANT [REV] [OUT_DIR]}
rev=${2:-HEAD}
out=${3:-$root/build-variants}
build=$root/build
dir=$out/$variant
rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" archive "$rev" kernels | tar -x -C "$dir"
python3 "$here/patches.py" "$dir/kernels" "$variant"
flags=(-DCOMET_HAVE_CUTLASS -I"$dir/kernels" -isystem "$root/.deps/cutlass-4.2.0/include" -O3 -DNDEBUG -arch=sm_90a
       -Xcompiler=-fPIC --expt-relaxed-constexpr -std=c++17)
for f in fused_dispatch_gemm fused_combine_gemm; do
  nvcc "${flags[@]}" -x cu -c "$dir/kernels/$f.cu" -o "$dir/$f.o" &
done
# The patched host schedules too (patches of the tile order: `pair2`), in a copy of the build's
# archive of them whose member of the same name they replace.
mkdir -p "$dir/schedules"
c++ -std=c++17 -O3 -DNDEBUG -fPIC -I"$dir/kernels" -c "$dir/kernels/fused_schedule.cpp" -o "$dir/schedules/fused_schedule.cpp.o" &
wait
cp "$build/kernels/libcomet_kernel_schedules.a" "$dir/schedules/"
ar r "$dir/schedules/libcomet_kernel_schedules.a" "$dir/schedules/fused_schedule.cpp.o"
objects=$build/kernels/CMakeFiles
cuda_lib=$(dirname "$(command -v nvcc)")/../lib64
c++ -shared -Wl,--exclude-libs,ALL -Wl,-soname,libcomet_gemm_c.so -o "$out/libcomet_gemm_c_$variant.so" \
  "$objects/comet_gemm_c.dir/comet_gemm_c.cpp.o" "$dir/fused_dispatch_gemm.o" "$dir/fused_combine_gemm.o" \
  "$objects/comet_cutlass_kernels.dir/grouped_gemm.cu.o" "$build/kernels/libcomet_kernels.a" \
  "$dir/schedules/libcomet_kernel_schedules.a" -L"$cuda_lib" -lcublas -lcublasLt -lnccl -lcudart -lrt -lpthread -ldl
echo "built $out/libcomet_gemm_c_$variant.so"
