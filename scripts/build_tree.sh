#!/usr/bin/env bash
# build_tree DIR [cmake options...]: configures $root/DIR once (printing the configuration
# summary), then builds it incrementally (only the targets named in BUILD_TARGETS when it is
# set). Make's progress lines ("[ 42%] Built target ...",
# "Building C object ...") and CMake's re-configure chatter are left out, so an up-to-date build
# prints nothing; compiler messages and errors stay, and the status is the build's.
# usage: source scripts/build_tree.sh (with $root set; sourced by setup.sh)
build_progress='^\[ *[0-9]+%\] (Built target|Building|Linking)|^Consolidate compiler generated|^Scanning dependencies|^-- '

build_tree() {
  local dir=$1; shift
  if [ ! -f "$root/$dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$root/$dir" "$@" >"$root/$dir.configure.log" 2>&1 ||
      { cat "$root/$dir.configure.log"; return 1; }
    grep -A 14 "dptrain .* configuration" "$root/$dir.configure.log" | sed 's/^-- //' || true
  fi
  # shellcheck disable=SC2086 # BUILD_TARGETS is a list of target names
  cmake --build "$root/$dir" -j "$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS} 2>&1 |
    { grep -E -v "$build_progress" || true; }
  return "${PIPESTATUS[0]}"
}
