#!/usr/bin/env bash
# dptrain over NP MPI processes, end to end (docs/mpi.md):
#   - NP processes x N workers train like one process with NP x N workers: the same test accuracy
#     (within 0.01), and the same bits when the sums' order is the same (one worker per process);
#   - allreduce and ps give the same bits under MPI;
#   - only rank 0 prints progress and writes the report (each rank runs in its own folder);
#   - a failure or a stall on the last rank ends the job promptly (no hang), non-zero, and the
#     message names the rank; the allreduce's timeout names the process, and its worker, that did
#     not send its part;
#   - --check-replicas compares the replicas of every process: one process's replica moved
#     (DPT_FAULT kind=diverge) fails the job naming that process;
#   - slow checkpoint saves on process 0 with a small --timeout do not fail the others; a save
#     longer than its bound (10 x --timeout) fails naming the save.
# usage: mpi_cli.sh MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/mpi_test_lib.sh"
"$make_synth" "$work/data" 1003 300 6 7 5 99 || exit 1

# 1003 samples, batch 50: the last batch is partial, and shards are uneven at 2 and 3 processes.
train=(--data "$work/data" --hidden 32,16 --epochs 2 --batch 50 --lr 0.05 --device cpu
       --timeout 20)

# single|procs NAME dptrain-args...: one run by one process or by NP, into $work/NAME.{json,out,err}.
single() {
  local name=$1; shift
  "$dptrain" "${train[@]}" --quiet --report "$work/$name.json" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" || fail "$name: exited $?: $(cat "$work/$name.err")"
}
procs() {
  local name=$1; shift
  timeout 120 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --quiet --report "$work/$name.json" \
    "$@" >"$work/$name.out" 2>"$work/$name.err" || fail "$name: exited $?: $(cat "$work/$name.err")"
}

# --- the same training as one process ---------------------------------------------------------
single one_2w --workers $((2 * np))
single one_1w --workers "$np"
procs mpi_ar_2w --workers 2 --strategy allreduce
procs mpi_ps_2w --workers 2 --strategy ps
procs mpi_ar_1w --workers 1 --strategy allreduce
procs mpi_ps_1w --workers 1 --strategy ps

[ "$(report_field "$work/mpi_ar_2w.json" workers)" = $((2 * np)) ] || fail "report: workers is not $((2 * np))"
[ "$(report_field "$work/mpi_ar_2w.json" processes)" = "$np" ] || fail "report: processes is not $np"
ref=$(report_field "$work/one_2w.json" test_accuracy)
for run in mpi_ar_2w mpi_ps_2w mpi_ar_1w mpi_ps_1w; do
  acc=$(report_field "$work/$run.json" test_accuracy)
  awk -v a="$acc" -v r="$ref" 'BEGIN { d = a - r; exit !(a != "" && d <= 0.01 && d >= -0.01) }' ||
    fail "$run: test accuracy '$acc', one process: $ref"
done
hash_of() { report_field "$work/$1.json" params_hash; }
[ -n "$(hash_of mpi_ar_2w)" ] || fail "no params_hash in the report"
[ "$(hash_of mpi_ar_2w)" = "$(hash_of mpi_ps_2w)" ] ||
  fail "$np x 2 workers: allreduce $(hash_of mpi_ar_2w) != ps $(hash_of mpi_ps_2w)"
[ "$(hash_of mpi_ar_1w)" = "$(hash_of mpi_ps_1w)" ] ||
  fail "$np x 1 worker: allreduce $(hash_of mpi_ar_1w) != ps $(hash_of mpi_ps_1w)"
# One worker per process adds in the order one process adds its workers: the same bits.
[ "$(hash_of mpi_ar_1w)" = "$(hash_of one_1w)" ] ||
  fail "$np x 1 worker: $(hash_of mpi_ar_1w), one process with $np workers: $(hash_of one_1w)"
