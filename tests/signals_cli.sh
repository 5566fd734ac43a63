#!/usr/bin/env bash
# The dptrain binary's signals in every phase (docs/reliability.md, Signals):
#   - two SIGTERMs at once, as GNU timeout sends them (one to the process, one to its group), are
#     one request: the run saves its checkpoint, exits 143, and --resume ends with the parameters
#     of an uninterrupted run; the request is acknowledged once;
#   - on a terminal (made by script(1)) the acknowledgement and the interrupt message each start
#     on a line of their own, not on the progress bar's;
#   - SIGTERM while the data loads (DPT_TEST_SLOW_LOAD makes the load last) ends the run within
#     2 s with 143, nothing trained or saved;
#   - a checkpoint save past `ulimit -f` fails with one line and exit 1 (SIGXFSZ is ignored, the
#     write fails with EFBIG), the previous checkpoint whole.
# usage: signals_cli.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

common=(--data "$work/data" --hidden 16 --batch 20 --lr 0.05 --device cpu)
train=("${common[@]}" --workers 2 --epochs 6)
ck=$work/run.ckpt
ack="^dptrain: SIGTERM: stopping after this step; saving the checkpoint first"

has_epoch_line() { grep -q "^epoch 1/" "$work/out"; }
# catches_sigterm PID: the process has its SIGTERM handler (bit 15 of SigCgt in /proc/PID/status).
catches_sigterm() {
  local mask
  mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
  [ -n "$mask" ] && (((16#$mask >> 14) & 1))
}
# resumes_exactly WHAT: --resume $ck finishes with the uninterrupted run's parameters.
resumes_exactly() {
  "$dptrain" "${train[@]}" --resume "$ck" >"$work/resumed" 2>&1 ||
    { fail "$1: resume failed: $(cat "$work/resumed")"; return; }
  [ "$(done_hash "$work/resumed")" = "$straight" ] ||
    fail "$1: resumed hash $(done_hash "$work/resumed") != uninterrupted $straight"
}

"$dptrain" "${train[@]}" >"$work/straight" 2>&1 || fail "uninterrupted run failed"
straight=$(done_hash "$work/straight")
[ -n "$straight" ] || fail "no hash in: $(cat "$work/straight")"

# --- two SIGTERMs within a few milliseconds: one request, acknowledged once ---
rm -f "$ck" "$ck".tmp.*
: >"$work/out" # before the background job: its own redirection may come after wait_for's read
DPT_TEST_SLOW_SAVE=0.5 "$dptrain" "${train[@]}" --checkpoint "$ck" >"$work/out" 2>"$work/err" &
pid=$!
wait_for "the first epoch line" has_epoch_line && kill -TERM "$pid" && kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 143 ] || fail "two SIGTERMs: exit $rc, expected 143: $(cat "$work/err")"
grep -q "interrupted again" "$work/err" && fail "two SIGTERMs at once taken as two: $(cat "$work/err")"
grep -q "^dptrain: interrupted by SIGTERM: stopped on request after step .*--resume $ck continues it" \
  "$work/err" || fail "two SIGTERMs: said '$(cat "$work/err")'"
[ "$(grep -c "$ack" "$work/err")" -eq 1 ] || fail "two SIGTERMs: not acknowledged once: $(cat "$work/err")"
resumes_exactly "two SIGTERMs"

# --- GNU timeout itself: its two SIGTERMs stop the run as one (8 s: a loaded machine took more
# than 2 s to reach main, the CUDA libraries loading first; 40 epochs with 0.3 s saves outlast it) ---
rm -f "$ck" "$ck".tmp.*
DPT_TEST_SLOW_SAVE=0.3 timeout --preserve-status 8 "$dptrain" "${common[@]}" --workers 2 \
  --epochs 40 --checkpoint "$ck" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 143 ] || fail "timeout: exit $rc, expected 143: $(cat "$work/err")"
grep -q "interrupted again" "$work/err" && fail "timeout's two SIGTERMs taken as two: $(cat "$work/err")"
grep -q "^dptrain: interrupted by SIGTERM: stopped on request" "$work/err" ||
  fail "timeout: said '$(cat "$work/err")'"

# --- on a terminal: each message on a line of its own ---
# visible FILE: the lines a terminal shows of FILE, where a carriage return goes back to the
# line's start and what follows overwrites it.
visible() {
  tr -d '\000' <"$1" | awk '{
    n = split($0, seg, "\r"); v = ""
    for (i = 1; i <= n; i++) v = seg[i] substr(v, length(seg[i]) + 1)
    print v }'
}
bar_drawn() { grep -q $'\repoch 1/2 ' "$work/tty" 2>/dev/null; }
rm -f "$ck" "$ck".tmp.* "$work/tty" "$work/pid"
# One worker stalled for 4 s at step 5 (DPT_FAULT, 3 x --timeout + 1 with nobody to time out):
# the signal lands while the bar of epoch 1 is drawn, and the run stops in the middle of it.
printf -v run '%q ' "$dptrain" "${common[@]}" --workers 1 --epochs 2 --timeout 1 --checkpoint "$ck"
DPT_FAULT=worker=0,step=5,kind=stall script -qfec "echo \$\$ >'$work/pid'; exec $run" "$work/tty" \
  </dev/null >/dev/null 2>&1 &
