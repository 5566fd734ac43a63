#!/usr/bin/env bash
# `dptrain compare` and the per-run output files end to end, on a generated data set.
# usage: compare_cli.sh files|charts DPTRAIN MAKE_SYNTH WORKDIR
#   files:  the table (CSV, Markdown), reports, metrics, --trace, bad input, --help, reusing an
#           --out folder, the charts' data and scripts and the notice when gnuplot is missing
#           (PATH without it), gnuplot's output kept off the terminal (a stand-in gnuplot), and
#           --staleness LIST: the run matrix, its files, columns and charts' data;
#   charts: the PNG charts; exits 77 (ctest: skipped, never passed) where gnuplot is missing.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib/shell_test_lib.sh"
mode=$1 dptrain=$2 make_synth=$3 work=$4
if [ "$mode" = charts ] && ! command -v gnuplot >/dev/null; then
  echo "compare_charts: skipped: gnuplot is not installed (the chart checks need it)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$make_synth" "$work/data" 400 100 5 5 4 7 || exit 1

# 400 samples, batch 32: 13 steps per epoch, 26 in 2 epochs; metric rows every 5 steps: 5 + 2.
train=(--data "$work/data" --hidden 16 --epochs 2 --batch 32 --device cpu)
out="$work/out dir" # a space: no shell ever sees the folder's name

run_compare() {
  (cd "$work" && "$dptrain" compare "${train[@]}" --strategies allreduce,ps --workers 1,2 \
     --target-acc 0.5 --metrics-every 5 --out "$out" "$@") >"$work/stdout" 2>"$work/stderr"
}