echo "$np x 2 workers: allreduce = ps = $(hash_of mpi_ar_2w) (one process, $((2 * np)) workers:" \
     "$(hash_of one_2w), another order); $np x 1: $(hash_of mpi_ar_1w) = one process's"

# --- only rank 0 prints and writes: every rank runs in a folder of its own ---------------------
per_rank_launch "$work/ranks" "${train[@]}" --workers 1 --report r.json --metrics m.csv --trace t.json
timeout 120 "$mpiexec" "${launch[@]}" >"$work/mpmd.out" 2>"$work/mpmd.err" ||
  fail "per-rank folders: exited $?: $(cat "$work/mpmd.err")"
for f in r.json m.csv t.json; do [ -s "$work/ranks/0/$f" ] || fail "rank 0 wrote no $f"; done
for ((r = 1; r < np; r++)); do
  [ -z "$(ls -A "$work/ranks/$r")" ] || fail "rank $r wrote $(ls -A "$work/ranks/$r")"
done
[ "$(grep -c '^epoch 2/2 ' "$work/mpmd.out")" -eq 1 ] || fail "not one 'epoch 2/2' line: $(cat "$work/mpmd.out")"
[ "$(grep -c '^done: ' "$work/mpmd.out")" -eq 1 ] || fail "not one 'done:' line"
grep -q "in $np processes" "$work/mpmd.out" || fail "the summary names no processes"

# --- failures end the job, naming the rank ----------------------------------------------------
last=$((np - 1)) last_worker=$((2 * np - 1))
for s in allreduce ps; do
  expect_failure "fail_$s" 1 "rank $last: worker $last_worker: step 3: injected failure" \
    "DPT_FAULT=worker=$last_worker,step=3,kind=fail" -- --workers 2 --strategy $s
  # A stalled worker: its peers' waits time out (--timeout 2) instead of hanging.
  expect_failure "stall_$s" 1 "rank [0-9]*: .*timed out after 2 s" \
    "DPT_FAULT=worker=$last_worker,step=3,kind=stall" -- --workers 2 --strategy $s --timeout 2
done

# One worker per process: the others' allreduce waits for the stalled process's only worker.
expect_failure stall_named 1 "rank [0-9]*: worker [0-9]*: mpi allreduce chunk 0: sum (reduce-scatter): timed out after 2 s waiting for \(process [0-9]* (worker [0-9]*), \)*process $last (worker $last)$" \
  "DPT_FAULT=worker=$last,step=3,kind=stall" -- --workers 1 --strategy allreduce --timeout 2
# A worker that never returns (as one stuck in a device call): its process cannot join it, and the
# job still ends, by the MPI_Abort of the first process whose run failed.
expect_failure hung 1 "rank [0-9]*: .*timed out after 2 s" \
  "DPT_FAULT=worker=$last_worker,step=3,kind=hang" -- --workers 2 --timeout 2
# One worker per process: only the comparison across processes can see the moved replica.
expect_failure diverged 1 "rank [0-9]*: worker [0-9]*: --check-replicas: after step 3, process $last's replicas differ from process 0's" \
  "DPT_FAULT=worker=$last,step=3,kind=diverge" -- --workers 1 --check-replicas

# --- slow checkpoint saves: not counted against --timeout, but bounded ------------------------
# Saves of 3 s with --timeout 1: the workers and processes waiting for process 0's worker 0 wait.
DPT_TEST_SLOW_SAVE=3 procs slow_save --workers 2 --timeout 1 --checkpoint "$work/slow.ckpt"
[ -s "$work/slow.ckpt" ] || fail "slow save: no checkpoint"
# A save of 15 s: the other processes wait for it 10 x --timeout, then fail naming it.
expect_failure save_bound 1 "rank [1-9][0-9]*: worker [0-9]*: mpi figures: broadcast: timed out after 10 s waiting for process 0 to save the checkpoint$" \
  DPT_TEST_SLOW_SAVE=15 -- --workers 2 --timeout 1 --epochs 1 --checkpoint "$work/bound.ckpt"

finish "mpi_cli ($np processes)"
