#!/usr/bin/env bash
# One command for a machine with a GPU (issue 13, section 4): is dptrain's GPU path right here?
#   scripts/gpu_check.sh [--out DIR] [--build DIR] [--emulated]
# Steps, each logged to DIR/STEP.log: a preflight (nvidia-smi sees a GPU, its driver supports
# CUDA 13), a build of only the targets the GPU suites need with every core (packages installed
# only when missing), `dptrain --version`, every GPU suite (ctest -L gpu; a skipped test counts
# as a failure), compute-sanitizer memcheck on the op suite (test_cuda_ops), and smokes on
# generated data: CUDA against the CPU path for both strategies with --check-replicas, a NaN step
# skipped (DPT_FAULT), a checkpoint-and-resume hash equal to the uninterrupted run's, and one
# throughput line at the reference model's shapes (MLP 784-512-512-10, batch 256), and
# bench_gpu_step's step times for 1..N GPUs beside their math and memory ceilings. Then one
# table and "GPU VERDICT: PASS" or "GPU VERDICT: FAIL" (exit 0 or 1). Without a GPU it says so
# and exits 3 within seconds.
#   --out DIR    where the logs go (default: $OUT when set, else gpu-check/ in the checkout)
#   --build DIR  the build tree (default: build-gpu, or build-emu with --emulated)
#   --emulated   on the emulated CUDA device (docs/emulator.md) instead of a GPU, to test this
#                script where there is none: builds with -DDPT_CUDA_EMU=ON and says which steps
#                it skipped (nvidia-smi, the driver, compute-sanitizer), which count as skipped,
#                not passed
# NVIDIA_SMI and COMPUTE_SANITIZER name those tools when they are not on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# report_field and done_hash, as the tests read dptrain's outputs
source "$root/tests/lib/shell_test_lib.sh"

emulated=false
out=${OUT:-$root/gpu-check}
build=""
while [ $# -gt 0 ]; do
  case $1 in
  --out) out=${2:?--out needs a folder}; shift 2 ;;
  --build) build=${2:?--build needs a folder}; shift 2 ;;
  --emulated) emulated=true; shift ;;
  -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "gpu_check: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
if $emulated; then build=${build:-$root/build-emu}; else build=${build:-$root/build-gpu}; fi
jobs=$(nproc)
nvidia_smi=${NVIDIA_SMI:-nvidia-smi}

# --- the table ------------------------------------------------------------------------------
steps=() # "NAME|RESULT|SECONDS|DETAIL", RESULT one of PASS FAIL SKIPPED
verdict=PASS
detail="" # what the running step has to say in the table

# run_step NAME FUNCTION: runs FUNCTION with its output in $out/NAME.log; its status is the
# step's result, and `detail` what the table says of it.
run_step() {
  local name=$1 fn=$2 t0 rc=0 result=PASS
  detail=""
  t0=$(date +%s)
  echo "== $name"
  "$fn" >"$out/$name.log" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] || { result=FAIL; verdict=FAIL; detail=${detail:-"exit $rc, see $name.log"}; }
  steps+=("$name|$result|$(($(date +%s) - t0))|$detail")
}

# skip_step NAME WHY: a step the emulated mode cannot take.
skip_step() {
  echo "== $1: skipped ($2)"
  steps+=("$1|SKIPPED|0|$2")
}

print_table() {
  local row name result secs what
  printf '\n%-18s %-8s %6s  %s\n' step result seconds detail
  for row in "${steps[@]}"; do
    IFS='|' read -r name result secs what <<<"$row"
    printf '%-18s %-8s %6s  %s\n' "$name" "$result" "$secs" "$what"
  done
  echo
  echo "logs: $out"
}

# --- preflight ------------------------------------------------------------------------------
# No GPU: say why and stop (exit 3), before anything slow.
no_gpu() {
  echo "gpu_check: no GPU here: $1 (scripts/gpu_check.sh --emulated checks this script on the emulated device)" >&2
  exit 3
}

require_gpu() {
  command -v "$nvidia_smi" >/dev/null 2>&1 || no_gpu "'$nvidia_smi' not found (no NVIDIA driver)"
  local listed
  listed=$(timeout 30 "$nvidia_smi" -L 2>&1) || no_gpu "'$nvidia_smi -L' failed: $(echo "$listed" | head -1)"
  echo "$listed" | grep -q '^GPU [0-9]' || no_gpu "'$nvidia_smi -L' lists no GPU: $(echo "$listed" | head -1)"
}

step_nvidia_smi() {
  "$nvidia_smi"
  gpus=$("$nvidia_smi" -L | grep -c '^GPU [0-9]')
  detail="$gpus GPU(s): $("$nvidia_smi" --query-gpu=name --format=csv,noheader | sort | uniq -c | xargs)"
}

