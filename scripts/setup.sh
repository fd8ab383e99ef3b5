#!/usr/bin/env bash
# Installs what comet needs from Debian's packages (nothing when it is all there), then
# configures and builds into build/ (or $COMET_BUILD_DIR). Safe to run again and again.
#   scripts/setup.sh                 # install + configure + build
#   COMET_CMAKE_ARGS="-DCOMET_WITH_CUDA=OFF" scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ pkg-config
  libboost-graph-dev libfmt-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
  libsimgrid-dev
  libgtest-dev libgmock-dev
  libopenmpi-dev openmpi-bin   # validation's one-process-per-GPU launch (mpirun)
  chromium fonts-dejavu-core libpng-dev   # the HTML report test renders in headless Chromium
  clang libclang-rt-14-dev   # scripts/fuzz.sh: libFuzzer + ASan/UBSan over the input loaders
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The CUDA toolkit is not a Debian package here; use it when it is installed.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc && -z "${CUDACXX:-}" ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

# CUTLASS (header-only, pinned): the C++ headers ship in the PyPI package nvidia-cutlass, under
# cutlass_library/source/include (and its utilities under tools/util/include). Unpacked into
# .deps/ (ignored by git); CMake finds them there.
CUTLASS_VERSION=4.2.0
CUTLASS_DIR=.deps/cutlass-$CUTLASS_VERSION
if command -v nvcc >/dev/null || [[ -n "${CUDACXX:-}" ]]; then
  if [[ ! -f $CUTLASS_DIR/include/cutlass/version.h ]]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
      SUDO=""; if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >&2
    fi
    echo "setup: fetching CUTLASS $CUTLASS_VERSION headers (PyPI nvidia-cutlass==$CUTLASS_VERSION.0)" >&2
    wheel_dir=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheel_dir" "nvidia-cutlass==$CUTLASS_VERSION.0" >&2
    python3 - "$wheel_dir"/nvidia_cutlass-*.whl "$CUTLASS_DIR" <<'PY'
import pathlib, sys, zipfile
wheel, target = sys.argv[1], pathlib.Path(sys.argv[2])
prefixes = ("cutlass_library/source/include/", "cutlass_library/source/tools/util/include/")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        for prefix in prefixes:
            if name.startswith(prefix) and not name.endswith("/"):
                out = target / "include" / name[len(prefix):]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(z.read(name))
PY
    rm -rf "$wheel_dir"
  fi
  # cuobjdump and the nvdisasm it runs, for the test that reads the fused kernels' SASS
  # (kernels.sass_k_loop): the CUDA toolkit's when it has them, else the PyPI packages
  # nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm (pinned) in .deps/cuda-tools/bin.
  CUDA_TOOLS_VERSION=13.5.37
  toolkit_bin=$(dirname "$(command -v nvcc || echo "$CUDACXX")")
  if [[ ! -x $toolkit_bin/cuobjdump || ! -x $toolkit_bin/nvdisasm ]] && [[ ! -x .deps/cuda-tools/bin/nvdisasm ]]; then
    echo "setup: fetching cuobjdump and nvdisasm (PyPI nvidia-cuda-cuobjdump, nvidia-cuda-nvdisasm ==$CUDA_TOOLS_VERSION)" >&2
    wheel_dir=$(mktemp -d)
    if python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheel_dir" "nvidia-cuda-cuobjdump==$CUDA_TOOLS_VERSION" \
         "nvidia-cuda-nvdisasm==$CUDA_TOOLS_VERSION" >&2; then
      python3 - .deps/cuda-tools/bin "$wheel_dir"/*.whl <<'PY'
import pathlib, sys, zipfile
target = pathlib.Path(sys.argv[1])
target.mkdir(parents=True, exist_ok=True)
for wheel in sys.argv[2:]:
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.endswith(("/bin/cuobjdump", "/bin/nvdisasm")):
                tool = target / name.rsplit("/", 1)[1]
                tool.write_bytes(z.read(name))
                tool.chmod(0o755)
PY
    else
      echo "setup: warning: no cuobjdump; the test kernels.sass_k_loop will be skipped" >&2
    fi
    rm -rf "$wheel_dir"
  fi
fi

BUILD_DIR=${COMET_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMET_WERROR=ON ${COMET_CMAKE_ARGS:-} >&2
cmake --build "$BUILD_DIR" -j "$jobs" >&2
