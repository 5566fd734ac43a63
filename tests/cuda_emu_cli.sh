#!/usr/bin/env bash
# dptrain --device cuda end to end on the emulated device (emulated build only, docs/emulator.md):
#   mode train: both strategies on 1 to 4 devices against the CPU path (final loss within 1e-3
#     relative, test accuracy within 0.01), --check-replicas, --on-nan skip and stop with DPT_FAULT,
#     checkpoint and resume bit-identical to the uninterrupted emulated run, all under random
#     delays of stream work;
#   mode faults: the emulator's faults reach the user as one error line and exit 1 within seconds
#     (an asynchronous NCCL error on a rank, a failing cudaMalloc, a sticky illegal address on a
#     device picked through CUDA_VISIBLE_DEVICES), and device counts as exit 2;
#   mode hang: a kernel that never finishes is ended by --timeout;
#   mode allocs: no training step allocates device memory, after a resume at a short batch too;
#   mode cnn: a small CNN (conv, maxpool) on 1 and 2 devices against the CPU path, both
#     strategies, the ps run bit-identical to the allreduce one, under random delays;
#   mode stale: --staleness on CUDA devices (ps through pinned host memory): one device's run at
#     any staleness equals its synchronous run bit for bit; on 3 devices every push is applied
#     once within the bound, and --on-worker-failure continue loses a failing worker and no piece;
#   mode mpi: 2 processes of 2 workers (MPIEXEC in the environment): on 4 devices the processes
#     pick apart with CUDA_VISIBLE_DEVICES, loss and accuracy equal to the CPU path's over MPI;
#   mode mpi_devices: the same without CUDA_VISIBLE_DEVICES: the processes must pick 4 distinct
#     devices themselves;
#   mode mpi_fail: an asynchronous NCCL error on one rank of 2 processes x 2 workers ends every
#     process within seconds, though --timeout is 300 s (issue 13, section 3.3).
# usage: cuda_emu_cli.sh MODE DPTRAIN MAKE_SYNTH WORKDIR
mode=$1
shift
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

train=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --epochs 3 --quiet)

# run NAME ARGS...: dptrain's exit status in $rc, its output in $work/NAME.out and .err.
run() {
  local name=$1
  shift
  "$dptrain" "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
}

# run_mpi NAME MPIEXEC-ARGS...: the same for "$MPIEXEC" MPIEXEC-ARGS.
run_mpi() {
  local name=$1
  shift
  "$MPIEXEC" "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
}

# close A B REL: |A - B| <= REL * |B|
close() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
  m = b < 0 ? -b : b; exit !(d <= r * m) }'; }

# compare_to_cpu NAME [LABEL]: the run's report ($work/NAME.json) against $work/cpu.json.
compare_to_cpu() {
  local cl gl ca ga
  cl=$(report_field "$work/cpu.json" final_train_loss) gl=$(report_field "$work/$1.json" final_train_loss)
  ca=$(report_field "$work/cpu.json" test_accuracy) ga=$(report_field "$work/$1.json" test_accuracy)
  local what=${2:-$1}
  echo "$what: loss cpu $cl cuda $gl, accuracy cpu $ca cuda $ga"
  close "$gl" "$cl" 1e-3 || fail "$what: loss $gl, the CPU path's $cl"
  awk -v a="$ga" -v b="$ca" 'BEGIN { d = a - b; exit !(d <= 0.01 && d >= -0.01) }' ||
    fail "$what: accuracy $ga, the CPU path's $ca"
}

