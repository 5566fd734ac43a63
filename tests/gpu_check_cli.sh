#!/usr/bin/env bash
# scripts/gpu_check.sh itself (issue 13, section 4), where there is no GPU:
#   mode emulated: --emulated end to end on this (emulated) build: every step's row in the table,
#     the steps a GPU needs said to be skipped, and "GPU VERDICT: PASS";
#   mode no_gpu: without a GPU (no nvidia-smi; an nvidia-smi that finds no device) it says so in
#     one line and exits 3 within seconds.
# usage: gpu_check_cli.sh MODE BUILD_DIR WORKDIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib/shell_test_lib.sh"
mode=$1 build=$2 work=$3
check=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/gpu_check.sh
rm -rf "$work" && mkdir -p "$work" || exit 1

emulated_mode() {
  local rc=0 step
  OUT= bash "$check" --emulated --build "$build" --out "$work/logs" >"$work/check.out" 2>&1 || rc=$?
  tail -20 "$work/check.out"
  [ "$rc" -eq 0 ] || fail "--emulated: exit $rc"
  grep -q '^GPU VERDICT: PASS (emulated device' "$work/check.out" || fail "no 'GPU VERDICT: PASS'"
  for step in version gpu-suites data cuda-vs-cpu nan-skip resume throughput; do
    grep -q "^$step  *PASS " "$work/check.out" || fail "table: no PASS row for $step"
  done
  for step in nvidia-smi driver memcheck; do
    grep -q "^$step  *SKIPPED .*emulated" "$work/check.out" || fail "table: $step not said to be skipped"
  done
  grep -q "^throughput .*[0-9][0-9]* samples/s (MLP 784-512-512-10, batch 256" "$work/check.out" ||
    fail "no throughput line"
  [ -s "$work/logs/gpu-suites.log" ] || fail "no log of the suites in --out"
}

# expect_no_gpu NAME NVIDIA_SMI: exit 3 within 10 s, one line saying why.
expect_no_gpu() {
  local rc=0 t0 t1
  t0=$(date +%s)
  NVIDIA_SMI=$2 bash "$check" --build "$build" --out "$work/$1" >"$work/$1.out" 2>"$work/$1.err" || rc=$?
  t1=$(date +%s)
  echo "$1: exit $rc after $((t1 - t0)) s: $(cat "$work/$1.err")"
  [ "$rc" -eq 3 ] || fail "$1: exit $rc, expected 3"
  [ $((t1 - t0)) -le 10 ] || fail "$1: took $((t1 - t0)) s"
  [ "$(wc -l <"$work/$1.err")" -eq 1 ] && grep -q "^gpu_check: no GPU here: $3" "$work/$1.err" ||
    fail "$1: said '$(cat "$work/$1.err")'"
}

no_gpu_mode() {
  expect_no_gpu missing "$work/no-such-nvidia-smi" ".*not found"
  # The driver is loaded but finds no device, as nvidia-smi then says.
  printf '#!/bin/sh\necho "No devices were found"\nexit 6\n' >"$work/nvidia-smi"
  chmod +x "$work/nvidia-smi"
  expect_no_gpu no_device "$work/nvidia-smi" ".*No devices were found"
}

case $mode in
emulated) emulated_mode ;;
no_gpu) no_gpu_mode ;;
*) echo "gpu_check_cli.sh: unknown mode '$mode'"; exit 2 ;;
esac
finish "gpu_check_cli $mode"