check_png() {
  local png="$out/$1.png"
  [ -s "$png" ] || { fail "$png missing"; return; }
  [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "$png does not start with the PNG signature"
  [ -s "$out/$1.gp" ] && [ -s "$out/$1.dat" ] || fail "$1.gp or $1.dat missing"
}

if [ "$mode" = charts ]; then
  run_compare --quiet || fail "compare failed: $(cat "$work/stderr")"
  for chart in accuracy throughput step_time; do check_png "$chart"; done
  ls "$out" | grep -q '\.tmp' && fail "a temporary file was left behind"
  grep -q '^  0.5 with lines .*title "target 0.5"' "$out/accuracy.gp" || fail "no --target-acc line"
  grep -q "title \"ps: wait for the server's round" "$out/step_time.gp" || fail "ps wait unnamed"
  # A rate so small that every run keeps the same accuracy: a flat chart, which gnuplot would
  # warn about ("empty y range") if the script left it the range to find.
  # (No --target-acc: its line would give the chart a range of its own.)
  "$dptrain" compare "${train[@]}" --epochs 1 --lr 1e-9 --workers 1,2 --quiet --out "$out" \
    >"$work/stdout" 2>"$work/stderr" || fail "flat compare failed: $(cat "$work/stderr")"
  [ -e "$out/gnuplot.log" ] || fail "no gnuplot.log"
  grep -i 'warning' "$out/gnuplot.log" && fail "gnuplot warned about a flat chart"
  [ -s "$work/stderr" ] && fail "compare printed on stderr: $(cat "$work/stderr")"
  # The staleness charts, also where a run, or every run, never reaches the target.
  for target in 0.5 0.9999; do
    run_compare --strategies allreduce,ps --staleness 0,inf --target-acc "$target" --quiet ||
      fail "staleness charts compare failed: $(cat "$work/stderr")"
    for chart in wait_fraction time_to_target; do check_png "$chart"; done
    grep -i 'warning' "$out/gnuplot.log" && fail "gnuplot warned (--target-acc $target)"
  done
  finish "compare charts"
fi

# --- the table and every run's files (gnuplot hidden: the notice, no PNG) ---------------------
PATH=/nonexistent run_compare --quiet || fail "compare failed: $(cat "$work/stderr")"
ls "$out"/*.png >/dev/null 2>&1 && fail "PNGs without gnuplot"
for chart in accuracy throughput step_time; do
  [ -s "$out/$chart.dat" ] && [ -s "$out/$chart.gp" ] || fail "no $chart.dat or $chart.gp without gnuplot"
done
grep -q "^dptrain: notice: gnuplot is not on PATH" "$work/stderr" ||
  fail "--quiet hid the gnuplot notice: '$(cat "$work/stderr")'"
grep -q "notice" "$work/stdout" && fail "a notice is on stdout"
[ "$(grep -c '^compare: run [1-4]/4: ' "$work/stdout")" -eq 4 ] || fail "not 4 run start lines"
[ "$(grep -c '^compare: run [1-4]/4 done: ' "$work/stdout")" -eq 4 ] || fail "not 4 run end lines"
csv="$out/compare.csv"
[ "$(head -1 "$csv")" = "strategy,workers,staleness,samples_per_sec,speedup,efficiency,compute_ms_per_step,comm_ms_per_step,wait_ms_per_step,wait_fraction,bytes_per_step_per_worker,final_train_loss,test_accuracy,time_to_target_s" ] ||
  fail "compare.csv header: $(head -1 "$csv")"
[ "$(wc -l <"$csv")" -eq 5 ] || fail "compare.csv has $(wc -l <"$csv") lines, expected 1 + 2 x 2"
awk -F, 'NR > 1 && NF != 14 { bad = 1 } END { exit bad }' "$csv" || fail "a compare.csv row lacks columns"
grep -q '^allreduce,1,-,[0-9]*,1.00,1.00,' "$csv" || fail "allreduce x1 is not its own baseline"
grep -q '^ps,2,0,' "$csv" || fail "no ps x2 row with staleness 0"
ls "$out"/wait_fraction.* "$out"/time_to_target.* >/dev/null 2>&1 &&
  fail "staleness charts without a staleness sweep"
[ "$(grep -c '^| \(allreduce\|ps\) |' "$out/compare.md")" -eq 4 ] || fail "compare.md lacks rows"
grep -q '^|:---|---:|' "$out/compare.md" || fail "compare.md lacks its header separator"
for s in allreduce ps; do
  for w in 1 2; do
    grep -q "\"strategy\": \"$s\"" "$out/run-$s-w$w.json" 2>/dev/null || fail "run-$s-w$w.json"
    grep -q "\"workers\": $w," "$out/run-$s-w$w.json" 2>/dev/null || fail "run-$s-w$w.json workers"
    m="$out/run-$s-w$w.csv"
    [ "$(grep -c "^step,[0-9]*,[12],$w,$s," "$m" 2>/dev/null)" -eq 5 ] || fail "$m: not 5 step rows"
    [ "$(grep -c "^epoch,[0-9]*,[12],$w,$s," "$m" 2>/dev/null)" -eq 2 ] || fail "$m: not 2 epoch rows"
  done
done
# Without --quiet the missing gnuplot is a one-line notice, beside the per-epoch lines. The folder
# holds the earlier compare's files: they are replaced in full, none of the other runs stays.
PATH=/nonexistent run_compare --strategies ps --workers 2 || fail "compare x1 failed: $(cat "$work/stderr")"
grep -q "^dptrain: notice: gnuplot is not on PATH" "$work/stderr" || fail "no gnuplot notice: $(cat "$work/stderr")"
grep -q "^epoch 2/2 " "$work/stdout" || fail "no per-epoch lines without --quiet"
[ "$(wc -l <"$out/compare.csv")" -eq 2 ] || fail "compare.csv of one run has $(wc -l <"$out/compare.csv") lines"
[ "$(cd "$out" && ls run-*)" = "$(printf 'run-ps-w2.csv\nrun-ps-w2.json')" ] ||
  fail "the earlier compare's runs stayed: $(cd "$out" && ls run-*)"
grep -q "removed 6 files of an earlier compare" "$work/stdout" || fail "no count of the files removed"

# A stand-in gnuplot that warns: its output goes to gnuplot.log, not to the terminal.
mkdir -p "$work/bin"
cat >"$work/bin/gnuplot" <<'STUB'
#!/bin/sh
echo "Warning: empty y range [1:1], adjusting to [0.99:1.01]" >&2
echo "something on stdout"
out=$(printf '%s' "$2" | sed 's/^out="\(.*\)"$/\1/')
printf 'not a png' >"$out"
STUB
chmod +x "$work/bin/gnuplot"
PATH="$work/bin:$PATH" run_compare --strategies ps --workers 2 --quiet || fail "stand-in gnuplot: $(cat "$work/stderr")"
grep -q "Warning\|something" "$work/stdout" "$work/stderr" && fail "gnuplot's output reached the terminal"
[ "$(grep -c "^Warning: empty y range" "$out/gnuplot.log")" -eq 3 ] || fail "gnuplot.log lacks its warnings"
[ -e "$out/step_time.png" ] || fail "no PNG from the stand-in gnuplot"
# Back without gnuplot: the PNGs and the log of the earlier compare go too.
PATH=/nonexistent run_compare --strategies ps --workers 2 --quiet || fail "compare failed: $(cat "$work/stderr")"
ls "$out"/*.png "$out/gnuplot.log" >/dev/null 2>&1 && fail "the earlier compare's PNGs or log stayed"

# --- staleness as a dimension: allreduce once per worker count, ps once per staleness x workers --
# Listed out of order: the runs follow the list, the charts' axis is ascending with inf last.
PATH=/nonexistent run_compare --staleness inf,0,2 --straggler random:0.2:3 --quiet ||
  fail "staleness compare failed: $(cat "$work/stderr")"
[ "$(grep -c '^compare: run [1-8]/8: ' "$work/stdout")" -eq 8 ] || fail "not 8 run start lines"
grep -q '^compare: run 3/8: ps S=inf, 1 worker$' "$work/stdout" || fail "run 3 is not ps S=inf x1"
[ "$(cd "$out" && ls run-*.json | tr '\n' ' ')" = "run-allreduce-w1.json run-allreduce-w2.json run-ps-s2-w1.json run-ps-s2-w2.json run-ps-sinf-w1.json run-ps-sinf-w2.json run-ps-w1.json run-ps-w2.json " ] ||
  fail "staleness run files: $(cd "$out" && ls run-*.json | tr '\n' ' ')"
for f in ps-sinf-w2:inf ps-s2-w1:2 ps-w2:0; do
  [ "$(report_field "$out/run-${f%%:*}.json" staleness)" = "${f#*:}" ] || fail "run-${f%%:*}.json: staleness not ${f#*:}"
done
[ -z "$(report_field "$out/run-allreduce-w2.json" staleness)" ] || fail "allreduce's report has a staleness"
[ "$(awk -F, 'NR > 1 { printf "%s/%s/%s ", $1, $3, $2 }' "$csv")" = "allreduce/-/1 allreduce/-/2 ps/inf/1 ps/inf/2 ps/0/1 ps/0/2 ps/2/1 ps/2/2 " ] ||
  fail "compare.csv rows: $(awk -F, 'NR > 1 { printf "%s/%s/%s ", $1, $3, $2 }' "$csv")"
awk -F, 'NR > 1 && !($10 >= 0 && $10 <= 1 && $10 ~ /^[0-9]\.[0-9][0-9][0-9]$/) { bad = 1 } END { exit bad }' "$csv" ||
  fail "a wait fraction is not a fraction: $(cut -d, -f10 "$csv" | tr '\n' ' ')"
grep -q '^| strategy | workers | staleness | samples/s |.*| wait ms/step | wait fraction |' "$out/compare.md" ||
  fail "compare.md lacks the staleness and wait fraction columns"
[ "$(grep -c '^| ps | [12] | \(inf\|0\|2\) |' "$out/compare.md")" -eq 6 ] || fail "compare.md lacks ps rows"
for chart in wait_fraction time_to_target; do
  [ -s "$out/$chart.gp" ] || fail "no $chart.gp"
  [ "$(grep -c '^[0-9] \(0\|2\|inf\) ' "$out/$chart.dat")" -eq 6 ] || fail "$chart.dat: not 2 x 3 ps rows"
  grep -q '^0 0 .*$' "$out/$chart.dat" && grep -q '^2 inf ' "$out/$chart.dat" || fail "$chart.dat: axis not 0, 2, inf"
  [ "$(grep -c '^# allreduce, [12] workers\{0,1\} (reference' "$out/$chart.dat")" -eq 2 ] ||
    fail "$chart.dat: no allreduce reference per worker count"
done
# A compare without a sweep into that folder recognises it as a compare's and leaves none of the
# staleness runs or charts: 4 runs x 2 files and 2 charts x 2 files.
PATH=/nonexistent run_compare --quiet || fail "compare after the sweep failed: $(cat "$work/stderr")"
ls "$out"/run-ps-s* "$out"/wait_fraction.* "$out"/time_to_target.* >/dev/null 2>&1 &&
  fail "the sweep's files stayed: $(ls "$out")"
grep -q "removed 12 files of an earlier compare" "$work/stdout" || fail "not 12 files of the sweep removed"

# --help lists no option that compare refuses (test_compare checks every line against the parser).
"$dptrain" compare --help >"$work/help.txt" || fail "compare --help failed"
grep -E -- '--(strategy|report|resume|trace|checkpoint) |--workers N' "$work/help.txt" &&
  fail "compare --help lists options compare refuses"

# --- a training run's --metrics and --trace ------------------------------------------------------
"$dptrain" --data "$work/data" --hidden 8 --epochs 2 --batch 32 --workers 2 --strategy ps \
  --device cpu --quiet --metrics "$work/m.csv" --metrics-every 1 --trace "$work/t.json" \
  --trace-steps 4 || fail "run with --metrics --trace failed"
[ "$(grep -c '^step,' "$work/m.csv")" -eq 26 ] || fail "--metrics-every 1: not 26 step rows"
grep -q '"traceEvents":\[' "$work/t.json" || fail "--trace: no traceEvents"
if command -v python3 >/dev/null; then
  python3 -m json.tool "$work/t.json" >/dev/null || fail "--trace: python3 rejects the JSON"
else
  echo "python3 missing: the trace's second JSON check did not run (test_compare checks it too)"
fi

# --- bad input: exit 2, one line naming the culprit, nothing written ---------------------------
mkdir -p "$work/cwd" && touch "$work/a-file"
expect_input_error() {
  local want=$1; shift
  (cd "$work/cwd" && "$dptrain" "$@") >"$work/out.txt" 2>"$work/err.txt"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, expected 2"
  [ "$(wc -l <"$work/err.txt")" -eq 1 ] || fail "'$*' printed $(wc -l <"$work/err.txt") error lines"
  grep -q -- "^dptrain: error: .*$want" "$work/err.txt" || fail "'$*' said '$(cat "$work/err.txt")', expected '$want'"
  [ -z "$(ls -A "$work/cwd")" ] || fail "'$*' left $(ls -A "$work/cwd")"
}
train+=(--quiet)
expect_input_error "--target-acc 1.5" compare "${train[@]}" --target-acc 1.5
expect_input_error "--out $work/a-file: exists and is not a folder" compare "${train[@]}" --out "$work/a-file"
# A folder holding anything but a compare's files is not compare's to replace.
mkdir -p "$work/mine" && echo keep >"$work/mine/notes.txt" && echo keep >"$work/mine/compare.csv"
expect_input_error "--out $work/mine: holds 'notes.txt', which compare does not write" \
  compare "${train[@]}" --out "$work/mine"
[ "$(ls "$work/mine")" = "$(printf 'compare.csv\nnotes.txt')" ] && [ "$(cat "$work/mine/compare.csv")" = keep ] ||
  fail "a refused --out folder was changed: $(ls "$work/mine")"
expect_input_error "--strategies 'foo'" compare "${train[@]}" --strategies foo
expect_input_error "--workers 0" compare "${train[@]}" --workers 0,2
expect_input_error "--metrics $work/no/such/m.csv: folder" "${train[@]}" --metrics "$work/no/such/m.csv"
expect_input_error "--trace $work/no/such/t.json: folder" "${train[@]}" --trace "$work/no/such/t.json"
expect_input_error "/no/such/data" compare --data /no/such/data --out new-dir --quiet
expect_input_error "--staleness '0,,4': item 2 is empty" compare "${train[@]}" --staleness 0,,4
expect_input_error "--staleness 'x': not a whole number, or inf" compare "${train[@]}" --staleness 0,x
expect_input_error "--staleness -1: must be between 0 and 1000000, or inf" compare "${train[@]}" --staleness 4,-1
expect_input_error "--staleness '4,inf,4': 4 is listed twice" compare "${train[@]}" --staleness 4,inf,4
expect_input_error "--staleness 2: only meaningful when --strategies has ps" \
  compare "${train[@]}" --strategies allreduce --staleness 0,2
expect_input_error "--straggler 2:3: worker 2 does not exist in the 1-worker runs (workers 0..0)" \
  compare "${train[@]}" --workers 4,1 --straggler 2:3
# A name only like a staleness run's (staleness 0 is never in a name) is not compare's.
mkdir -p "$work/near" && echo keep >"$work/near/run-ps-s0-w2.json"
expect_input_error "--out $work/near: holds 'run-ps-s0-w2.json', which compare does not write" \
  compare "${train[@]}" --out "$work/near"
ls "$work" | grep -q '\.tmp' && fail "a temporary file was left behind"

finish "compare files"
