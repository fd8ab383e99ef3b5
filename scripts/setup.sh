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

BUILD_DIR=${COMET_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMET_WERROR=ON ${COMET_CMAKE_ARGS:-} >&2
cmake --build "$BUILD_DIR" -j "$jobs" >&2
