#!/usr/bin/env bash
# Output paths end to end (docs/reliability.md, Output files): a symlink's target is replaced and
# the link stays, a FIFO is written through and stays a FIFO, "-" is standard output and the
# console moves to standard error; clashing outputs, outputs that are inputs, missing or
# unwritable folders and over-long paths are refused with exit 2 before any data is loaded, with
# nothing at any path created or changed; dptrain compare applies the same rules to its files.
# usage: output_paths.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"
dptrain=$(cd "$(dirname "$dptrain")" && pwd)/$(basename "$dptrain") # the test changes folder once

# A constant learning rate: a checkpoint of 1 epoch resumes to 2 as one run of 2 epochs.
settings="--hidden 8 --epochs 1 --batch 32 --workers 1 --device cpu --lr-schedule constant --warmup-epochs 0"
run="--data $work/data $settings"
out=$work/out
mkdir -p "$out"

# is_json FILE: python3's parser takes it (the report is one object).
is_json() { python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }
command -v python3 >/dev/null || { echo "python3 is needed to parse the JSON outputs"; exit 1; }

# A checkpoint, and copies of what the refused runs must leave alone.
"$dptrain" $run --quiet --checkpoint "$out/ck" || fail "making a checkpoint failed"
cp "$out/ck" "$work/ck.orig"
cp "$work/data/train-labels-idx1-ubyte.gz" "$work/labels.orig"

# --- Accepted: each kind of path -------------------------------------------------------------
# A symlink, and a chain of relative links ending at a name not created yet.
echo '{}' >"$out/real.json"
ln -s real.json "$out/link.json"
"$dptrain" $run --quiet --report "$out/link.json" || fail "--report LINK failed"
[ -L "$out/link.json" ] && [ "$(readlink "$out/link.json")" = real.json ] ||
  fail "--report LINK: the link was replaced"
is_json "$out/real.json" && grep -q '"params_hash"' "$out/real.json" ||
  fail "--report LINK: the link's target did not get the report"
mkdir -p "$out/sub" "$out/other"
ln -s ../other/chained.csv "$out/sub/l1"
ln -s sub/l1 "$out/l0"
"$dptrain" $run --quiet --metrics "$out/l0" || fail "--metrics through a link chain failed"
[ -L "$out/l0" ] && [ -L "$out/sub/l1" ] || fail "--metrics CHAIN: a link was replaced"
head -1 "$out/other/chained.csv" 2>/dev/null | grep -q '^kind,step' ||
  fail "--metrics CHAIN: the chain's end did not get the CSV"

# A FIFO with a reader: written through, still a FIFO afterwards.
mkfifo "$out/fifo"
timeout 60 cat "$out/fifo" >"$work/fifo.got" &
reader=$!
"$dptrain" $run --quiet --report "$out/fifo" || fail "--report FIFO failed"
wait "$reader" || fail "the FIFO's reader did not end"
[ -p "$out/fifo" ] || fail "--report FIFO: the FIFO was replaced"
is_json "$work/fifo.got" || fail "--report FIFO: the reader did not get the JSON"

# --report -: standard output is exactly the JSON; every console line goes to standard error.
"$dptrain" $run --quiet --report - >"$work/stdout" 2>"$work/stderr" || fail "--quiet --report - failed"
is_json "$work/stdout" || fail "--quiet --report -: standard output is not just the JSON: $(head -3 "$work/stdout")"
"$dptrain" $run --report - >"$work/stdout" 2>"$work/stderr" || fail "--report - failed"
is_json "$work/stdout" || fail "--report -: standard output is not just the JSON: $(head -3 "$work/stdout")"
grep -q '^epoch 1/1 ' "$work/stderr" && grep -q '^done: ' "$work/stderr" ||
  fail "--report -: the epoch and done lines are not on standard error"
"$dptrain" $run --quiet --metrics - >"$work/stdout" || fail "--metrics - failed"
head -1 "$work/stdout" | grep -q '^kind,step' && ! grep -qv '^\(kind\|step\|epoch\),' "$work/stdout" ||
  fail "--metrics -: standard output is not just the CSV"

