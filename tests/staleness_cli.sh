#!/usr/bin/env bash
# --staleness, --straggler and --target-acc end to end (docs/ps.md "Consistency models"):
#   - bad values and combinations stale training does not support: exit 2, one line, no report;
#   - one worker: every staleness gives the synchronous run's parameters, bit for bit;
#   - checkpoints are epoch-end cuts: one worker resumes bit for bit, three resume from the state
#     saved (report hashes); a mid-epoch checkpoint resumes with a finite S, is refused with inf;
#     a stop request names the epoch its checkpoint continues;
#   - --on-nan skip drops a worker's own push; a worker skipping past --max-skips stops them all;
#   - --metrics has each step's staleness (within S), --trace every applied push by its worker;
#   - --check-replicas compares the replicas at each epoch's end;
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
expect_input_error "--staleness 2: --checkpoint-every is not supported: with stale training a \
checkpoint is a consistent cut at an epoch's end" "${ps[@]}" --staleness 2 --checkpoint "$work/c.ckpt" \
  --checkpoint-every 5
[ ! -e "$work/c.ckpt" ] || fail "a refused run left a checkpoint"
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

# Checkpoints (docs/ps.md "Checkpoints with staleness"): consistent cuts at epochs' ends. One
# worker: resuming gives the uninterrupted run's parameters, bit for bit (a constant rate: the
# cosine schedule's end moves with --epochs).
"$dptrain" "${ps[@]}" --lr-schedule constant --epochs 3 >"$work/sync3" 2>&1 ||
  fail "3 epochs: $(cat "$work/sync3")"
for s in 4 inf; do
  rm -f "$work/one.ck"
  "$dptrain" "${ps[@]}" --lr-schedule constant --epochs 2 --staleness "$s" \
    --checkpoint "$work/one.ck" >"$work/out" 2>&1 || fail "--staleness $s --checkpoint: $(cat "$work/out")"
  "$dptrain" "${ps[@]}" --lr-schedule constant --epochs 3 --staleness "$s" --resume "$work/one.ck" \
    >"$work/resumed" 2>&1 ||
    fail "--staleness $s --resume: $(cat "$work/resumed")"
  [ "$(done_hash "$work/resumed")" = "$(done_hash "$work/sync3")" ] ||
    fail "one worker, --staleness $s: resumed hash $(done_hash "$work/resumed") != $(done_hash "$work/sync3")"
done
# Three workers are not bit-reproducible: the state the resumed server starts from (read back
# from it) is the state the checkpoint saved, and only the epoch after it is trained.
for s in 2 inf; do
  rm -f "$work/three.ck"
  "$dptrain" "${ps[@]}" --workers 3 --epochs 2 --staleness "$s" --checkpoint "$work/three.ck" \
    --report "$work/saved.json" >"$work/out" 2>&1 || fail "3 workers, --staleness $s: $(cat "$work/out")"
  [ "$(report_field "$work/saved.json" checkpoint_epoch)" = "3" ] ||
    fail "--staleness $s: checkpoint_epoch $(report_field "$work/saved.json" checkpoint_epoch), expected 3"
  "$dptrain" "${ps[@]}" --workers 3 --epochs 3 --staleness "$s" --resume "$work/three.ck" \
    --report "$work/resumed.json" >"$work/out" 2>&1 || fail "3 workers, --resume: $(cat "$work/out")"
  saved=$(report_field "$work/saved.json" checkpoint_state_hash)
  resumed=$(report_field "$work/resumed.json" resumed_state_hash)
  [ -n "$saved" ] && [ "$saved" = "$resumed" ] ||
    fail "--staleness $s: resumed from state '$resumed', the checkpoint saved '$saved'"
  [ "$(report_field "$work/resumed.json" pushes_applied)" = "60" ] ||
    fail "--staleness $s resumed: pushes_applied $(report_field "$work/resumed.json" pushes_applied), expected 20 x 3"
done
# A mid-epoch checkpoint (synchronous, kept by a run that failed at step 28): a finite staleness
# continues it; the shared queue deals whole epochs and refuses it.
rm -f "$work/mid.ck"
DPT_FAULT=worker=0,step=28,kind=fail "$dptrain" "${ps[@]}" --workers 2 --epochs 2 \
  --checkpoint "$work/mid.ck" --checkpoint-every 5 >"$work/out" 2>&1
[ -s "$work/mid.ck" ] || fail "no mid-epoch checkpoint: $(cat "$work/out")"
expect_input_error "--resume $work/mid.ck: saved in the middle of epoch 2 (before its step 6); \
--staleness inf deals whole epochs" "${ps[@]}" --workers 2 --epochs 2 --staleness inf --resume "$work/mid.ck"
"$dptrain" "${ps[@]}" --workers 2 --epochs 2 --staleness 3 --resume "$work/mid.ck" \
  --report "$work/mid.json" >"$work/out" 2>&1 || fail "--staleness 3 from mid-epoch: $(cat "$work/out")"
[ "$(report_field "$work/mid.json" pushes_applied)" = "30" ] ||
  fail "mid-epoch resume: pushes_applied $(report_field "$work/mid.json" pushes_applied), expected 15 x 2"
# A stop request saves no mid-epoch cut: the message names the epoch the checkpoint continues.
rm -f "$work/stop.ck"
: >"$work/err"
DPT_TEST_SLOW_SAVE=0.3 "$dptrain" "${ps[@]}" --workers 3 --epochs 200 --staleness 2 \
  --checkpoint "$work/stop.ck" >"$work/out" 2>"$work/err" &
