#!/usr/bin/env bash
# Every file a run writes is valid in its format whatever the run did (docs/reliability.md,
# Output files): the --report and --trace JSON parse strictly (RFC 8259, where a NaN or an
# infinity is null), and every row of the --metrics CSV has one field per column, each numeric
# one a number, nan, inf or -inf. A run that fails or is stopped writes none of them: a file
# already at the path stays as it was, and no temporary file is left. The runs:
#   - healthy; one step skipped (DPT_FAULT nan, --on-nan skip); epochs 2 and 3 all skipped, so
#     their losses are NaN (--lr 100, constant, no warm-up, --max-skips above the run's steps);
#   - stopped as diverged (--on-nan skip, default --max-skips), stopped at a NaN (--on-nan stop,
#     DPT_FAULT nan), an injected failure (DPT_FAULT fail), stopped by SIGINT.
# usage: outputs_valid.sh DPTRAIN MAKE_SYNTH WORKDIR JSON_CHECK
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"
json_check=$4

# 400 samples in batches of 20: 20 steps an epoch.
train=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --device cpu --workers 2 --epochs 3)
diverging=(--lr 100 --lr-schedule constant --warmup-epochs 0 --on-nan skip)

# The metrics columns (host/record/metrics.h): kind,step,epoch,workers,strategy, then numbers;
# test_accuracy (9) is empty on step rows.
csv_header=kind,step,epoch,workers,strategy,loss,lr,samples_per_sec,test_accuracy,elapsed_s
csv_valid() {
  awk -F, -v header="$csv_header" '
    function number(v) {
      return v ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ || v ~ /^(nan|inf|-inf)$/
    }
    function bad_field(i) { print "row " NR " field " i ": " $i; bad = 1 }
    NR == 1 { if ($0 != header) { print "header: " $0; bad = 1 }; n = NF; next }
    NF != n || ($1 != "step" && $1 != "epoch") { print "row " NR ": " $0; bad = 1; next }
    { for (i = 2; i <= 4; i++) if ($i !~ /^[0-9]+$/) bad_field(i) }
    { for (i = 6; i <= n; i++) if (!number($i) && !($i == "" && i == 9 && $1 == "step")) bad_field(i) }
    END { exit bad }' "$1"
}

# run NAME WANT_RC dptrain-args...: one run writing $work/NAME.{json,csv,trace.json}; on success
# all three must be there and valid; on failure none may have been written or replaced.
run() {
  local name=$1 want_rc=$2; shift 2
  local files=("$work/$name.json" "$work/$name.csv" "$work/$name.trace.json")
  if [ "$want_rc" -ne 0 ]; then
    for f in "${files[@]}"; do echo "before $name" >"$f"; done
  fi
  "$dptrain" "${train[@]}" --quiet "$@" --report "${files[0]}" --metrics "${files[1]}" \
    --trace "${files[2]}" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "$name: exit $rc, expected $want_rc: $(cat "$work/$name.err")"
  check_files "$name" "$want_rc" "${files[@]}"
}

check_files() {
  local name=$1 want_rc=$2; shift 2
  if [ "$want_rc" -eq 0 ]; then
    "$json_check" "$1" "$3" || fail "$name: the report or the trace is not JSON"
    csv_valid "$2" || fail "$name: the metrics are not valid CSV"
  else
    for f in "$@"; do
      [ "$(cat "$f")" = "before $name" ] || fail "$name: $f was replaced by a failed run"
    done
  fi
  compgen -G "$work/$name.*.tmp.*" >/dev/null && fail "$name: a temporary file was left"
  echo "$name: checked"
}

run healthy 0
DPT_FAULT=worker=1,step=5,kind=nan run one_skipped 0 --on-nan skip
[ "$(report_field "$work/one_skipped.json" skipped_steps)" = 1 ] || fail "one_skipped: not 1 skip"
run all_skipped 0 "${diverging[@]}" --max-skips 1000
[ "$(report_field "$work/all_skipped.json" final_train_loss)" = null ] ||
  fail "all_skipped: final_train_loss '$(report_field "$work/all_skipped.json" final_train_loss)'"
grep -q "^epoch,60,3,.*,nan,100," "$work/all_skipped.csv" ||
  fail "all_skipped: no NaN loss in the CSV"

run diverged 1 "${diverging[@]}"
grep -q "^dptrain: error: diverged" "$work/diverged.err" ||
  fail "diverged: $(cat "$work/diverged.err")"
DPT_FAULT=worker=0,step=5,kind=nan run nan_stop 1
DPT_FAULT=worker=1,step=5,kind=fail run injected_failure 1

# SIGINT after the first epoch: each epoch's checkpoint save sleeps, so the run is still going.
name=interrupted
for f in "$work/$name.json" "$work/$name.csv" "$work/$name.trace.json"; do
  echo "before $name" >"$f"
done
DPT_TEST_SLOW_SAVE=0.5 "$dptrain" "${train[@]}" --checkpoint "$work/ck" \
  --report "$work/$name.json" --metrics "$work/$name.csv" --trace "$work/$name.trace.json" \
  >"$work/$name.out" 2>"$work/$name.err" &
pid=$!
has_epoch_line() { grep -q "^epoch 1/" "$work/$name.out"; }
wait_for "the first epoch line" has_epoch_line && kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "$name: exit $rc, expected 130: $(cat "$work/$name.err")"
check_files "$name" 130 "$work/$name.json" "$work/$name.csv" "$work/$name.trace.json"

finish outputs_valid
