#!/usr/bin/env bash
# SIGTERM and SIGINT over NP MPI processes (docs/mpi.md, Signals):
#   - SIGTERM to the last process alone: every process stops after the same step (a process that
#     stopped elsewhere would leave the others waiting: a timeout error), rank 0 says it stopped on
#     another process's signal, the checkpoint is saved, no error and no MPI_Abort;
#   - SIGINT to the launcher, which forwards SIGTERM to every process: the same, rank 0 naming
#     SIGTERM;
#   - with --strategy ps too, whose server in process 0 counts the stop votes;
#   - every time --resume finishes with the parameters of an uninterrupted run, bit for bit
#     (allreduce and ps give the same bits);
#   - rank 0 acknowledges a signal it received at once, the others say nothing;
#   - SIGTERM to the last process while the data loads (DPT_TEST_SLOW_LOAD): it stops loading,
#     the others meet it once loaded, and every process ends before training, without MPI_Abort.
# DPT_TEST_SLOW_SAVE makes each epoch's save last, so the signal lands while the run is going.
# usage: mpi_signals.sh MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR  (Open MPI's launcher: the test
# finds each process's rank in its OMPI_COMM_WORLD_RANK)
source "$(dirname "${BASH_SOURCE[0]}")/lib/mpi_test_lib.sh"
"$make_synth" "$work/data" 2000 300 8 8 5 99 || exit 1

train=(--data "$work/data" --hidden 32 --epochs 6 --batch 50 --lr 0.05 --device cpu --workers 2
       --timeout 20)
ck=$work/run.ckpt
has_epoch_line() { grep -q "^epoch 1/" "$work/out"; }
ack="^dptrain: SIG[A-Z]*: stopping after this step; saving the checkpoint first"

# pid_of_rank LAUNCHER_PID RANK: the dptrain process of that rank among the launcher's children.
pid_of_rank() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" &&
      { echo "$p"; return 0; }
  done
  return 1
}
has_rank_process() { pid_of_rank "$launcher" $((np - 1)) >/dev/null; }

timeout 120 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" >"$work/straight" 2>&1 ||
  fail "uninterrupted run: exited $?: $(cat "$work/straight")"
straight=$(done_hash "$work/straight")
[ -n "$straight" ] || fail "no hash in: $(cat "$work/straight")"