train_mode() {
  export DPT_CUDA_EMU_DELAY_US=200
  local s n
  for s in allreduce ps; do
    for n in 1 2 3 4; do
      run cpu "${train[@]}" --device cpu --workers "$n" --strategy "$s" --report "$work/cpu.json"
      run cuda "${train[@]}" --device cuda --workers "$n" --strategy "$s" --report "$work/cuda.json"
      [ "$rc" -eq 0 ] || { fail "$s on $n device(s): exit $rc: $(cat "$work/cuda.err")"; continue; }
      compare_to_cpu cuda "$s on $n device(s)"
    done
  done

  # The report counts each device's work: a 2-worker allreduce run uses devices 0 and 1 only.
  run counted "${train[@]}" --device cuda --workers 2 --report "$work/counted.json"
  local kernels nccl
  kernels=$(grep '"emulator_counters"' "$work/counted.json" | grep -o '"kernels": [0-9]*' |
    awk '{printf "%s%s", (NR > 1 ? " " : ""), ($2 > 0 ? "some" : "none")}')
  nccl=$(grep '"emulator_counters"' "$work/counted.json" | grep -o '"nccl": [0-9]*' |
    awk '{printf "%s%s", (NR > 1 ? " " : ""), ($2 > 0 ? "some" : "none")}')
  [ "$kernels" = "some some none none" ] && [ "$nccl" = "some some none none" ] ||
    fail "emulator_counters: kernels '$kernels', nccl '$nccl' on devices 0-3: $(grep emulator "$work/counted.json")"

  run replicas "${train[@]}" --device cuda --workers 4 --check-replicas
  [ "$rc" -eq 0 ] || fail "--check-replicas: exit $rc: $(cat "$work/replicas.err")"

  DPT_FAULT=worker=1,step=3,kind=nan run nan_skip "${train[@]}" --device cuda --workers 2 \
    --on-nan skip --report "$work/nan.json"
  [ "$rc" -eq 0 ] || fail "--on-nan skip: exit $rc: $(cat "$work/nan_skip.err")"
  [ "$(report_field "$work/nan.json" skipped_steps)" = 1 ] ||
    fail "--on-nan skip: skipped_steps $(report_field "$work/nan.json" skipped_steps), expected 1"
  DPT_FAULT=worker=1,step=3,kind=nan run nan_stop "${train[@]}" --device cuda --workers 2
  [ "$rc" -eq 1 ] || fail "--on-nan stop: exit $rc, expected 1: $(cat "$work/nan_stop.err")"

  # A constant rate: the run cut at epoch 2 and resumed to 4 follows the uninterrupted schedule.
  local ck=$work/run.ckpt straight resumed
  local plain=(--data "$work/data" --hidden 16 --batch 20 --lr-schedule constant --device cuda
               --workers 3)
  run straight "${plain[@]}" --epochs 4
  straight=$(done_hash "$work/straight.out")
  run first "${plain[@]}" --epochs 2 --checkpoint "$ck"
  [ "$rc" -eq 0 ] || fail "checkpointed run: exit $rc: $(cat "$work/first.err")"
  run resumed "${plain[@]}" --epochs 4 --resume "$ck"
  resumed=$(done_hash "$work/resumed.out")
  [ -n "$straight" ] && [ "$resumed" = "$straight" ] ||
    fail "resumed hash '$resumed' != uninterrupted '$straight': $(cat "$work/resumed.err")"
}

# allocs_of NAME: every device's allocation count in the report $work/NAME.json, one line.
allocs_of() {
  grep '"emulator_counters"' "$work/$1.json" | grep -o '"allocs": [0-9]*' | awk '{printf "%s ", $2}'
}

# No training step allocates device memory (issue 13, section 3.6: the ones vector of the bias
# gradients grew after a resume at a short last batch): batch 30 of 400 samples is 13 steps of
# 15 rows per worker and a last one of 5. A run of 1 epoch, one of 2, and one resumed at epoch
# 1's short last step (its checkpoint of step 13 left by a failure at step 14) allocate alike.
allocs_mode() {
  local ck=$work/short.ckpt
  local args=(--data "$work/data" --hidden 16 --batch 30 --device cuda --workers 2 --quiet)
  run one "${args[@]}" --epochs 1 --report "$work/one.json"
  run two "${args[@]}" --epochs 2 --report "$work/two.json"
  DPT_FAULT=worker=1,step=14,kind=fail run cut "${args[@]}" --epochs 2 --checkpoint "$ck" \
    --checkpoint-every 13
  [ "$rc" -eq 1 ] && [ -s "$ck" ] || fail "cut at step 14: exit $rc: $(cat "$work/cut.err")"
  run resumed "${args[@]}" --epochs 2 --resume "$ck" --report "$work/resumed.json"
  [ "$rc" -eq 0 ] || fail "resumed at the short step: exit $rc: $(cat "$work/resumed.err")"
  echo "allocations per device: 1 epoch $(allocs_of one)| 2 epochs $(allocs_of two)| resumed $(allocs_of resumed)"
  [ -n "$(allocs_of one)" ] && [ "$(allocs_of two)" = "$(allocs_of one)" ] ||
    fail "2 epochs allocated '$(allocs_of two)', 1 epoch '$(allocs_of one)'"
  [ "$(allocs_of resumed)" = "$(allocs_of one)" ] ||
    fail "the resumed run allocated '$(allocs_of resumed)', a fresh one '$(allocs_of one)'"
}

