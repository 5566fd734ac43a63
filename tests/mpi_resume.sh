#!/usr/bin/env bash
# Checkpoints over NP MPI processes x 2 workers (docs/mpi.md), for allreduce and ps:
#   - a run checkpointed at an epoch's end, or every K steps and cut short mid-epoch by a failure,
#     resumes to the parameters of the uninterrupted run, bit for bit, and to the same loss of the
#     last epoch (which a mid-epoch checkpoint's per-worker figures carry into the resumed run);
#   - process 0 alone writes the file and alone reads it: with each rank in a folder of its own,
#     only rank 0's folder holds a checkpoint (and no temporary file), and a resume that finds the
#     file in rank 0's folder only works;
#   - a NaN under --on-nan stop ends the job with the last checkpoint intact (it resumes to the
#     uninterrupted run's bits); under --on-nan skip every process drops the step alike; a run
#     that keeps skipping stops as diverged on every process after the same step (exit 1);
#   - a save failing on process 0 fails the job on every process, naming process 0's reason;
#   - process 0 alone locks the checkpoint; a second job on the same file is refused (exit 2);
#   - a checkpoint of NP processes resumed by one process, a corrupted checkpoint and a missing one
#     are refused: exit 2, one line naming the file.
# usage: mpi_resume.sh MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/mpi_test_lib.sh"
"$make_synth" "$work/data" 1003 300 6 7 5 99 || exit 1

# 1003 samples, batch 50: 21 steps per epoch, which --checkpoint-every 4 does not divide.
train=(--data "$work/data" --hidden 32,16 --batch 50 --lr 0.05 --device cpu --timeout 20
       --workers 2 --quiet)
hash_of() { report_field "$work/$1.json" params_hash; }
loss_of() { report_field "$work/$1.json" final_train_loss; }

# procs NAME dptrain-args...: NP processes, into $work/NAME.{json,out,err}; must succeed.
procs() {
  local name=$1; shift
  timeout 120 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --report "$work/$name.json" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" || fail "$name: exited $?: $(cat "$work/$name.err")"
}
# per_rank NAME dptrain-args...: as procs, but rank r runs in the folder $work/ranks/<r>.
per_rank() {
  local name=$1; shift
  per_rank_launch "$work/ranks" "${train[@]}" --report "$work/$name.json" "$@"
  timeout 120 "$mpiexec" "${launch[@]}" >"$work/$name.out" 2>"$work/$name.err" ||
    fail "$name: exited $?: $(cat "$work/$name.err")"
}
# refused NAME STATUS MESSAGE command...: exits STATUS within 60 s, stderr has MESSAGE.
refused() {
  local name=$1 want_rc=$2 want=$3; shift 3
  timeout 60 "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "$name: exited $rc, expected $want_rc: $(cat "$work/$name.err")"
  grep -q -- "^dptrain: error: $want" "$work/$name.err" ||
    fail "$name: no '$want' in: $(grep dptrain "$work/$name.err")"
  echo "$name: exit $rc: $(grep -m1 '^dptrain: error:' "$work/$name.err")"
}
# same_end RUN: RUN ends as the uninterrupted run did.
same_end() {
  [ -n "$(hash_of "$1")" ] && [ "$(hash_of "$1")" = "$straight" ] ||
    fail "$1: params_hash '$(hash_of "$1")', uninterrupted: $straight"
  [ "$(loss_of "$1")" = "$straight_loss" ] ||
    fail "$1: final_train_loss '$(loss_of "$1")', uninterrupted: $straight_loss"
}

# --- the uninterrupted runs ---------------------------------------------------------------------
procs straight_allreduce --epochs 3 --strategy allreduce
procs straight_ps --epochs 3 --strategy ps
straight=$(hash_of straight_allreduce) straight_loss=$(loss_of straight_allreduce)
[ -n "$straight" ] && [ "$straight" = "$(hash_of straight_ps)" ] ||
  fail "allreduce '$straight' != ps '$(hash_of straight_ps)'"

# --- an epoch's checkpoint, each rank in its own folder: rank 0 alone writes and reads it -------
per_rank epoch_ck --epochs 1 --strategy allreduce --checkpoint ck.bin
[ "$(ls -A "$work/ranks/0")" = ck.bin ] ||
  fail "rank 0's folder holds '$(ls -A "$work/ranks/0")', not ck.bin alone"
