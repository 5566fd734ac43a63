#!/usr/bin/env bash
# --staleness, --straggler and --target-acc end to end (docs/ps.md "Consistency models"):
#   - bad values and combinations stale training does not support: exit 2, one line, no report;
#   - one worker: every staleness gives the synchronous run's parameters, bit for bit;
#   - --staleness inf deals the epoch from a shared queue: every sample trained once per epoch,
#     and a worker made 20 times slower trains fewer of them;
#   - --staleness 2 under random stragglers: the report's observed staleness stays within 2;
#   - --on-worker-failure continue: a failing worker leaves and the others finish; a stalled one is
#     dropped at --timeout, and with the shared queue every piece is still trained once; worker 0's
#     failure still stops the run.
# usage: staleness_cli.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

train=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --device cpu --quiet)
ps=("${train[@]}" --strategy ps)

expect_input_error "--staleness: only meaningful with --strategy ps" "${train[@]}" --staleness 2
expect_input_error "--staleness -1" "${ps[@]}" --staleness -1
expect_input_error "--staleness 'infinite': not a whole number, or inf" "${ps[@]}" \
  --staleness infinite
expect_input_error "--staleness inf: --checkpoint is not supported" "${ps[@]}" --staleness inf \
  --checkpoint "$work/c.ckpt"
[ ! -e "$work/c.ckpt" ] || fail "a refused run left a checkpoint"
expect_input_error "--staleness 3: --on-nan skip is not supported" "${ps[@]}" --staleness 3 \
  --on-nan skip
expect_input_error "--staleness 1: --check-replicas" "${ps[@]}" --staleness 1 --check-replicas
for spec in "3" "3:0.5" "x:2" "1:2,1:3" "1:2," "random:2:3" "random:0.5" "random:0.5:x" ""; do
  expect_input_error "--straggler $spec" "${ps[@]}" --straggler "$spec"
done
expect_input_error "--straggler 5:2: worker 5 does not exist (workers 0..1)" "${ps[@]}" \
  --workers 2 --straggler 5:2 --report "$work/refused.json"
[ ! -e "$work/refused.json" ] || fail "a refused run wrote a report"
expect_input_error "--target-acc 0" "${ps[@]}" --target-acc 0

# One worker: no other worker to be stale against.
"$dptrain" "${ps[@]}" --epochs 2 >"$work/sync" 2>&1 || fail "synchronous run: $(cat "$work/sync")"
for s in 1 5 inf; do
  "$dptrain" "${ps[@]}" --epochs 2 --staleness "$s" >"$work/stale" 2>&1 ||
    fail "--staleness $s: $(cat "$work/stale")"
  [ "$(done_hash "$work/stale")" = "$(done_hash "$work/sync")" ] ||
    fail "one worker, --staleness $s: hash $(done_hash "$work/stale") != $(done_hash "$work/sync")"
done

# The shared queue: 3 epochs of 400 samples over 3 workers, worker 1 twenty times slower. Which
# fast worker takes more is up to the scheduler (on a loaded machine one may barely run), so the
# straggler is compared with the fast workers' mean.
"$dptrain" "${ps[@]}" --epochs 3 --workers 3 --staleness inf --straggler 1:20 --target-acc 0.01 \
  --report "$work/q.json" >"$work/out" 2>&1 || fail "queued run: $(cat "$work/out")"
samples=$(sed -n 's/^  "worker_samples": \[\(.*\)\],$/\1/p' "$work/q.json")
IFS=', ' read -r -a per <<<"$samples"
[ "${#per[@]}" -eq 3 ] || fail "worker_samples '$samples': expected 3 entries"
[ $((per[0] + per[1] + per[2])) -eq 1200 ] || fail "worker_samples $samples: not 3 x 400"
[ $((4 * per[1])) -lt $((per[0] + per[2])) ] ||
  fail "worker_samples $samples: the straggler (worker 1) trained over half the fast workers' mean"
