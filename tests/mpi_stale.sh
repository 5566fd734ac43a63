#!/usr/bin/env bash
# Stale ps over NP MPI processes (docs/ps.md "Consistency models", docs/mpi.md), the server on
# process 0:
#   - --staleness 2 and inf over NP x 2 workers train: every sample once per epoch (the report's
#     worker_samples, over every process), every push applied (pushes_applied), the observed
#     staleness within 2, replicas equal at each epoch's end (--check-replicas, every process);
#     the queue of inf, on process 0, deals pieces to the other processes' workers too;
#   - mpiexec -n 1 gives the in-process run's bits;
#   - a NaN in a worker of the last process with --on-nan skip drops that push alone: the report
#     counts 1 skip, one push short, and the training loss stays finite (the worker heard);
#   - an epoch-end cut (--checkpoint) resumes from exactly the saved state (report hashes);
#   - a failing, stalled or hung worker of the last process, or the last process killed, ends
#     every process within 60 s (exit 1: a failure names the worker, a stall or hang the wait that
#     timed out; a SIGKILL: the launcher's own non-zero status);
#   - --on-worker-failure continue is refused under MPI (exit 2, one line).
# usage: mpi_stale.sh MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/mpi_test_lib.sh"
"$make_synth" "$work/data" 1003 300 6 7 5 99 || exit 1
mkdir -p "$work/big" && "$make_synth" "$work/big" 20000 300 6 7 5 7 >/dev/null || exit 1

# 1003 samples, batch 50: 21 steps per epoch, the last one partial.
train=(--data "$work/data" --hidden 32,16 --batch 50 --lr 0.05 --device cpu --strategy ps
       --timeout 20 --quiet)
last=$((np - 1)) last_worker=$((2 * np - 1)) all=$((2 * np))

# procs NAME dptrain-args...: a run of NP processes into $work/NAME.{json,out,err}; 0 or fails.
procs() {
  local name=$1; shift
  timeout 120 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --report "$work/$name.json" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" || fail "$name: exited $?: $(cat "$work/$name.err")"
}
samples_sum() {
  local list per total=0
  list=$(sed -n 's/^  "worker_samples": \[\(.*\)\],$/\1/p' "$1")
  IFS=', ' read -r -a per <<<"$list"
  [ "${#per[@]}" -eq "$all" ] || { echo "entries:${#per[@]}"; return; }
  for n in "${per[@]}"; do total=$((total + n)); done
  echo "$total"
}

# --- training: every sample once per epoch, every push applied --------------------------------
for s in 2 inf; do
  procs "s$s" --workers 2 --epochs 2 --staleness "$s" --check-replicas
  [ "$(report_field "$work/s$s.json" processes)" = "$np" ] || fail "S=$s: processes is not $np"
  [ "$(samples_sum "$work/s$s.json")" = 2006 ] ||
    fail "S=$s: worker_samples add up to $(samples_sum "$work/s$s.json"), not 2 x 1003"
  [ "$(report_field "$work/s$s.json" pushes_applied)" = $((2 * 21 * all)) ] ||
    fail "S=$s: pushes_applied $(report_field "$work/s$s.json" pushes_applied), not $((2 * 21 * all))"
  acc=$(report_field "$work/s$s.json" test_accuracy)
  awk -v a="$acc" 'BEGIN { exit !(a != "" && a >= 0.9) }' || fail "S=$s: test accuracy '$acc'"
  echo "S=$s over $np x 2 workers: test_acc $acc, worker_samples sum $(samples_sum "$work/s$s.json")"
done
# The queue on process 0 answers the other processes: with its own workers slowed down
# (--straggler), the others take queued pieces too, and still no piece is trained twice.
procs queue --data "$work/big" --workers 2 --epochs 1 --staleness inf --straggler 0:50,1:50
[ "$(samples_sum "$work/queue.json")" = 20000 ] ||
  fail "queue: worker_samples add up to $(samples_sum "$work/queue.json"), not 20000"
[ "$(report_field "$work/queue.json" pushes_applied)" = $((400 * all)) ] ||
  fail "queue: pushes_applied $(report_field "$work/queue.json" pushes_applied), not $((400 * all))"
list=$(sed -n 's/^  "worker_samples": \[\(.*\)\],$/\1/p' "$work/queue.json")
IFS=', ' read -r -a per <<<"$list"
[ "${per[$last_worker]:-0}" -gt 50 ] ||
  fail "queue: worker $last_worker (process $last) trained ${per[$last_worker]:-0} samples: no queued piece"
echo "queue over $np processes: worker_samples $list"
most=$(report_field "$work/s2.json" max_staleness_observed)
[ -n "$most" ] && [ "$most" -le 2 ] || fail "S=2: max_staleness_observed '$most'"

# --- one process under the launcher: the in-process bits --------------------------------------
"$dptrain" "${train[@]}" --workers 2 --epochs 2 --staleness 3 >"$work/alone.out" 2>&1 ||
  fail "in-process run: $(cat "$work/alone.out")"
timeout 60 "$mpiexec" -n 1 "$dptrain" "${train[@]}" --workers 1 --epochs 2 --staleness 3 \
  >"$work/one.out" 2>&1 || fail "mpiexec -n 1: $(cat "$work/one.out")"
"$dptrain" "${train[@]}" --workers 1 --epochs 2 --staleness 3 >"$work/alone1.out" 2>&1 ||
  fail "in-process run, 1 worker: $(cat "$work/alone1.out")"