for ((r = 1; r < np; r++)); do
  [ -z "$(ls -A "$work/ranks/$r")" ] || fail "rank $r wrote $(ls -A "$work/ranks/$r")"
done
per_rank epoch_resumed_allreduce --epochs 3 --strategy allreduce --resume ck.bin
same_end epoch_resumed_allreduce

procs epoch_ck_ps --epochs 1 --strategy ps --checkpoint "$work/epoch_ps.ckpt"
procs epoch_resumed_ps --epochs 3 --strategy ps --resume "$work/epoch_ps.ckpt"
same_end epoch_resumed_ps

# --- every 4 steps, cut short by a failure at step 52 (epoch 3, step 10): the checkpoint after
# step 48 (epoch 3, step 6) stays and continues the run. The failing worker is the last rank's.
fault="DPT_FAULT=worker=$((2 * np - 1)),step=52,kind=fail"
for s in allreduce ps; do
  ck=$work/cut_$s.ckpt
  refused "cut_$s" 1 "rank $((np - 1)): .*injected failure" env "$fault" "$mpiexec" -n "$np" \
    "$dptrain" "${train[@]}" --epochs 3 --strategy $s --checkpoint "$ck" --checkpoint-every 4
  # The position, after the header (128 bytes) and settings (56): epoch, steps skipped in a row,
  # next step.
  [ "$(od -A n -t u4 -j 184 -N 12 "$ck" | tr -s ' ')" = " 3 0 6" ] ||
    fail "cut_$s: the checkpoint is not at epoch 3, step 6 (0-based)"
  compgen -G "$ck.tmp.*" >/dev/null && fail "cut_$s: a temporary file is left: $(ls "$ck".tmp.*)"
  procs "cut_resumed_$s" --epochs 3 --strategy $s --resume "$ck"
  same_end "cut_resumed_$s"
done

# --- a NaN on the last rank's worker at step 30 (epoch 2, step 9 of 21) ------------------------
# --on-nan stop ends the job naming the worker and the step, with the last checkpoint (after step
# 28) intact: it resumes to the uninterrupted run's bits. --on-nan skip drops that step on every
# process alike: one skipped step, and allreduce and ps still agree.
nan="DPT_FAULT=worker=$((2 * np - 1)),step=30,kind=nan"
ck=$work/nan.ckpt
refused nan_stop 1 "rank $((np - 1)): worker $((2 * np - 1)): step 30 (epoch 2, step 9 of 21): \
the gradient holds NaN or Inf" env "$nan" "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --epochs 3 \
  --checkpoint "$ck" --checkpoint-every 4
[ "$(od -A n -t u4 -j 184 -N 12 "$ck" | tr -s ' ')" = " 2 0 7" ] ||
  fail "nan_stop: the checkpoint is not the one after step 28 (epoch 2, next step 7)"