job=$!
wait_for "the progress bar" bar_drawn && kill -TERM "$(cat "$work/pid")"
wait "$job"
rc=$?
visible "$work/tty" >"$work/screen"
[ "$rc" -eq 143 ] || fail "terminal: exit $rc, expected 143: $(cat "$work/screen")"
grep -q "$ack" "$work/screen" || fail "terminal: no acknowledgement line: $(cat "$work/screen")"
grep -q "^dptrain: interrupted by SIGTERM: stopped on request after step " "$work/screen" ||
  fail "terminal: no interrupt line: $(cat "$work/screen")"
glued=$(grep "dptrain: " "$work/screen" | grep -v "^dptrain: ")
[ -z "$glued" ] || fail "terminal: a message shares a line with the progress bar: '$glued'"

# --- SIGTERM while the data loads: out within 2 s, nothing trained or saved ---
rm -f "$ck" "$ck".tmp.*
DPT_TEST_SLOW_LOAD=1 "$dptrain" "${train[@]}" --checkpoint "$ck" >"$work/out" 2>"$work/err" &
pid=$!
if wait_for "the SIGTERM handler" catches_sigterm "$pid"; then
  kill -TERM "$pid"
  start=$(date +%s%N)
fi
wait "$pid"
rc=$?
took_ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" -eq 143 ] || fail "loading: exit $rc, expected 143: $(cat "$work/err")"
grep -q "^dptrain: interrupted by SIGTERM: stopped on request while loading the data" "$work/err" ||
  fail "loading: said '$(cat "$work/err")'"
[ "$took_ms" -lt 2000 ] || fail "loading: took $took_ms ms after SIGTERM, more than 2 s"
[ -e "$ck" ] && fail "loading: a checkpoint was written"
echo "loading: exit $rc $took_ms ms after SIGTERM: $(grep '^dptrain: interrupted' "$work/err")"

# --- a save past the file size limit: one line, exit 1, the previous checkpoint whole ---
rm -f "$ck" "$ck".tmp.*
big=("${common[@]}" --hidden 64 --workers 2)
"$dptrain" "${big[@]}" --epochs 1 --checkpoint "$ck" >/dev/null 2>&1 || fail "first save failed"
cp "$ck" "$work/previous.ckpt"
limit_kib=$(($(stat -c %s "$ck") / 2048)) # half the checkpoint; the messages fit easily
(
  ulimit -f "$limit_kib"
  exec "$dptrain" "${big[@]}" --epochs 1 --checkpoint "$ck"
) >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" -eq 1 ] || fail "ulimit -f: exit $rc, expected 1: '$(cat "$work/err")'"
[ "$(wc -l <"$work/err")" -eq 1 ] || fail "ulimit -f: not one line: '$(cat "$work/err")'"
grep -q "^dptrain: error: .*$ck.*File too large" "$work/err" ||
  fail "ulimit -f: said '$(cat "$work/err")'"
cmp -s "$ck" "$work/previous.ckpt" || fail "ulimit -f: the previous checkpoint changed"
compgen -G "$ck.tmp.*" >/dev/null && fail "ulimit -f: a temporary file was left: $(ls "$ck".tmp.*)"
echo "ulimit -f $limit_kib: exit $rc: $(cat "$work/err")"

finish signals_cli