# expect_failure NAME CODE PATTERN: the run exited CODE in time, with one error line matching.
expect_failure() {
  [ "$rc" -eq "$2" ] || fail "$1: exit $rc, expected $2: $(cat "$work/$1.err")"
  grep -q "^dptrain: error: .*$3" "$work/$1.err" || fail "$1: said '$(cat "$work/$1.err")'"
}

faults_mode() {
  # A short --timeout: should a fault leave a wait behind, the run still ends (the stuck-worker
  # last resort comes 5 s after it) well within ctest's limit, and the test says so.
  local bounded=(--timeout 20)
  DPT_CUDA_EMU_NCCL_ERROR=1:3 run nccl_error "${train[@]}" --device cuda --workers 2 "${bounded[@]}"
  # Worker 1's error, or worker 0's report of the abort it caused: either names rank 1's error.
  expect_failure nccl_error 1 "worker [01]: comm nccl: allreduce: .*rank 1: .*DPT_CUDA_EMU_NCCL_ERROR"
  DPT_CUDA_EMU_FAIL_ALLOC=0:4 run alloc "${train[@]}" --device cuda --workers 2 "${bounded[@]}"
  expect_failure alloc 1 "worker 0: cuda: .*cudaMalloc.*cudaErrorMemoryAllocation"
  # Visible device 0 is the machine's device 3: its fault is worker 0's. Worker 0 finds it in a
  # call of its own, or in the queued allreduce it polls, rank 0's, whose abort worker 1 may report
  # first.
  CUDA_VISIBLE_DEVICES=3,1 DPT_CUDA_EMU_STICKY=3:30 run sticky "${train[@]}" --device cuda --workers 2 \
    "${bounded[@]}"
  expect_failure sticky 1 "\(worker 0: cuda: \|worker [01]: .*rank 0: \).*cudaErrorIllegalAddress"
  CUDA_VISIBLE_DEVICES=3,1 run visible "${train[@]}" --device cuda --workers 3
  expect_failure visible 2 "--workers 3: only 2 CUDA device"
  CUDA_VISIBLE_DEVICES= run hidden "${train[@]}" --device cuda
  expect_failure hidden 2 "--device cuda: no usable CUDA device"
  DPT_CUDA_EMU_DEVICES=1 run one_device "${train[@]}" --device cuda --workers 2
  expect_failure one_device 2 "--workers 2: only 1 CUDA device"
  # --device auto with too few GPUs says so, and how to train anyway.
  DPT_CUDA_EMU_DEVICES=2 run auto_too_few "${train[@]}" --device auto --workers 4
  expect_failure auto_too_few 2 "--workers 4: only 2 CUDA device(s) here (--device cpu trains on the CPU)"
}

# The hung kernel's worker waits for its stream: --timeout 3 must end that wait, so the run ends
# with exit 1 and one line, well before the emulator's own last resort (DPT_CUDA_EMU_WAIT_LIMIT_S)
# would, and without the trainer's (a worker that cannot be joined, dpt_observer.on_stuck).
# A stuck device frees nothing (cudaFree and cublasDestroy would wait for it), so under
# AddressSanitizer its cuBLAS handle is a leak on purpose: leak checks are off for this one run.
hang_mode() {
  local t0 t1
  t0=$(date +%s)
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    DPT_CUDA_EMU_WAIT_LIMIT_S=120 DPT_CUDA_EMU_HANG=1:40 run hang "${train[@]}" --device cuda \
    --workers 2 --timeout 3
  t1=$(date +%s)
  echo "hung kernel: exit $rc after $((t1 - t0)) s: $(head -c 300 "$work/hang.err")"
  [ "$rc" -eq 1 ] || fail "hung kernel: exit $rc, expected 1"
  [ $((t1 - t0)) -le 60 ] || fail "hung kernel: the run took $((t1 - t0)) s with --timeout 3"
  [ "$(wc -l <"$work/hang.err")" -eq 1 ] || fail "hung kernel: not one line: $(cat "$work/hang.err")"
  ! grep -q "did not return" "$work/hang.err" ||
    fail "hung kernel: a worker stayed in a CUDA call: $(cat "$work/hang.err")"
}