# interrupt NAME TARGET SIGNAL RANK0_SAYS [dptrain-args...]: starts the job with --checkpoint,
# sends SIGNAL to TARGET (launcher, or the last rank) after the first epoch, checks how it ended,
# then resumes.
interrupt() {
  local name=$1 target=$2 sig=$3 says=$4
  shift 4
  rm -f "$ck" "$ck".tmp.*
  # Emptied here, not by the launch's own redirection: that one runs in the background job, maybe
  # only after the first wait_for below has read the previous run's epoch line.
  : >"$work/out"
  : >"$work/err"
  # Open MPI 4.1's mpirun answers SIGINT with SIGCONT, then SIGTERM odls_base_sigkill_timeout
  # seconds later (default 1), then SIGKILL as long after that: stopping and saving must fit in
  # it, which 1 s does not always under load. So for the launcher: 10 s, and saves of 3 s, so
  # that the run is still going when the SIGTERM comes. For a rank: saves of 1 s, so that the five
  # epochs after the first outlast finding the rank's process and signalling it under load (with
  # 0.3 s one run of 8 finished first at load 15).
  local slow=1 kill_after=1
  [ "$target" = launcher ] && slow=3 kill_after=10
  # No `timeout` in front: the signal must reach the launcher itself. ctest's TIMEOUT bounds it.
  DPT_TEST_SLOW_SAVE=$slow OMPI_MCA_odls_base_sigkill_timeout=$kill_after \
    "$mpiexec" -n "$np" "$dptrain" "${train[@]}" "$@" --checkpoint "$ck" >"$work/out" 2>"$work/err" &
  launcher=$!
  local victim=$launcher
  if wait_for "$name: the first epoch line" has_epoch_line && [ "$target" = last_rank ] &&
     wait_for "$name: the process of rank $((np - 1))" has_rank_process; then
    victim=$(pid_of_rank "$launcher" $((np - 1)))
  fi
  kill -s "$sig" "$victim"
  wait "$launcher"
  local rc=$?
  [ "$rc" -ne 0 ] || fail "$name: the launcher exited 0: the run was not stopped"
  grep -q "^dptrain: interrupted by $says: stopped on request after step .*--resume $ck continues it" \
    "$work/err" || fail "$name: rank 0 said '$(grep dptrain "$work/err")'"
  local acks
  acks=$(grep -c "$ack" "$work/err")
  [ "$acks" -eq "$([ "$target" = launcher ] && echo 1 || echo 0)" ] ||
    fail "$name: $acks acknowledgement(s) of the signal: $(grep dptrain "$work/err")"
  [ "$(grep '^dptrain: ' "$work/err" | grep -vc "$ack")" -eq 1 ] ||
    fail "$name: not one line: $(grep dptrain "$work/err")"
  grep -q "MPI_ABORT\|MPI_Abort" "$work/err" && fail "$name: the job was aborted: $(cat "$work/err")"
  grep -q "^done:" "$work/out" && fail "$name: the run finished instead of stopping"
  [ -s "$ck" ] || { fail "$name: no checkpoint"; return; }
  timeout 120 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" "$@" --resume "$ck" \
    >"$work/resumed" 2>&1 ||
    fail "$name: resume exited $?: $(cat "$work/resumed")"
  [ "$(done_hash "$work/resumed")" = "$straight" ] ||
    fail "$name: resumed hash $(done_hash "$work/resumed") != uninterrupted $straight"
  echo "$name: launcher exit $rc; $(grep '^dptrain: ' "$work/err"); resumed to $straight"
}

interrupt last_rank_sigterm last_rank TERM "a signal to another MPI process"
interrupt launcher_sigint launcher INT SIGTERM
interrupt ps_last_rank_sigterm last_rank TERM "a signal to another MPI process" --strategy ps

# --- SIGTERM to the last process while every process loads its data ---
# catches_sigterm PID: the process has its SIGTERM handler (bit 15 of SigCgt in /proc/PID/status).
catches_sigterm() {
  local mask
  mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
  [ -n "$mask" ] && (((16#$mask >> 14) & 1))
}
last_rank_catches_sigterm() {
  local p
  p=$(pid_of_rank "$launcher" $((np - 1))) && catches_sigterm "$p"
}
rm -f "$ck" "$ck".tmp.*
DPT_TEST_SLOW_LOAD=0.2 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --checkpoint "$ck" \
  >"$work/out" 2>"$work/err" &
launcher=$!
wait_for "loading: the last process's SIGTERM handler" last_rank_catches_sigterm &&
  kill -TERM "$(pid_of_rank "$launcher" $((np - 1)))"
wait "$launcher"
rc=$?
[ "$rc" -ne 0 ] || fail "loading: the launcher exited 0: the run was not stopped"
grep -q "^dptrain: interrupted by a signal to another MPI process: stopped on request before \
training started: nothing to save (process $((np - 1)) was asked to stop)" "$work/err" ||
  fail "loading: rank 0 said '$(grep dptrain "$work/err")'"
[ "$(grep -c '^dptrain: ' "$work/err")" -eq 1 ] || fail "loading: not one line: $(grep dptrain "$work/err")"
grep -q "MPI_ABORT\|MPI_Abort" "$work/err" && fail "loading: the job was aborted: $(cat "$work/err")"
grep -q "^epoch " "$work/out" && fail "loading: the run trained"
[ -e "$ck" ] && fail "loading: a checkpoint was written"
echo "loading: launcher exit $rc; $(grep '^dptrain: ' "$work/err")"

finish "mpi_signals ($np processes)"