pid=$!
wait_for "the first checkpoint" test -s "$work/stop.ck" && kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "SIGINT, --staleness 2: exit $rc, expected 130: $(cat "$work/err")"
grep -q "^dptrain: SIGINT: stopping after this step; stale training saves at epochs' ends only" \
  "$work/err" || fail "SIGINT, --staleness 2: acknowledged as '$(head -1 "$work/err")'"
grep -Eq "stopped on request after step .*(stale training saves at epochs' ends only: --resume \
$work/stop.ck continues from the end of epoch [0-9]+|during its evaluation; --resume $work/stop.ck continues it)" \
  "$work/err" || fail "SIGINT, --staleness 2: '$(cat "$work/err")'"
"$dptrain" "${ps[@]}" --workers 3 --epochs 200 --staleness 2 --resume "$work/stop.ck" >"$work/out" 2>&1 ||
  fail "resuming the stopped run: $(cat "$work/out")"

# --on-nan skip: a NaN drops that worker's push alone (its clock moves on), counted as a skipped
# step with a notice naming the worker; fixed shares and the shared queue alike (there the step
# counts the worker's own exchanges, and it has at least 2: its first piece of each epoch).
loud=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --device cpu --strategy ps) # notices
for s in 2 inf; do
  DPT_FAULT=worker=1,step=2,kind=nan "$dptrain" "${loud[@]}" --workers 3 --epochs 2 --staleness "$s" \
    --on-nan skip --report "$work/nan.json" >"$work/out" 2>"$work/err" ||
    fail "--staleness $s, one NaN: $(cat "$work/err")"
  [ "$(report_field "$work/nan.json" skipped_steps)" = "1" ] ||
    fail "--staleness $s, one NaN: skipped_steps $(report_field "$work/nan.json" skipped_steps)"
  [ "$(report_field "$work/nan.json" pushes_applied)" = "119" ] ||
    fail "--staleness $s, one NaN: pushes_applied $(report_field "$work/nan.json" pushes_applied), expected 120 - 1"
  grep -q "^dptrain: notice: step [0-9]* (epoch [12]): NaN or Inf in worker 1's gradient: its push is dropped" \
    "$work/err" || fail "--staleness $s, one NaN: no notice: $(cat "$work/err")"
done
# A worker whose own pushes are skipped more than --max-skips times in a row stops every worker:
# exit 1, the divergence line, no checkpoint (none waits for it until --timeout).
rm -f "$work/div.ck"
"$dptrain" "${ps[@]}" --workers 3 --epochs 3 --staleness 2 --on-nan skip --lr 100 \
  --lr-schedule constant --warmup-epochs 0 --max-skips 5 --timeout 30 --checkpoint "$work/div.ck" \
  >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 1 ] || fail "diverging stale run: exit $rc, expected 1: $(cat "$work/err")"
grep -q "^dptrain: error: diverged: 6 steps in a row had NaN or Inf" "$work/err" ||
  fail "diverging stale run: '$(cat "$work/err")'"
[ ! -e "$work/div.ck" ] || fail "a run that diverged in epoch 1 saved a checkpoint"

# --metrics: a staleness column (worker 0's pull, every step row), within the bound and the
# report's; --trace: every applied push of the traced steps on the server track, shard by shard,
# naming its worker. Worker 1 five times slower keeps worker 0 at the bound.
"$dptrain" "${ps[@]}" --workers 3 --epochs 2 --staleness 2 --straggler 1:5 --ps-shards 2 \
  --metrics "$work/st.csv" --metrics-every 1 --trace "$work/st.trace" --trace-steps 15 \
  --report "$work/st.json" >"$work/out" 2>&1 || fail "--metrics --trace, --staleness 2: $(cat "$work/out")"
[ "$(head -1 "$work/st.csv" | awk -F, '{print $NF}')" = "staleness" ] ||
  fail "metrics header: $(head -1 "$work/st.csv")"
most=$(awk -F, '$1 == "step" { if ($11 !~ /^[0-9]+$/) bad = 1; rows++; if ($11 > m) m = $11 }
       END { print (bad || rows != 40) ? "bad " rows : m + 0 }' "$work/st.csv")
seen=$(report_field "$work/st.json" max_staleness_observed)
[ -n "$most" ] && [ "${most#bad}" = "$most" ] && [ "$most" -le 2 ] && [ "$most" -le "$seen" ] ||
  fail "metrics staleness: '$most' (report's max $seen, --staleness 2)"
[ "$(grep -c '"name":"optimizer"' "$work/st.trace")" -eq $((15 * 3 * 2)) ] ||
  fail "trace: $(grep -c '"name":"optimizer"' "$work/st.trace") server spans, expected 15 steps x 3 workers x 2 shards"
[ "$(grep '"name":"optimizer"' "$work/st.trace" | grep -c '"worker":[0-2]}')" -eq 90 ] ||
  fail "trace: server spans without their worker"

# --check-replicas: at each epoch's end, once settled, every replica is the same (no push came
# between the settles); fixed shares and the shared queue, with a worker lost on the way.
for s in 2 inf; do
  "$dptrain" "${ps[@]}" --workers 3 --epochs 2 --staleness "$s" --check-replicas >"$work/out" 2>&1 ||
    fail "--check-replicas, --staleness $s: $(cat "$work/out")"
done
# (A failing worker leaves at once: the generous --timeout only spares the others under load.)
DPT_FAULT=worker=2,step=5,kind=fail "$dptrain" "${ps[@]}" --workers 3 --epochs 2 --staleness 2 \
  --check-replicas --on-worker-failure continue --timeout 20 >"$work/out" 2>&1 ||
  fail "--check-replicas with a lost worker: $(cat "$work/out")"

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