mpi_mode() {
  local args=("${train[@]}" --workers 2 --timeout 20)
  run_mpi cpu -n 2 "$dptrain" "${args[@]}" --device cpu --report "$work/cpu.json"
  [ "$rc" -eq 0 ] || fail "cpu over 2 processes: exit $rc: $(cat "$work/cpu.err")"
  run_mpi apart -n 1 -x CUDA_VISIBLE_DEVICES=0,1 "$dptrain" "${args[@]}" --device cuda \
    --report "$work/apart.json" : -n 1 -x CUDA_VISIBLE_DEVICES=2,3 "$dptrain" "${args[@]}" \
    --device cuda
  [ "$rc" -eq 0 ] || fail "cuda over 2 processes on devices 0,1 and 2,3: exit $rc: $(cat "$work/apart.err")"
  [ "$rc" -eq 0 ] && compare_to_cpu apart
}

mpi_devices_mode() {
  local args=("${train[@]}" --workers 2 --timeout 20)
  run_mpi cpu -n 2 "$dptrain" "${args[@]}" --device cpu --report "$work/cpu.json"
  run_mpi own -n 2 "$dptrain" "${args[@]}" --device cuda --report "$work/own.json"
  [ "$rc" -eq 0 ] || fail "cuda over 2 processes: exit $rc: $(cat "$work/own.err")"
  [ "$rc" -eq 0 ] && compare_to_cpu own
  # Process L's worker w on device L x 2 + w, as the report says.
  local devices
  devices=$(grep -o '"devices": \[[^]]*\]' "$work/own.json")
  [ "$devices" = '"devices": [{"process": 0, "ordinal": 0}, {"process": 0, "ordinal": 1}, {"process": 1, "ordinal": 2}, {"process": 1, "ordinal": 3}]' ] ||
    fail "devices of 2 processes x 2 workers: '$devices'"
  # 2 processes x 3 workers on 4 devices: refused before training, one line, exit 2.
  run_mpi too_many -n 2 "$dptrain" "${args[@]}" --device cuda --workers 3
  [ "$rc" -eq 2 ] || fail "2 x 3 workers on 4 devices: exit $rc, expected 2: $(cat "$work/too_many.err")"
  grep -q "^dptrain: error: .*--workers 3: 2 processes on this node x 3 workers need 6 CUDA devices, 4 here$" \
    "$work/too_many.err" || fail "2 x 3 workers on 4 devices: said '$(cat "$work/too_many.err")'"
}

stale_mode() {
  export DPT_CUDA_EMU_DEVICES=4
  local ps=("${train[@]}" --device cuda --strategy ps)
  run sync "${ps[@]}"
  [ "$rc" -eq 0 ] || fail "synchronous ps on CUDA: exit $rc: $(cat "$work/sync.err")"
  run stale_one "${ps[@]}" --staleness 3
  [ "$rc" -eq 0 ] || fail "--staleness 3 on CUDA: exit $rc: $(cat "$work/stale_one.err")"
  [ "$(done_hash "$work/stale_one.out")" = "$(done_hash "$work/sync.out")" ] ||
    fail "one device: --staleness 3 hash $(done_hash "$work/stale_one.out") != synchronous"
  # 3 epochs of 20 steps of 3 pieces: 180 pushes.
  for s in 2 inf; do
    run "stale_$s" "${ps[@]}" --workers 3 --staleness "$s" --report "$work/stale_$s.json"
    [ "$rc" -eq 0 ] || fail "--staleness $s on 3 devices: exit $rc: $(cat "$work/stale_$s.err")"
    [ "$(report_field "$work/stale_$s.json" pushes_applied)" = "180" ] ||
      fail "--staleness $s: pushes_applied $(report_field "$work/stale_$s.json" pushes_applied)"
  done
  [ "$(report_field "$work/stale_2.json" max_staleness_observed)" -le 2 ] ||
    fail "--staleness 2: max_staleness_observed above 2"
  DPT_FAULT=worker=2,step=1,kind=fail run lose "${ps[@]}" --workers 3 --staleness inf \
    --on-worker-failure continue --timeout 5 --report "$work/lose.json"
  [ "$rc" -eq 0 ] || fail "a lost worker on CUDA: exit $rc: $(cat "$work/lose.err")"
  [ "$(report_field "$work/lose.json" workers_lost)" = "1" ] || fail "workers_lost is not 1"
  [ "$(report_field "$work/lose.json" pushes_applied)" = "180" ] ||
    fail "a lost worker on CUDA: pushes_applied $(report_field "$work/lose.json" pushes_applied)"
}