procs nan_stop_resumed --epochs 3 --resume "$ck"
same_end nan_stop_resumed
for s in allreduce ps; do
  DPT_FAULT=${nan#DPT_FAULT=} procs "nan_skip_$s" --epochs 3 --strategy $s --on-nan skip
  [ "$(report_field "$work/nan_skip_$s.json" skipped_steps)" = 1 ] ||
    fail "nan_skip_$s: skipped_steps '$(report_field "$work/nan_skip_$s.json" skipped_steps)', not 1"
done
[ -n "$(hash_of nan_skip_allreduce)" ] && [ "$(hash_of nan_skip_allreduce)" = "$(hash_of nan_skip_ps)" ] ||
  fail "--on-nan skip: allreduce '$(hash_of nan_skip_allreduce)' != ps '$(hash_of nan_skip_ps)'"
[ "$(hash_of nan_skip_allreduce)" != "$straight" ] || fail "--on-nan skip: no step was dropped"

# --- a diverging run: every process stops after the same step, as rank 0 alone says (no abort,
# so no "rank R:"), exit 1, and nothing is saved after the divergence: the checkpoint is the one
# of the last epoch that ended before it ---
ck=$work/diverged.ckpt
refused diverged 1 "diverged: 6 steps in a row .*Lower --lr (now 100), or raise --max-skips \
(now 5)" "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --epochs 3 --lr 100 --lr-schedule constant \
  --warmup-epochs 0 --on-nan skip --max-skips 5 --checkpoint "$ck"
[ "$(grep -c '^dptrain: error:' "$work/diverged.err")" -eq 1 ] ||
  fail "diverged: not one error line: $(grep dptrain "$work/diverged.err")"
epoch=$(sed -n 's/^dptrain: error: diverged: .* (epoch \([0-9]*\), step .*/\1/p' "$work/diverged.err")
if [ "$epoch" = 1 ]; then
  [ ! -e "$ck" ] || fail "diverged: a checkpoint was saved in epoch 1"
else
  # Its position's epoch and next step (the steps skipped in a row between them).
  [ "$(echo $(od -A n -t u4 -j 184 -N 4 "$ck") $(od -A n -t u8 -j 192 -N 8 "$ck"))" = "$epoch 0" ] ||
    fail "diverged: the checkpoint is not the end of epoch $((epoch - 1))"
fi

# --- a save that fails on process 0 fails every process, none goes on or hangs: a folder put at
# the checkpoint's path while the first save sleeps (DPT_TEST_SLOW_SAVE) makes its rename fail ---
ck=$work/unsaved.ckpt
has_temp_file() { compgen -G "$ck.tmp.*" >/dev/null; }
DPT_TEST_SLOW_SAVE=2 timeout 60 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --epochs 3 \
  --checkpoint "$ck" >"$work/unsaved.out" 2>"$work/unsaved.err" &
job=$!
wait_for "the first save's temporary file" has_temp_file && mkdir "$ck"
wait "$job"
rc=$?
[ "$rc" -eq 1 ] || fail "unsaved: exited $rc, expected 1: $(cat "$work/unsaved.err")"
grep -q "^dptrain: error: rank [0-9]*: worker [0-9]*: .*$ck: cannot write: Is a directory" \
  "$work/unsaved.err" || fail "unsaved: said '$(grep dptrain "$work/unsaved.err")'"
echo "unsaved: exit $rc: $(grep -m1 '^dptrain: error:' "$work/unsaved.err")"

# --- one job at a time per checkpoint: process 0 alone locks it (with each rank in a folder of
# its own, only rank 0's holds the lock file), and a second job naming the same file is refused
# while the first runs ---
per_rank_launch "$work/locked" "${train[@]}" --epochs 3 --checkpoint ck.bin
DPT_TEST_SLOW_SAVE=2 timeout 120 "$mpiexec" "${launch[@]}" >"$work/locked.out" 2>"$work/locked.err" &
job=$!
rank_0_locked() { [ -s "$work/locked/0/ck.bin.lock" ]; }
wait_for "process 0's lock" rank_0_locked
for ((r = 1; r < np; r++)); do
  [ -z "$(ls -A "$work/locked/$r")" ] || fail "locked: rank $r wrote $(ls -A "$work/locked/$r")"
done
refused locked_again 2 "rank 0: --checkpoint $work/locked/0/ck.bin: another dptrain run is using \
it (pid [0-9]* on " "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --epochs 3 \
  --checkpoint "$work/locked/0/ck.bin"
wait "$job" || fail "locked: exited $?: $(cat "$work/locked.err")"
[ "$(ls -A "$work/locked/0")" = ck.bin ] || fail "locked: rank 0 left $(ls -A "$work/locked/0")"

# --- refusals -----------------------------------------------------------------------------------
refused one_process 2 "--resume $work/cut_ps.ckpt: written by $np MPI process(es) x 2 worker(s), \
this run is 1 process(es) x $((2 * np)) worker(s): continuing exactly needs the same layout" \
  "$dptrain" "${train[@]}" --workers $((2 * np)) --epochs 3 --resume "$work/cut_ps.ckpt"
cp "$work/cut_ps.ckpt" "$work/corrupted.ckpt"
printf '\x55' | dd of="$work/corrupted.ckpt" bs=1 seek=300 conv=notrunc status=none
refused corrupted 2 "rank [0-9]*: --resume $work/corrupted.ckpt: payload checksum mismatch" \
  "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --epochs 3 --resume "$work/corrupted.ckpt"
refused missing 2 "rank [0-9]*: .*--resume $work/missing.ckpt: cannot open" \
  "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --epochs 3 --resume "$work/missing.ckpt"

finish "mpi_resume ($np processes)"