# Continuing in place: --resume X --checkpoint X, bit for bit as one run of 2 epochs.
cp "$work/ck.orig" "$out/inplace"
"$dptrain" ${run/--epochs 1/--epochs 2} --resume "$out/inplace" --checkpoint "$out/inplace" \
  >"$work/resumed" 2>&1 || fail "--resume X --checkpoint X failed: $(tail -1 "$work/resumed")"
"$dptrain" ${run/--epochs 1/--epochs 2} >"$work/straight" 2>&1 || fail "a 2-epoch run failed"
[ -n "$(done_hash "$work/straight")" ] && [ "$(done_hash "$work/resumed")" = "$(done_hash "$work/straight")" ] ||
  fail "--resume X --checkpoint X: hash $(done_hash "$work/resumed"), a straight run $(done_hash "$work/straight")"
cmp -s "$out/inplace" "$work/ck.orig" && fail "--resume X --checkpoint X: the checkpoint was not saved"

# --- Refused: exit 2, one line naming the culprit(s), before any data is loaded ---------------
# The refused runs read $late, whose training images only loading can find bad: a check made
# after loading would report those instead of the expected line.
late=$work/late
cp -r "$work/data" "$late"
printf 'garbage' >"$late/train-images-idx3-ubyte.gz"
cp "$late/train-labels-idx1-ubyte.gz" "$work/late-labels.orig"

# cpu_ms ARGS...: the CPU time (user + system, ms) of dptrain ARGS, its output in $work/r.*.
cpu_ms() {
  local TIMEFORMAT='%3U %3S' cpu
  cpu=$( { time "$dptrain" "$@" >"$work/r.out" 2>"$work/r.err"; } 2>&1 )
  rc=$?
  echo "$cpu" | awk '{ print int(($1 + $2) * 1000) }' >"$work/r.ms"
}
# What any run costs before its first line of dptrain's own code: a CUDA build loads cuBLAS,
# whose initializers take 0.5-0.6 s of CPU on this machine (perf: 53% in libcublasLt.so), more
# under load. The median of 3 runs of --version.
for _ in 1 2 3; do cpu_ms --version; cat "$work/r.ms"; done | sort -n | sed -n 2p >"$work/start.ms"
start_ms=$(cat "$work/start.ms")

# refused "what the message says" args...: exit 2 and one error line, nothing trained, within a
# second (the issue's bound) of CPU time beyond the start-up's: the machine's load may stretch
# the wall-clock time.
refused() {
  local want=$1 rc; shift
  cpu_ms --data "$late" $settings --epochs 100 "$@"
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, expected 2 ($(tail -1 "$work/r.err"))"
  [ "$(wc -l <"$work/r.err")" -eq 1 ] || fail "'$*' printed $(wc -l <"$work/r.err") error lines"
  grep -qF -- "$want" "$work/r.err" || fail "'$*' said '$(cat "$work/r.err")', expected '$want'"
  grep -q '^epoch' "$work/r.out" && fail "'$*' trained before refusing"
  local ms
  ms=$(cat "$work/r.ms")
  [ $((ms - start_ms)) -lt 1000 ] ||
    fail "'$*' took $ms ms of CPU time to refuse (start-up: $start_ms ms)"
}

# Nothing at the output paths may be created or changed by a refused run: a listing of the folder
# with each file's kind, size, time and link target, compared after the refusals below. (Folder
# times change: the start-up check creates and removes its temporary file.)
snapshot() { (cd "$out" && find . \( -type d -printf '%p d\n' \) -o -printf '%p %y %s %T@ %l\n' | sort); }
before=$(snapshot)

# Two outputs naming one file: the same spelling, ./x, a symlink, standard output twice.
refused "--report $out/x and --metrics $out/x are the same file" --report "$out/x" --metrics "$out/x"
refused "--report $out/x and --trace $out/./x are the same file" --report "$out/x" --trace "$out/./x"
refused "--report $out/sub/../x and --metrics $out/x" --report "$out/sub/../x" --metrics "$out/x"
refused "--report $out/link.json and --metrics $out/real.json are the same file" \
  --report "$out/link.json" --metrics "$out/real.json"