# The emulated ncclCommAbort returns only once every rank has aborted, as NCCL's does on a node:
# the failing process stays in it until the other process's ranks abort too. Without the alarm
# they waited for --timeout (300 s) and the failing process for the emulator's wait limit (120 s
# here), which the bound of 45 s catches. The bound counts MPI's start-up too: about 1 s in the
# release build, up to 14 s seen under AddressSanitizer with another test running.
mpi_fail_mode() {
  local t0 t1
  t0=$(date +%s)
  DPT_CUDA_EMU_WAIT_LIMIT_S=120 run_mpi failed -n 2 -x DPT_CUDA_EMU_NCCL_ERROR=2:3 "$dptrain" \
    "${train[@]}" --workers 2 --device cuda --timeout 300
  t1=$(date +%s)
  echo "NCCL error on rank 2: exit $rc after $((t1 - t0)) s: $(grep '^dptrain: error:' "$work/failed.err" | head -c 400)"
  [ "$rc" -eq 1 ] || fail "NCCL error on rank 2: exit $rc, expected 1"
  [ $((t1 - t0)) -lt 45 ] || fail "NCCL error on rank 2: the job took $((t1 - t0)) s with --timeout 300"
  # Whichever process speaks first names the failing rank and its error.
  grep -q "^dptrain: error: rank [01]: worker [0-3]: comm nccl: allreduce: .*rank 2: .*DPT_CUDA_EMU_NCCL_ERROR" \
    "$work/failed.err" || fail "NCCL error on rank 2: said '$(cat "$work/failed.err")'"
  ! grep -q "did not arrive\|not done after\|did not return" "$work/failed.err" ||
    fail "NCCL error on rank 2: a rank waited for its deadline: $(cat "$work/failed.err")"
}

# A small CNN: conv and pooling kernels, cuBLAS GEMMs over the patches.
cnn_mode() {
  export DPT_CUDA_EMU_DELAY_US=200
  local cnn=(--data "$work/data" --model conv:4:3,relu,maxpool:2,conv:6:3,relu,fc:16,relu,fc
             --batch 20 --lr 0.05 --epochs 2 --quiet)
  local s n
  for n in 1 2; do
    for s in allreduce ps; do
      run cpu "${cnn[@]}" --device cpu --workers "$n" --strategy "$s" --report "$work/cpu.json"
      run "cuda_$s" "${cnn[@]}" --device cuda --workers "$n" --strategy "$s" --report "$work/cuda_$s.json"
      [ "$rc" -eq 0 ] || { fail "cnn, $s on $n device(s): exit $rc: $(cat "$work/cuda_$s.err")"; continue; }
      compare_to_cpu "cuda_$s" "cnn, $s on $n device(s)"
    done
    [ "$(report_field "$work/cuda_ps.json" params_hash)" = "$(report_field "$work/cuda_allreduce.json" params_hash)" ] ||
      fail "cnn on $n device(s): ps and allreduce differ"
  done
}

case $mode in
cnn) cnn_mode ;;
stale) stale_mode ;;
mpi) mpi_mode ;;
mpi_fail) mpi_fail_mode ;;
mpi_devices) mpi_devices_mode ;;
train) train_mode ;;
faults) faults_mode ;;
hang) hang_mode ;;
allocs) allocs_mode ;;
*) echo "cuda_emu_cli.sh: unknown mode '$mode'"; exit 2 ;;
esac
finish "cuda_emu_cli $mode"
