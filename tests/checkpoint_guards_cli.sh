#!/usr/bin/env bash
# What keeps a checkpoint to its own run (docs/reliability.md, Checkpoints):
#   - one run at a time per --checkpoint path: while a run holds it, another one naming the same
#     file (however spelled, with --resume of it too) exits 2 before training, with one line
#     naming the path, the other run's pid and host, and the lock file; the first run's checkpoint
#     is untouched; once it ended the path is free again, --resume X --checkpoint X included;
#   - a run killed with SIGKILL leaves no lock that blocks the next one;
#   - a checkpoint resumes only on its data set: another one of the same shape exits 2, one line
#     naming both fingerprints.
# DPT_TEST_SLOW_SAVE makes every save sleep, so that the first run is still going while the
# others start.
# usage: checkpoint_guards_cli.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

train=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --device cpu --workers 2 --quiet)
ck=$work/run.ckpt
host=$(hostname)

lock_written() { [ -s "$ck.lock" ]; }

# refused NAME dptrain-args...: exit 2, one line, naming the first run; no report written.
refused() {
  local name=$1; shift
  "$dptrain" "${train[@]}" --epochs 3 --report "$work/$name.json" "$@" >/dev/null \
    2>"$work/$name.err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "$name: exit $rc, expected 2: $(cat "$work/$name.err")"
  [ "$(wc -l <"$work/$name.err")" -eq 1 ] || fail "$name: $(wc -l <"$work/$name.err") lines"
  grep -q -- "^dptrain: error: --checkpoint .*run.ckpt: another dptrain run is using it (pid \
$first on $host, lock file .*run.ckpt.lock): wait for it to end, or give this run another \
--checkpoint$" "$work/$name.err" || fail "$name: said '$(cat "$work/$name.err")'"
  [ ! -e "$work/$name.json" ] || fail "$name: wrote a report"
  echo "$name: exit $rc: $(cat "$work/$name.err")"
}

# --- a second run on the same checkpoint while the first one holds it -------------------------
DPT_TEST_SLOW_SAVE=5 "$dptrain" "${train[@]}" --epochs 3 --checkpoint "$ck" \
  --report "$work/first.json" >/dev/null 2>"$work/first.err" &
first=$!
wait_for "the first run's lock" lock_written
refused same_path --checkpoint "$ck"
refused other_spelling --checkpoint "$(dirname "$ck")/./$(basename "$ck")"
wait_for "the first run's checkpoint" test -e "$ck"
refused resume_in_place --resume "$ck" --checkpoint "$ck" --epochs 6
wait "$first" || fail "first run: exit $?: $(cat "$work/first.err")"
[ ! -e "$ck.lock" ] || fail "the first run left its lock file"
# The first run ended as an undisturbed one does: none of the refused runs touched its state.
"$dptrain" "${train[@]}" --epochs 3 --report "$work/straight.json" >/dev/null 2>&1 ||
  fail "straight run failed"
hash_of() { report_field "$work/$1.json" params_hash; }
[ -n "$(hash_of first)" ] && [ "$(hash_of first)" = "$(hash_of straight)" ] ||
  fail "the first run's parameters differ from an undisturbed run's"

# --- free again: continuing in place works ------------------------------------------------------
"$dptrain" "${train[@]}" --epochs 4 --resume "$ck" --checkpoint "$ck" >/dev/null 2>"$work/err" ||
  fail "--resume X --checkpoint X after the first run: $(cat "$work/err")"
[ ! -e "$ck.lock" ] || fail "the resumed run left its lock file"

# --- SIGKILL: its lock file stays, its lock does not ------------------------------------------
rm -f "$ck"
DPT_TEST_SLOW_SAVE=30 "$dptrain" "${train[@]}" --epochs 3 --checkpoint "$ck" >/dev/null 2>&1 &
killed=$!
wait_for "the killed run's lock" lock_written && kill -KILL "$killed"
wait "$killed" 2>/dev/null
[ -e "$ck.lock" ] || fail "SIGKILL: no lock file left (the kill came too late to test this)"
"$dptrain" "${train[@]}" --epochs 1 --checkpoint "$ck" >/dev/null 2>"$work/err" ||
  fail "after SIGKILL the path stays locked: $(cat "$work/err")"

# --- another data set of the same shape ---------------------------------------------------------
mkdir -p "$work/other" && "$make_synth" "$work/other" 400 100 5 5 4 8 || exit 1
"$dptrain" "${train[@]}" --epochs 3 --data "$work/other" --resume "$ck" >/dev/null 2>"$work/err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$work/err")" -eq 1 ] &&
  grep -q "^dptrain: error: --resume $ck: written on another data set: the checkpoint's training \
files have fingerprint [0-9a-f]\{16\}, those in --data $work/other have [0-9a-f]\{16\}: \
resume with the data set the run was trained on$" "$work/err" ||
  fail "other data set: exit $rc, '$(cat "$work/err")'"
echo "other data set: exit $rc: $(cat "$work/err")"

finish checkpoint_guards_cli