refused "--report - and --metrics - are the same file" --report - --metrics -
cd "$out" && refused "--report x and --metrics ./x are the same file" --report x --metrics ./x
cd - >/dev/null
# An output that is an input: the issue's three cases, and one through a link.
refused "--report $out/ck and --checkpoint $out/ck are the same file" \
  --checkpoint "$out/ck" --report "$out/ck"
refused "--trace $out/ck is the same file as --resume $out/ck" --resume "$out/ck" --trace "$out/ck"
refused "--metrics $late/train-labels-idx1-ubyte.gz is the same file as --data" \
  --metrics "$late/train-labels-idx1-ubyte.gz"
ln -s late/t10k-images-idx3-ubyte.gz "$work/to-data"
refused "--report $work/to-data is the same file as --data" --report "$work/to-data"
rm "$work/to-data"
# A folder that is missing, or that takes no new file (as root too: /proc).
refused "folder '$out/no/such' does not exist" --report "$out/no/such/r.json"
refused "folder '/proc' is not writable" --report /proc/x.json
refused "folder '/proc' is not writable" --checkpoint /proc/ck
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$work/ro" && chmod 555 "$work/ro"
  refused "folder '$work/ro' is not writable" --metrics "$work/ro/m.csv"
fi
# What cannot be written: a folder, a socket, standard output for a checkpoint.
refused "--report $out/sub: is a folder" --report "$out/sub"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$work/sock"
refused "--report $work/sock: is a socket" --report "$work/sock"
refused "--checkpoint -: only --report and --metrics" --checkpoint -
# Paths longer than the system allows: a name, a name with the temporary file's suffix, a path.
name256=$(printf 'n%.0s' $(seq 256))
name250=${name256:0:250}
refused "is 256 bytes; the system allows 255" --report "$out/$name256"
refused "with the temporary file's suffix" --metrics "$out/$name250"
long=$out
while [ ${#long} -lt 4200 ]; do long=$long/$name250; done
refused "the system allows 4095" --trace "$long/t.json"
# A message longer than 512 bytes keeps its reason: a missing folder 700 bytes deep.
deep=$out/${name250}/${name250}/${name250}/r.json
refused "--report $deep: folder '${deep%/r.json}' does not exist" --report "$deep"
[ "$(stat -c %s "$work/r.err")" -gt 600 ] || fail "the long message is only $(stat -c %s "$work/r.err") bytes"

[ "$(snapshot)" = "$before" ] || fail "a refused run created or changed files: $(diff <(echo "$before") <(snapshot))"
cmp -s "$out/ck" "$work/ck.orig" || fail "a refused run changed the checkpoint"
cmp -s "$late/train-labels-idx1-ubyte.gz" "$work/late-labels.orig" || fail "a refused run changed the data set"

# --- dptrain compare: its files follow the same rules ----------------------------------------
cmp_args="--data $work/data --hidden 8 --epochs 1 --batch 32 --device cpu --strategies allreduce --workers 1 --quiet"
mkdir -p "$work/cmp"
echo '{}' >"$work/cmp-real.json"
ln -s ../cmp-real.json "$work/cmp/run-allreduce-w1.json"
"$dptrain" compare $cmp_args --out "$work/cmp" >"$work/c.out" 2>&1 || fail "compare failed: $(tail -1 "$work/c.out")"
[ -L "$work/cmp/run-allreduce-w1.json" ] || fail "compare: its report's link was replaced"
is_json "$work/cmp-real.json" && grep -q '"params_hash"' "$work/cmp-real.json" ||
  fail "compare: the report's link target did not get the report"
mkdir "$work/cmp2"
ln -s ../data/train-labels-idx1-ubyte.gz "$work/cmp2/run-allreduce-w1.csv"
"$dptrain" compare $cmp_args --out "$work/cmp2" >"$work/c.out" 2>"$work/c.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "compare (.*): --metrics .*run-allreduce-w1.csv is the same file as --data" "$work/c.err" ||
  fail "compare over a link to the data set: exit $rc, '$(cat "$work/c.err")'"
cmp -s "$work/data/train-labels-idx1-ubyte.gz" "$work/labels.orig" || fail "compare changed the data set"

finish output_paths
