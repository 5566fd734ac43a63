#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the whole test suite, in stages:
#   1. release: the Release build (CUDA path compiled when the toolkit is present), every ctest test;
#   2. ThreadSanitizer: the threaded tests (label "threads");
#   3. fuzzing: the file parsers under libFuzzer, FUZZ_SECONDS (scripts/fuzz.sh: 30) each;
#   4. AddressSanitizer: every test under AddressSanitizer + UndefinedBehaviorSanitizer, the MPI
#      ones included (tests/lib/lsan_mpi.supp keeps Open MPI's own allocations out of
#      LeakSanitizer's report);
#   5. emulated GPU: the GPU suites (label "gpu") on the emulated CUDA device (emu/,
#      docs/emulator.md), built against the CUDA toolkit's headers in build-emu, then again under
#      ThreadSanitizer (build-emu-tsan) and AddressSanitizer + UBSan (build-emu-asan). Where the
#      headers are absent it reports itself as not run, with that reason, and fails nothing;
#      between them, scripts/gpu_check.sh --emulated end to end (label "check_script").
# The sanitizer builds leave out CUDA (nothing runs it here); the ThreadSanitizer build leaves
# out MPI too (Open MPI itself is not built with ThreadSanitizer).
# It ends with one summary: each stage passed, failed, or not run (after a failed stage, the
# later ones do not run), and every test ctest skipped with its reason (GPU suites where no GPU
# exists are skipped, never passed). Any failure, or a skipped test that gives no reason, makes
# the exit status non-zero.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

stages=(release tsan fuzz asan emu emu_check emu_tsan emu_asan)
declare -A title=([release]="release build" [tsan]="ThreadSanitizer" [fuzz]="fuzzing"
                  [asan]="AddressSanitizer + UBSan" [emu]="emulated GPU"
                  [emu_check]="GPU check, emulated"
                  [emu_tsan]="emulated GPU, TSan" [emu_asan]="emulated GPU, ASan + UBSan")
declare -A outcome=()
skipped=() # "stage: test: reason"
current=""

summary() {
  local rc=$? failed="" s
  [ -n "$current" ] && outcome[$current]=${outcome[$current]:-FAILED}
  echo
  echo "== summary"
  for s in "${stages[@]}"; do
    if [ -n "${outcome[$s]:-}" ]; then
      printf '  %-26s %s\n' "${title[$s]}:" "${outcome[$s]}"
      [[ "${outcome[$s]}" == FAILED* ]] && failed=$s
    else
      printf '  %-26s not run%s\n' "${title[$s]}:" "${failed:+ (the ${title[$failed]} stage failed)}"
    fi
  done
  if [ ${#skipped[@]} -gt 0 ]; then
    echo "  skipped tests:"
    printf '    %s\n' "${skipped[@]}"
  fi
  [ "$rc" -eq 0 ] && echo "== all stages passed" || echo "== tests failed (exit status $rc)"
  exit "$rc"
}
trap summary EXIT

# stage_done STAGE: it passed.
stage_done() {
  outcome[$1]="passed"
  current=""
}

# ctest_stage STAGE BUILD_DIR [VAR=value...] -- ctest-args...: ctest in BUILD_DIR, then the
# tests it skipped, each with its reason (scripts/ctest_skips.sh), failed or not.
ctest_stage() {
  local stage=$1 dir=$root/$2 vars=() line n=0 rc=0 reasons why=""
  shift 2
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  (cd "$dir" && env "${vars[@]}" ctest "$@") 2>&1 | tee "$dir/ctest-output.log" || rc=$?
  reasons=$(bash "$root/scripts/ctest_skips.sh" "$dir" "$dir/ctest-output.log") ||
    why="a skipped test gave no reason"
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    skipped+=("${title[$stage]}: $line")
    n=$((n + 1))
  done <<<"$reasons"
  [ "$rc" -eq 0 ] || why="ctest exited $rc (its failed tests are listed above)"
  if [ -n "$why" ]; then
    outcome[$stage]="FAILED: $why"
    return 1
  fi
  stage_done "$stage"
  [ "$n" -eq 0 ] || outcome[$stage]="passed ($n test(s) skipped, below)"
}

current=release
DPT_WERROR=ON source "$root/scripts/setup.sh"
echo "== tests: release build"
ctest_stage release build -- --output-on-failure -j "$jobs"

current=tsan
echo "== tests: threaded tests under ThreadSanitizer"
build_tree build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPT_SANITIZE=thread -DDPT_CUDA=OFF -DDPT_MPI=OFF -DDPT_WERROR=ON
ctest_stage tsan build-tsan "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 suppressions=$root/scripts/tsan.supp" -- \
  -L threads --output-on-failure -j "$jobs"

current=fuzz
echo "== tests: fuzzing the IDX and checkpoint readers"
bash "$root/scripts/fuzz.sh"
stage_done fuzz

current=asan
echo "== tests: everything under AddressSanitizer + UndefinedBehaviorSanitizer"
build_tree build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPT_SANITIZE=address -DDPT_CUDA=OFF -DDPT_WERROR=ON
ctest_stage asan build-asan ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 -- \
  --output-on-failure -j "$jobs"

# --- the GPU suites on the emulated device: only what `ctest -L gpu` runs is built ---------------
# Why the emulated build cannot be made here, or nothing when it can.
emu_missing() {
  local inc h
  for inc in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/include; do
    for h in cuda_runtime_api.h cublas_v2.h nccl.h; do [ -f "$inc/$h" ] || continue 2; done
    return 1
  done
  echo "the CUDA toolkit's headers (cuda_runtime_api.h, cublas_v2.h, nccl.h) are not installed"
}
gpu_targets="test_cuda_ops test_ops test_cuda_sync test_comm_nccl test_cuda_emu test_cuda_ps_pipe dptrain make_synth"
if why=$(emu_missing); then
  for s in emu emu_check emu_tsan emu_asan; do outcome[$s]="not run: $why"; done
else
  current=emu
  echo "== tests: the GPU suites on the emulated CUDA device"
  BUILD_TARGETS=$gpu_targets build_tree build-emu -DCMAKE_BUILD_TYPE=Release -DDPT_CUDA_EMU=ON -DDPT_WERROR=ON
  ctest_stage emu build-emu -- -L gpu --output-on-failure -j "$jobs"

  current=emu_check
  echo "== tests: scripts/gpu_check.sh --emulated, end to end"
  ctest_stage emu_check build-emu -- -L check_script --output-on-failure

  current=emu_tsan
  echo "== tests: the GPU suites on the emulated CUDA device under ThreadSanitizer"
  BUILD_TARGETS=$gpu_targets build_tree build-emu-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDPT_SANITIZE=thread -DDPT_CUDA_EMU=ON -DDPT_MPI=OFF -DDPT_WERROR=ON
  ctest_stage emu_tsan build-emu-tsan "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 suppressions=$root/scripts/tsan.supp" -- \
    -L gpu --output-on-failure -j "$jobs"

  current=emu_asan
  echo "== tests: the GPU suites on the emulated CUDA device under AddressSanitizer + UBSan"
  BUILD_TARGETS=$gpu_targets build_tree build-emu-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDPT_SANITIZE=address -DDPT_CUDA_EMU=ON -DDPT_WERROR=ON
  ctest_stage emu_asan build-emu-asan ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 -- \
    -L gpu --output-on-failure -j "$jobs"
fi
