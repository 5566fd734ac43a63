#!/usr/bin/env bash
# What a person sees of dptrain on a terminal and in its one-line summaries.
# usage: terminal_cli.sh progress|output DPTRAIN MAKE_SYNTH WORKDIR
#   progress: the progress bar in a 50-column terminal (tmux): every redraw fits on one line, the
#             bar is gone after the run, and it shows the epoch's and the whole run's ETA; exits
#             77 (ctest: skipped, never passed) where tmux is missing;
#   output:   --quiet keeps the done: line, --version and the report name the BLAS library and
#             its kernel, the report has ps_shards/ps_threads only with ps, and a machine without
#             an NVIDIA driver is told so.
mode=$1; shift
if [ "$mode" = progress ] && ! command -v tmux >/dev/null; then
  echo "tmux is not installed: the progress bar checks did not run"
  exit 77
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

if [ "$mode" = progress ]; then
  # 4000 steps of 4 samples: a second or so, redrawn every 0.1 s.
  mkdir -p "$work/steps" && "$make_synth" "$work/steps" 8000 100 5 5 4 7 >/dev/null || exit 1
  tmux=(tmux -L "dpt-terminal-test-$$" -f /dev/null) # a server of our own, ended below
  cols=50
  # The run starts only once the pane's output is being recorded.
  "${tmux[@]}" new-session -d -s bar -x $cols -y 40 \
    "while [ ! -e '$work/go' ]; do sleep 0.05; done; exec '$dptrain' --data '$work/steps' --hidden 32 --epochs 2 --batch 4 --device cpu" ||
    { fail "tmux did not start"; finish terminal_progress; }
  "${tmux[@]}" set-option -t bar remain-on-exit on >/dev/null
  "${tmux[@]}" pipe-pane -t bar -o "cat >'$work/raw'"
  touch "$work/go"
  pane_dead() { [ "$("${tmux[@]}" display-message -p -t bar '#{pane_dead}')" = 1 ]; }
  wait_for "the run in tmux" pane_dead
  "${tmux[@]}" capture-pane -p -t bar >"$work/pane"
  "${tmux[@]}" kill-server
  # Each redraw of the bar starts with a carriage return: one segment per redraw.
  tr '\r' '\n' <"$work/raw" | grep 'ETA' >"$work/bars"
  [ "$(wc -l <"$work/bars")" -ge 2 ] || fail "fewer than 2 bar redraws: $(cat -A "$work/raw" | head -5)"
  wide=$(awk -v c=$cols 'length($0) > c' "$work/bars" | head -1)
  [ -z "$wide" ] || fail "a bar wider than $cols columns: '$wide'"
  grep -q 'ETA epoch [0-9ms]*, run [0-9hms]*' "$work/bars" || fail "no whole-run ETA: $(head -3 "$work/bars")"
  grep -E 'ETA|^epoch [0-9/]+ \[' "$work/pane" && fail "pieces of the bar stayed on the screen"
  grep -q '^epoch 2/2 ' "$work/pane" || fail "no epoch line in the pane: $(cat "$work/pane")"
  grep -q '^done: ' "$work/pane" || fail "no done: line in the pane"
  finish terminal_progress
fi

# --- --quiet: no epoch lines, the one done: line --------------------------------------------------
"$dptrain" --data "$work/data" --hidden 8 --epochs 2 --device cpu --quiet >"$work/out" 2>"$work/err" ||
  fail "--quiet run failed: $(cat "$work/err")"
[ "$(wc -l <"$work/out")" -eq 1 ] && grep -q '^done: test_acc ' "$work/out" ||
  fail "--quiet printed '$(cat "$work/out")', expected one done: line"
[ -s "$work/err" ] && fail "--quiet printed on stderr: $(cat "$work/err")"

# --- the BLAS library and kernel: --version and the report agree --------------------------------
"$dptrain" --version >"$work/version" || fail "--version failed"
blas=$(sed -n 's/.*cpu (\(OpenBLAS [0-9.]*, kernel [A-Za-z0-9_]*\), .*/\1/p' "$work/version")
[ -n "$blas" ] || fail "--version names no BLAS kernel: $(cat "$work/version")"
for strategy in allreduce ps; do
  r="$work/$strategy.json"
  "$dptrain" --data "$work/data" --hidden 8 --epochs 1 --device cpu --workers 2 --quiet \
    --strategy $strategy --report "$r" >/dev/null || fail "$strategy run failed"
  got=$(sed -n 's/^  "blas": "\(.*\)",$/\1/p' "$r")
  [ "$got" = "$blas" ] || fail "$strategy report: blas '$got', --version: '$blas'"
  n=$(grep -c '"ps_\(shards\|threads\)":' "$r")
  [ $strategy = ps ] && [ "$n" -ne 2 ] && fail "a ps report without ps_shards and ps_threads"
  [ $strategy = allreduce ] && [ "$n" -ne 0 ] && fail "an allreduce report with ps_shards or ps_threads"
done

# --- no NVIDIA driver: said in those words (a CUDA build on a machine without a driver) --------
if grep -q 'driver none' "$work/version"; then
  "$dptrain" --data "$work/data" --hidden 8 --epochs 1 --device cuda >/dev/null 2>"$work/err"
  grep -q "no NVIDIA driver was found" "$work/err" || fail "--device cuda without a driver said: $(cat "$work/err")"
  "$dptrain" --data "$work/data" --hidden 8 --epochs 1 >/dev/null 2>"$work/err"
  grep -q "^dptrain: notice: .*no NVIDIA driver was found.*training on the CPU" "$work/err" ||
    fail "--device auto without a driver said: $(cat "$work/err")"
else
  echo "not checked here: the no-driver notice (needs a CUDA build on a machine without a driver)"
fi
finish terminal_output