[ "$(report_field "$work/q.json" staleness)" = "inf" ] || fail "report staleness is not inf"
[ "$(report_field "$work/q.json" pushes_applied)" = "180" ] ||
  fail "pushes_applied $(report_field "$work/q.json" pushes_applied): expected 3 epochs x 20 x 3"
[ -n "$(report_field "$work/q.json" steps_to_target)" ] && \
  [ "$(report_field "$work/q.json" steps_to_target)" != "null" ] ||
  fail "steps_to_target missing or null with --target-acc 0.01"

# Bounded staleness under random stragglers: never more than S behind.
"$dptrain" "${ps[@]}" --epochs 3 --workers 3 --staleness 2 --straggler random:0.3:5 \
  --report "$work/s.json" >"$work/out" 2>&1 || fail "--staleness 2 run: $(cat "$work/out")"
seen=$(report_field "$work/s.json" max_staleness_observed)
[ -n "$seen" ] && [ "$seen" -le 2 ] || fail "max_staleness_observed '$seen' with --staleness 2"
[ "$(report_field "$work/s.json" pushes_applied)" = "180" ] ||
  fail "pushes_applied $(report_field "$work/s.json" pushes_applied): expected 3 x 20 x 3"

# --on-worker-failure continue: 3 workers, 3 epochs of 20 steps of 3 pieces each (180 in all).
expect_input_error "--on-worker-failure continue: needs --strategy ps --staleness S >= 1" \
  "${ps[@]}" --on-worker-failure continue
lose=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --device cpu --strategy ps --workers 3
      --epochs 3 --on-worker-failure continue --timeout 1)
DPT_FAULT=worker=2,step=5,kind=fail "$dptrain" "${lose[@]}" --staleness 2 --report "$work/f.json" \
  >"$work/out" 2>"$work/err" || fail "a failing worker stopped the run: $(cat "$work/err")"
grep -q "^dptrain: notice: worker 2 left the run after 4 exchanges (step 5: injected failure" \
  "$work/err" || fail "no notice of the lost worker: $(cat "$work/err")"
[ "$(report_field "$work/f.json" workers_lost)" = "1" ] || fail "workers_lost is not 1"
# Fixed shares: worker 2's share of every later step goes untrained (4 of its 60 pushes were made).
[ "$(report_field "$work/f.json" pushes_applied)" = "124" ] ||
  fail "fixed shares: pushes_applied $(report_field "$work/f.json" pushes_applied), expected 124"

# Its first exchange: the first piece of an epoch is always its own (docs/ps.md).
DPT_FAULT=worker=2,step=1,kind=stall "$dptrain" "${lose[@]}" --staleness inf --quiet \
  --report "$work/q2.json" >"$work/out" 2>&1 || fail "a stalled worker stopped the run: $(cat "$work/out")"
[ "$(report_field "$work/q2.json" workers_lost)" = "1" ] || fail "queued: workers_lost is not 1"
[ "$(report_field "$work/q2.json" pushes_applied)" = "180" ] ||
  fail "queued: pushes_applied $(report_field "$work/q2.json" pushes_applied), expected all 180"
samples=$(sed -n 's/^  "worker_samples": \[\(.*\)\],$/\1/p' "$work/q2.json")
IFS=', ' read -r -a per <<<"$samples"
[ $((per[0] + per[1] + per[2])) -eq 1200 ] || fail "queued with a lost worker: samples $samples"

DPT_FAULT=worker=0,step=5,kind=fail "$dptrain" "${lose[@]}" --staleness 2 --quiet >"$work/out" \
  2>"$work/err"
rc=$?
[ "$rc" -eq 1 ] || fail "worker 0 failing: exit $rc, expected 1"
grep -q "worker 0 reports the run: its failure stops it" "$work/err" ||
  fail "worker 0 failing: '$(cat "$work/err")'"

finish staleness_cli