# The driver's CUDA version (nvidia-smi's header, "CUDA Version: 13.0") must be 13 or newer.
step_driver() {
  local header cuda driver
  header=$("$nvidia_smi")
  cuda=$(sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\.\([0-9]*\).*/\1.\2/p' <<<"$header" | head -1)
  driver=$(sed -n 's/.*Driver Version: *\([0-9.]*\).*/\1/p' <<<"$header" | head -1)
  detail="driver $driver, CUDA $cuda"
  [ -n "$cuda" ] && [ "${cuda%%.*}" -ge 13 ] || { detail="$detail: CUDA 13 needs a newer driver"; return 1; }
}

# --- build ----------------------------------------------------------------------------------
# Debian's packages for the build, installed only when missing (and only where apt exists).
step_packages() {
  local p missing=()
  if ! command -v dpkg-query >/dev/null; then detail="no dpkg: nothing installed"; return 0; fi
  for p in build-essential cmake libopenblas-dev libcunit1-dev zlib1g-dev libopenmpi-dev openmpi-bin; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then detail="all present: nothing installed"; return 0; fi
  detail="installed ${missing[*]}"
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
}

step_build() {
  local targets=(dptrain make_synth test_cuda_ops test_ops test_cuda_sync test_comm_nccl
                 bench_gpu_step)
  local config=(-DCMAKE_BUILD_TYPE=Release -DDPT_CUDA=ON)
  $emulated && { targets+=(test_cuda_emu); config=(-DCMAKE_BUILD_TYPE=Release -DDPT_CUDA_EMU=ON); }
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" "${config[@]}"
  cmake --build "$build" -j "$jobs" --target "${targets[@]}"
  dptrain=$build/dptrain
  make_synth=$(find "$build" -name make_synth -type f -perm -u+x | head -1)
  detail="$(basename "$build"), ${#targets[@]} targets, $jobs jobs"
}

# dptrain lists a CUDA backend (with the GPU architectures it was compiled for) and NCCL.
step_version() {
  "$dptrain" --version
  local line
  line=$("$dptrain" --version | grep '^backends:')
  detail=$(grep -o 'cuda [^;]*' <<<"$line" | head -1)
  grep -q 'cuda [0-9]' <<<"$line" && grep -q 'nccl [0-9]' <<<"$line" ||
    { detail="no CUDA or NCCL backend: $line"; return 1; }
}

# --- the suites -----------------------------------------------------------------------------
# Every GPU suite; a skipped or not-run test is a failure (scripts/ctest_skips.sh names them).
step_suites() {
  local rc=0 skips ran
  (cd "$build" && ctest -L '^gpu$' --output-on-failure -j "$jobs") | tee "$out/ctest-output.log" || rc=$?
  skips=$(bash "$root/scripts/ctest_skips.sh" "$build" "$out/ctest-output.log" || true)
  ran=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2 run, \1 failed/p' \
    "$out/ctest-output.log")
  detail="${ran:-no tests ran}"
  if [ -n "$skips" ]; then
    echo "skipped (a failure here):"
    echo "$skips"
    detail="$detail; $(grep -c . <<<"$skips") skipped: $(cut -d: -f1 <<<"$skips" | xargs)"
    return 1
  fi
  [ -n "$ran" ] && [ "$rc" -eq 0 ]
}

step_memcheck() {
  local sanitizer=${COMPUTE_SANITIZER:-compute-sanitizer} ops
  command -v "$sanitizer" >/dev/null || sanitizer=${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer
  [ -x "$sanitizer" ] || command -v "$sanitizer" >/dev/null || { detail="compute-sanitizer not found"; return 1; }
  ops=$(find "$build" -name test_cuda_ops -type f -perm -u+x | head -1)
  "$sanitizer" --tool memcheck --error-exitcode 1 --leak-check full "$ops"
  detail=$(grep -o 'ERROR SUMMARY: [0-9]* errors*' "$out/memcheck.log" | tail -1 || true)
}

# --- smokes on generated data ---------------------------------------------------------------
# run_dptrain NAME ARGS...: dptrain's output in $out/NAME.out and .err; its status.
run_dptrain() {
  local name=$1
  shift
  echo "dptrain $*"
  "$dptrain" "$@" >"$out/$name.out" 2>"$out/$name.err"
}

smoke_args() {
  echo --data "$out/data" --hidden 64,32 --batch 64 --lr 0.005 --epochs 1 --quiet
}

# 4000 training and 1000 test samples of 8 x 8, 10 classes.
make_data() { mkdir -p "$out/data" && "$make_synth" "$out/data" 4000 1000 8 8 10 7; }

# CUDA against the CPU path, both strategies, on every GPU (up to 4), replicas checked.
step_cuda_vs_cpu() {
  local s workers=$((gpus < 4 ? gpus : 4)) cl gl ca ga bad=0 said=()
  # shellcheck disable=SC2046 # smoke_args is a word list
  for s in allreduce ps; do
    run_dptrain "cpu_$s" $(smoke_args) --device cpu --workers "$workers" --strategy "$s" \
      --report "$out/cpu_$s.json" || { cat "$out/cpu_$s.err"; return 1; }
    run_dptrain "cuda_$s" $(smoke_args) --device cuda --workers "$workers" --strategy "$s" \
      --check-replicas --report "$out/cuda_$s.json" || { cat "$out/cuda_$s.err"; return 1; }
    cl=$(report_field "$out/cpu_$s.json" final_train_loss) gl=$(report_field "$out/cuda_$s.json" final_train_loss)
    ca=$(report_field "$out/cpu_$s.json" test_accuracy) ga=$(report_field "$out/cuda_$s.json" test_accuracy)
    echo "$s: loss cpu $cl cuda $gl, accuracy cpu $ca cuda $ga"
    said+=("$s loss $gl/$cl")
    awk -v a="$gl" -v b="$cl" -v x="$ga" -v y="$ca" 'BEGIN { d = a - b; if (d < 0) d = -d;
      m = b < 0 ? -b : b; e = x - y; if (e < 0) e = -e; exit !(d <= 1e-3 * m && e <= 0.01) }' ||
      bad=1
  done
  detail="$workers worker(s), cuda/cpu: ${said[*]}"
  return "$bad"
}

# A NaN gradient on worker 0 at step 3 (DPT_FAULT): --on-nan skip skips exactly that step.
step_nan_skip() {
  # shellcheck disable=SC2046
  DPT_FAULT=worker=0,step=3,kind=nan run_dptrain nan $(smoke_args) --device cuda --on-nan skip \
    --workers 1 --report "$out/nan.json" || { cat "$out/nan.err"; return 1; }
  local skipped
  skipped=$(report_field "$out/nan.json" skipped_steps)
  detail="skipped_steps $skipped (expected 1)"
  [ "$skipped" = 1 ]
}

# Cut at epoch 2 of 4 and resumed: the same parameters' hash as the uninterrupted run.
step_resume() {
  local plain=(--data "$out/data" --hidden 64,32 --batch 64 --lr-schedule constant --device cuda
               --workers 1) straight resumed
  run_dptrain straight "${plain[@]}" --epochs 4 || return 1
  rm -f "$out/run.ckpt"
  run_dptrain first "${plain[@]}" --epochs 2 --checkpoint "$out/run.ckpt" || return 1
  run_dptrain resumed "${plain[@]}" --epochs 4 --resume "$out/run.ckpt" || return 1
  straight=$(done_hash "$out/straight.out") resumed=$(done_hash "$out/resumed.out")
  detail="hash uninterrupted $straight, resumed $resumed"
  [ -n "$straight" ] && [ "$straight" = "$resumed" ]
}

# One throughput line at the reference model's shapes: 28 x 28 inputs, MLP 784-512-512-10,
# batch 256, one GPU, one epoch. (The emulated device computes on the CPU: its figure says
# nothing about a GPU, so it trains on fewer samples.)
step_throughput() {
  local samples=60000 rate
  $emulated && samples=2048
  mkdir -p "$out/ref" && "$make_synth" "$out/ref" "$samples" 1000 28 28 10 3
  run_dptrain throughput --data "$out/ref" --hidden 512,512 --batch 256 --epochs 1 --device cuda \
    --workers 1 || { cat "$out/throughput.err"; return 1; }
  cat "$out/throughput.out"
  rate=$(sed -n 's/^done: .*  \([0-9]*\) samples\/s .*/\1/p' "$out/throughput.out")
  detail="$rate samples/s (MLP 784-512-512-10, batch 256, 1 GPU, $samples samples$($emulated && echo ', emulated'))"
  [ -n "$rate" ]
}

# bench_gpu_step on the reference data: step time for 1..N GPUs and both strategies beside the
# step's math and memory ceilings (on the emulated device: small probes, CPU figures).
step_bench() {
  local args=(--data "$out/ref")
  $emulated && args+=(--sgemm-n 512 --copy-mb 64)
  "$build/bench/bench_gpu_step" "${args[@]}" | tee "$out/bench_gpu_step.txt"
  detail="$(grep -c '^ *[0-9]' "$out/bench_gpu_step.txt") configurations (bench_gpu_step.txt)"
  grep -q '^ *1 allreduce' "$out/bench_gpu_step.txt"
}

# --- the run --------------------------------------------------------------------------------
main() {
  local t0
  t0=$(date +%s)
  gpus=2 # the emulated device's, unless nvidia-smi counts them
  if $emulated; then
    skip_step nvidia-smi "emulated: no GPU to list"
    skip_step driver "emulated: no driver"
  else
    require_gpu
  fi
  mkdir -p "$out"
  if ! $emulated; then
    run_step nvidia-smi step_nvidia_smi
    run_step driver step_driver
  fi
  run_step packages step_packages
  run_step build step_build
  if [ "$verdict" = PASS ]; then
    run_step version step_version
    run_step gpu-suites step_suites
    if $emulated; then
      skip_step memcheck "emulated: compute-sanitizer needs a GPU"
    else
      run_step memcheck step_memcheck
    fi
    run_step data make_data
    run_step cuda-vs-cpu step_cuda_vs_cpu
    run_step nan-skip step_nan_skip
    run_step resume step_resume
    run_step throughput step_throughput
    run_step step-bench step_bench
  fi
  print_table
  local note=""
  $emulated && note=" (emulated device: nvidia-smi, the driver and compute-sanitizer not checked)"
  echo "total: $(($(date +%s) - t0)) s"
  echo "GPU VERDICT: $verdict$note"
  [ "$verdict" = PASS ]
}

main