[ -n "$(done_hash "$work/one.out")" ] && [ "$(done_hash "$work/one.out")" = "$(done_hash "$work/alone1.out")" ] ||
  fail "mpiexec -n 1 at S=3: hash $(done_hash "$work/one.out"), in process $(done_hash "$work/alone1.out")"

# --- a NaN on the last process: its push alone is dropped, and it hears so --------------------
for s in 2 inf; do
  DPT_FAULT="worker=$last_worker,step=2,kind=nan" procs "nan$s" --workers 2 --epochs 2 \
    --staleness "$s" --on-nan skip
  [ "$(report_field "$work/nan$s.json" skipped_steps)" = 1 ] ||
    fail "S=$s, NaN on worker $last_worker: skipped_steps $(report_field "$work/nan$s.json" skipped_steps)"
  [ "$(report_field "$work/nan$s.json" pushes_applied)" = $((2 * 21 * all - 1)) ] ||
    fail "S=$s, NaN: pushes_applied $(report_field "$work/nan$s.json" pushes_applied)"
  loss=$(report_field "$work/nan$s.json" final_train_loss)
  awk -v l="$loss" 'BEGIN { exit !(l + 0 == l && l < 1) }' ||
    fail "S=$s, NaN on worker $last_worker: final_train_loss '$loss' (its dropped share counted)"
done

# --- an epoch-end cut resumes from exactly the saved state ------------------------------------
for s in 2 inf; do
  rm -f "$work/ck$s"
  procs "cut$s" --workers 2 --epochs 2 --staleness "$s" --lr-schedule constant \
    --checkpoint "$work/ck$s"
  procs "resumed$s" --workers 2 --epochs 3 --staleness "$s" --lr-schedule constant \
    --resume "$work/ck$s"
  saved=$(report_field "$work/cut$s.json" checkpoint_state_hash)
  back=$(report_field "$work/resumed$s.json" resumed_state_hash)
  [ -n "$saved" ] && [ "$saved" = "$back" ] ||
    fail "S=$s: saved state $saved, resumed from $back"
  [ "$(report_field "$work/cut$s.json" checkpoint_epoch)" = 3 ] ||
    fail "S=$s: checkpoint_epoch $(report_field "$work/cut$s.json" checkpoint_epoch)"
  [ "$(samples_sum "$work/resumed$s.json")" = 1003 ] ||
    fail "S=$s resumed: worker_samples add up to $(samples_sum "$work/resumed$s.json"), not 1003"
done

# --- failures end every process ----------------------------------------------------------------
# With inf the last process's workers may train only their first piece of each epoch: step 2 is
# the second epoch's.
for s in 2 inf; do
  expect_failure "fail$s" 1 "rank $last: worker $last_worker: step [0-9]*: injected failure" \
    "DPT_FAULT=worker=$last_worker,step=2,kind=fail" -- --workers 2 --epochs 2 --staleness "$s"
  # Whichever process times out first ends the job: its line names what it waited for.
  expect_failure "stall$s" 1 "rank [0-9]*: .*timed out after 2 s" \
    "DPT_FAULT=worker=$last_worker,step=2,kind=stall" -- --workers 2 --epochs 2 \
    --staleness "$s" --timeout 2
  expect_failure "hang$s" 1 "rank [0-9]*: .*timed out after 2 s" \
    "DPT_FAULT=worker=$last_worker,step=2,kind=hang" -- --workers 2 --epochs 2 \
    --staleness "$s" --timeout 2
done

# The last process killed (SIGKILL) mid-run: the launcher ends the job, with its own status.
rm -f "$work/pid"
t0=$SECONDS
timeout 60 "$mpiexec" -n "$np" bash -c \
  '[ "${OMPI_COMM_WORLD_RANK:-0}" = "$0" ] && echo $$ >"$1.tmp" && mv "$1.tmp" "$1"; exec "${@:2}"' \
  "$last" "$work/pid" "$dptrain" "${train[@]}" --data "$work/big" --workers 2 --epochs 1000 \
  --staleness 2 --timeout 5 --report "$work/killed.json" >"$work/killed.out" 2>"$work/killed.err" &
launcher=$!
wait_for "the last process's pid" test -s "$work/pid"
sleep 2 # training, past the start
kill -KILL "$(cat "$work/pid")"
wait "$launcher"
rc=$? took=$((SECONDS - t0))
[ "$rc" -ne 124 ] || fail "SIGKILL of process $last: still running after 60 s (a hang)"
[ "$rc" -ne 0 ] || fail "SIGKILL of process $last: the job exited 0"
[ ! -e "$work/killed.json" ] || fail "SIGKILL of process $last: a report was written"
echo "SIGKILL of process $last: the launcher exited $rc after ${took} s"

# --- refused ------------------------------------------------------------------------------------
timeout 60 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --workers 2 --epochs 1 --staleness 2 \
  --on-worker-failure continue >"$work/refused.out" 2>"$work/refused.err"
rc=$?
[ "$rc" -eq 2 ] || fail "--on-worker-failure continue under MPI: exited $rc, expected 2"
grep -q "^dptrain: error: .*--on-worker-failure continue: not supported under MPI ($np processes)" \
  "$work/refused.err" || fail "--on-worker-failure continue: $(grep dptrain "$work/refused.err")"

finish "mpi_stale ($np processes)"
