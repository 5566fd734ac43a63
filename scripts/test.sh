#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the whole test suite:
#   1. the Release build (CUDA path compiled when the toolkit is present): every ctest test;
#   2. the threaded tests (label "threads") under ThreadSanitizer;
#   3. the file parsers under libFuzzer for FUZZ_SECONDS (default 30) each;
#   4. every test under AddressSanitizer + UndefinedBehaviorSanitizer, the MPI ones included
#      (tests/lib/lsan_mpi.supp keeps Open MPI's own allocations out of LeakSanitizer's report).
# The sanitizer builds leave out CUDA (nothing runs it here); the ThreadSanitizer build leaves
# out MPI too (Open MPI itself is not built with ThreadSanitizer).
# GPU suites run only where a GPU exists; elsewhere ctest lists them as skipped, never passed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DPT_WERROR=ON source "$root/scripts/setup.sh"
jobs=$(nproc)

echo "== tests: release build"
(cd "$root/build" && ctest --output-on-failure -j "$jobs")

echo "== tests: threaded tests under ThreadSanitizer"
build_tree build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPT_SANITIZE=thread -DDPT_CUDA=OFF -DDPT_MPI=OFF -DDPT_WERROR=ON
(cd "$root/build-tsan" && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
   ctest -L threads --output-on-failure -j "$jobs")

echo "== tests: fuzzing the IDX and checkpoint readers"
FUZZ_SECONDS=${FUZZ_SECONDS:-30} bash "$root/scripts/fuzz.sh"

echo "== tests: everything under AddressSanitizer + UndefinedBehaviorSanitizer"
build_tree build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPT_SANITIZE=address -DDPT_CUDA=OFF -DDPT_WERROR=ON
(cd "$root/build-asan" && ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
   ctest --output-on-failure -j "$jobs")
