#!/usr/bin/env bash
# Installs what dptrain needs on Debian 12 (only what is missing), then configures and builds it
# into build/. Idempotent: quick when everything is already there.
# usage: scripts/setup.sh            (sourced by train.sh and test.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(build-essential cmake pkg-config libopenblas-dev libcunit1-dev zlib1g-dev
          dataset-fashion-mnist libopenmpi-dev openmpi-bin gnuplot-nox clang libclang-rt-14-dev
          valgrind python3)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# build_tree DIR [cmake options...]: configure once, then build incrementally (only the targets
# named in BUILD_TARGETS when it is set).
build_tree() {
  local dir=$1; shift
  if [ ! -f "$root/$dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$root/$dir" "$@" >"$root/$dir.configure.log" 2>&1 ||
      { cat "$root/$dir.configure.log"; return 1; }
    grep -A 14 "dptrain .* configuration" "$root/$dir.configure.log" | sed 's/^-- //'
  fi
  cmake --build "$root/$dir" -j "$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
}

build_tree build -DCMAKE_BUILD_TYPE=Release ${DPT_WERROR:+-DDPT_WERROR=$DPT_WERROR}
