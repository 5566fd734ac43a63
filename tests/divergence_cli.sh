#!/usr/bin/env bash
# --on-nan skip on a run that diverges (docs/reliability.md, NaN and Inf):
#   - the first 3 skipped steps get a notice each, the others are counted in the epoch lines;
#   - more than --max-skips steps skipped in a row (default 20) stop the run: exit 1, one error
#     line that says it diverged, where, and which options change that; no checkpoint is saved
#     after the divergence (the epoch's end one included) and the last one is left as it was;
#   - a healthy run notices nothing, one NaN is one skipped step, counted in the epoch line and
#     the report; --max-skips is bounded.
# usage: divergence_cli.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

# 400 samples in batches of 20: 20 steps an epoch. At --lr 100 the run diverges in epoch 1 and
# every step from its first skip on is skipped.
train=(--data "$work/data" --hidden 16 --batch 20 --device cpu --workers 2 --epochs 3)
diverging=(--lr 100 --lr-schedule constant --warmup-epochs 0 --on-nan skip)

# diverges NAME MAX_SKIPS dptrain-args...: the run must stop as diverged after MAX_SKIPS + 1
# skipped steps in a row, counted from the first notice's step.
diverges() {
  local name=$1 max=$2; shift 2
  "$dptrain" "${train[@]}" "${diverging[@]}" "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  [ "$rc" -eq 1 ] || fail "$name: exit $rc, expected 1: $(cat "$work/$name.err")"
  [ "$(grep -c '^dptrain: notice: step' "$work/$name.err")" -eq 3 ] ||
    fail "$name: $(grep -c '^dptrain: notice: step' "$work/$name.err") notices, expected 3"
  grep -q "^dptrain: notice: step .*further skipped steps are counted in the epoch lines" \
    "$work/$name.err" || fail "$name: the third notice does not say where the others are counted"
  first=$(sed -n 's/^dptrain: notice: step \([0-9]*\) .*/\1/p' "$work/$name.err" | head -1)
  [ "$(grep -c '^dptrain: error:' "$work/$name.err")" -eq 1 ] ||
    fail "$name: not one error line: $(cat "$work/$name.err")"
  grep -q "^dptrain: error: diverged: $((max + 1)) steps in a row had NaN or Inf in their \
gradient and were skipped, up to step $((first + max)) of 60 .*Lower --lr (now 100), or raise \
--max-skips (now $max)" "$work/$name.err" ||
    fail "$name: said '$(grep error "$work/$name.err")' (first skip at step $first)"
  grep -q "^done:" "$work/$name.out" && fail "$name: the run finished"
  echo "$name: exit $rc: $(grep '^dptrain: error:' "$work/$name.err")"
}

diverges default 20
[ "$first" -lt 20 ] || fail "the data set no longer diverges in epoch 1 (first skip: step $first)"
grep -q "^epoch 1/3 .*  skipped $((21 - first)) steps (--on-nan skip)$" "$work/default.out" ||
  fail "epoch line: '$(grep '^epoch 1/' "$work/default.out")', expected $((21 - first)) skipped"

# With a checkpoint: epoch 1's save (position epoch 2, step 0: u32 epoch after the header's 128
# bytes and the settings' 56, u32 steps skipped in a row, u64 step) is the last; the stop in epoch
# 2 saves nothing.
ck=$work/ck
diverges with_checkpoint 20 --checkpoint "$ck"
grep -q "stopped without saving a checkpoint (an earlier one stays as it was)" \
  "$work/with_checkpoint.err" ||
  fail "with_checkpoint: the message does not say the checkpoint is kept"
position() { echo $(od -A n -t u4 -j 184 -N 4 "$1") $(od -A n -t u8 -j 192 -N 8 "$1"); }
[ "$(position "$ck")" = "2 0" ] ||
  fail "with_checkpoint: the checkpoint is not epoch 1's: epoch and step $(position "$ck")"

# Diverged at the epoch's last step: that epoch's end saves nothing either.
rm -f "$ck"
max=$((20 - first))
diverges at_epoch_end "$max" --max-skips "$max" --checkpoint "$ck"
[ ! -e "$ck" ] || fail "at_epoch_end: a checkpoint was saved after the divergence"
grep -q "^epoch 1/3 " "$work/at_epoch_end.out" || fail "at_epoch_end: epoch 1 was not reported"

# Healthy runs: nothing noticed, no skip counted; one NaN is one skipped step.
"$dptrain" "${train[@]}" --lr 0.05 --on-nan skip --report "$work/healthy.json" \
  >"$work/healthy.out" 2>"$work/healthy.err" || fail "healthy: $(cat "$work/healthy.err")"
[ ! -s "$work/healthy.err" ] || fail "healthy: said '$(cat "$work/healthy.err")'"
grep -q skipped "$work/healthy.out" && fail "healthy: $(grep skipped "$work/healthy.out")"
[ "$(report_field "$work/healthy.json" skipped_steps)" = 0 ] || fail "healthy: skipped steps"
[ "$(report_field "$work/healthy.json" max_skips)" = 20 ] || fail "healthy: no max_skips field"
DPT_FAULT=worker=1,step=25,kind=nan "$dptrain" "${train[@]}" --lr 0.05 --on-nan skip \
  --report "$work/one.json" >"$work/one.out" 2>"$work/one.err" || fail "one: $(cat "$work/one.err")"
[ "$(grep -c '^dptrain: notice: step 25 (epoch 2)' "$work/one.err")" -eq 1 ] ||
  fail "one: '$(cat "$work/one.err")'"
grep -q "^epoch 2/3 .*  skipped 1 step (--on-nan skip)$" "$work/one.out" ||
  fail "one: epoch line '$(grep '^epoch 2/' "$work/one.out")'"
[ "$(report_field "$work/one.json" skipped_steps)" = 1 ] || fail "one: skipped_steps"

for bad in 0 -1 x 1000000001; do
  "$dptrain" "${train[@]}" --max-skips "$bad" >/dev/null 2>"$work/err"
  rc=$?
  [ "$rc" -eq 2 ] && grep -q "^dptrain: error: --max-skips" "$work/err" ||
    fail "--max-skips $bad: exit $rc, '$(cat "$work/err")'"
done

finish divergence_cli
