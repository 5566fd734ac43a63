#!/usr/bin/env bash
# What dptrain accepts and refuses as data, end to end: labels outside the training range, both
# spellings of the file names, trailing data, data and models that cannot fit (refused from the
# headers, quickly and cheaply), runs under ulimit -v that end by themselves, and FIFOs (with no
# writer, a writer, an endless writer; SIGTERM while waiting).
# usage: data_inputs.sh DPTRAIN MAKE_SYNTH WORKDIR PEAK_RSS [SANITIZER]
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"
peak_rss=$4 sanitizer=${5:-}
# AddressSanitizer reserves terabytes of address space for its shadow: nothing it instruments
# starts under ulimit -v or -d, so those checks cannot run in its build (they run in the others).
limits_apply() {
  [ "$sanitizer" != address ] && return 0
  echo "data_inputs: not run under AddressSanitizer, which cannot start under a limit: $1"
  return 1
}

# run_dptrain ARGS...: runs dptrain (at most 60 s), leaving $rc, $work/out and $work/err.
run_dptrain() {
  timeout -s KILL 60 "$dptrain" "$@" >"$work/out" 2>"$work/err"
  rc=$?
}

# expect_refused WANT ARGS...: exit 2 and one "dptrain: error:" line holding WANT.
expect_refused() {
  local want=$1; shift
  run_dptrain "$@"
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, expected 2: $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" -eq 1 ] || fail "'$*' printed $(wc -l <"$work/err") lines: $(cat "$work/err")"
  grep -qF "dptrain: error: " "$work/err" && grep -qF -- "$want" "$work/err" ||
    fail "'$*' said '$(cat "$work/err")', expected '$want'"
}

# copy_set NAME: a copy of the generated set, its folder's path printed.
copy_set() { cp -r "$work/data" "$work/$1" && echo "$work/$1"; }

# --- labels: the test set's within the training set's range --------------------------------------
dir=$(copy_set range)
rm "$dir/t10k-labels-idx1-ubyte.gz"
{ printf '\0\0\10\1\0\0\0\144\7'; head -c 99 /dev/zero; } >"$dir/t10k-labels-idx1-ubyte"
expect_refused "$dir/t10k-labels-idx1-ubyte: label 7 (sample 0) is outside the training labels' range 0..3" \
  --data "$dir" --quiet

# --- names: train-images.idx3-ubyte as well as train-images-idx3-ubyte ----------------------------
mkdir "$work/dotted"
for f in "$work"/data/*.gz; do b=$(basename "$f"); cp "$f" "$work/dotted/${b/-idx/.idx}"; done
run_dptrain --data "$work/dotted" --hidden 8 --epochs 1 --quiet
[ "$rc" -eq 0 ] || fail "the dotted spelling: exit $rc: $(cat "$work/err")"
dir=$(copy_set similar)
mv "$dir/train-images-idx3-ubyte.gz" "$dir/train-images-idx3-ubyte.zip"
expect_refused "missing train-images-idx3-ubyte (also looked for train-images.idx3-ubyte, each raw or .gz); similar files here: train-images-idx3-ubyte.zip" \
  --data "$dir" --quiet

# --- trailing data after the promised payload ---------------------------------------------------
dir=$(copy_set trailing)
{ gzip -dc "$work/data/train-labels-idx1-ubyte.gz"; printf 'xy'; } | gzip -c >"$dir/train-labels-idx1-ubyte.gz"
expect_refused "$dir/train-labels-idx1-ubyte.gz: trailing data after the 400 payload" --data "$dir" --quiet

# --- sizes weighed from the headers, before any payload -----------------------------------------
# A 1 MiB gzip that inflates to a 1 GiB payload: two samples of 16384 x 32768 (a header member,
# then 1024 members of 1 MiB of zeros). The model of the default --hidden 512,512 on 2^29
# features needs terabytes: refused within seconds, without reading the payload.
dir="$work/huge" && mkdir "$dir"
head -c 1048576 /dev/zero | gzip -c >"$work/zeros.gz"
for _ in $(seq 10); do cat "$work/zeros.gz" "$work/zeros.gz" >"$work/zeros2.gz" && mv "$work/zeros2.gz" "$work/zeros.gz"; done
{ printf '\0\0\10\3\0\0\0\2\0\0\100\0\0\0\200\0' | gzip -c; cat "$work/zeros.gz"; } >"$dir/train-images-idx3-ubyte.gz"
printf '\0\0\10\1\0\0\0\2\0\1' | gzip -c >"$dir/train-labels-idx1-ubyte.gz"
cp "$dir/train-images-idx3-ubyte.gz" "$dir/t10k-images-idx3-ubyte.gz"
cp "$dir/train-labels-idx1-ubyte.gz" "$dir/t10k-labels-idx1-ubyte.gz"
[ "$(stat -c %s "$dir/train-images-idx3-ubyte.gz")" -lt 2000000 ] || fail "the crafted gzip is not small"
start=$(date +%s)
"$peak_rss" "$work/rss" timeout -s KILL 60 "$dptrain" --data "$dir" --quiet >"$work/out" 2>"$work/err"
rc=$? seconds=$(( $(date +%s) - start )) rss_kib=$(cat "$work/rss")
[ "$rc" -eq 2 ] || fail "the 1 GiB header: exit $rc: $(cat "$work/err")"
grep -qF "dptrain: error: $dir/train-images-idx3-ubyte.gz: the data need " "$work/err" &&
  grep -q "and the model at least .* GiB (.* parameters, .* worker(s)): more than the .* of memory available" "$work/err" ||
  fail "the 1 GiB header said: $(cat "$work/err")"
[ "$seconds" -le 20 ] || fail "the 1 GiB header took $seconds s to refuse"
[ "$rss_kib" -lt 1048576 ] || fail "the 1 GiB header cost $rss_kib KiB of resident memory"

# The data alone too big for ulimit -v or -d: two sets of 1024 x 512 x 512 (2 GiB as floats). The
# payloads are missing, so without a limit the run gets to them and says so instead.
dir="$work/large" && mkdir "$dir"
printf '\0\0\10\3\0\0\4\0\0\0\2\0\0\0\2\0' >"$dir/train-images-idx3-ubyte"
{ printf '\0\0\10\1\0\0\4\0\1'; head -c 1023 /dev/zero; } >"$dir/train-labels-idx1-ubyte"
cp "$dir/train-images-idx3-ubyte" "$dir/t10k-images-idx3-ubyte"
cp "$dir/train-labels-idx1-ubyte" "$dir/t10k-labels-idx1-ubyte"
for limit in "-v 2000000:ulimit -v, RLIMIT_AS" "-d 2000000:ulimit -d, RLIMIT_DATA"; do
  limits_apply "the data too large for ulimit ${limit%%:*}" || continue
  timeout -s KILL 60 bash -c "ulimit ${limit%%:*} && exec \"\$0\" --data \"\$1\" --hidden 1 --quiet" \
    "$dptrain" "$dir" >"$work/out" 2>"$work/err"
  rc=$?
  [ "$rc" -eq 2 ] && grep -qF "$dir/train-images-idx3-ubyte: the data need 2.25 GiB" "$work/err" &&
    grep -qF "left under ${limit#*:})" "$work/err" ||
    fail "ulimit ${limit%%:*}: exit $rc: $(cat "$work/err")"
done
expect_refused "$dir/train-images-idx3-ubyte: payload is 268435456 bytes shorter than the header's 1024x512x512" \
  --data "$dir" --hidden 1 --quiet

# --- runs under an address-space limit end by themselves ----------------------------------------
# From 48 MiB up in steps of 24 MiB until a run succeeds, each run must end within 30 s: with
# exit 1 and one error line where the limit is too small for the run (at least one of them the
# up-front "out of memory"), with 0 above.
# Below what the dynamic loader or OpenBLAS's own start-up needs the process ends before dptrain's
# code runs: that is 127 or 130 with their message. Without the fix OpenBLAS retries a mapping for
# ever (in a worker, or in its pool thread while exit waits for it).
# sweep_limits WHAT ENV ARGS...: the sweep, dptrain run under `env ENV` with ARGS.
sweep_limits() {
  local what=$1 env=$2 refused=0 limit; shift 2
  for ((limit = 49152; limit <= 8388608; limit += 24576)); do
    # shellcheck disable=SC2086 # ENV is one or two words for env
    timeout -s KILL 30 env $env bash -c "ulimit -v $limit && exec \"\$@\"" dptrain "$dptrain" \
      --data "$work/data" --hidden 8 --epochs 1 --quiet "$@" >"$work/out" 2>"$work/err"
    rc=$?
    case $rc in
      0) [ "$refused" -gt 0 ] || fail "$what: no limit below $limit KiB was refused as out of memory"
         return ;;
      1) grep -q "^dptrain: error: trainer: out of memory: " "$work/err" && refused=$((refused + 1))
         [ "$(wc -l <"$work/err")" -eq 1 ] && grep -q "^dptrain: error: " "$work/err" ||
           fail "$what: ulimit -v $limit: exit 1 said: $(cat "$work/err")" ;;
      127|130) grep -qE "error while loading shared libraries|OpenBLAS blas_thread_init" "$work/err" ||
           fail "$what: ulimit -v $limit: exit $rc: $(cat "$work/err")" ;;
      137) fail "$what: ulimit -v $limit: still running after 30 s"; return ;;
      *) fail "$what: ulimit -v $limit: exit $rc: $(cat "$work/err")"; return ;;
    esac
  done
  fail "$what: no run succeeded up to 8 GiB"
}
if limits_apply "the ulimit -v sweep"; then
  sweep_limits "1 worker" "-u OPENBLAS_NUM_THREADS"
  sweep_limits "1 worker, OPENBLAS_NUM_THREADS=1" "OPENBLAS_NUM_THREADS=1"
  sweep_limits "2 workers, ps" "-u OPENBLAS_NUM_THREADS" --workers 2 --strategy ps
fi

# --- FIFOs --------------------------------------------------------------------------------------
dir=$(copy_set fifo)
rm "$dir/train-labels-idx1-ubyte.gz"
mkfifo "$dir/train-labels-idx1-ubyte"
# labels_open PID: PID holds the FIFO open (bash's own -ef, no process per poll).
labels_open() {
  local fd
  for fd in "/proc/$1/fd/"*; do [ "$fd" -ef "$dir/train-labels-idx1-ubyte" ] && return 0; done
  return 1
}

# No writer: SIGTERM, once dptrain holds the FIFO open and waits, ends it within 2 s.
"$dptrain" --data "$dir" --quiet >"$work/out" 2>"$work/err" &
pid=$!
wait_for "dptrain to open the FIFO" labels_open "$pid"
kill -TERM "$pid"
for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
  fail "SIGTERM while waiting for a FIFO's writer: still running 2 s later"
  kill -KILL "$pid"
fi
wait "$pid"
rc=$?
[ "$rc" -eq 143 ] && grep -qF "dptrain: interrupted by SIGTERM: stopped on request while loading the data, before training: nothing to save ($dir/train-labels-idx1-ubyte: stopped on request while waiting for its bytes)" "$work/err" ||
  fail "SIGTERM while waiting for a FIFO's writer: exit $rc: $(cat "$work/err")"

# No writer and --timeout 1: exit 1 naming the file.
run_dptrain --data "$dir" --quiet --timeout 1
[ "$rc" -eq 1 ] && grep -qF "$dir/train-labels-idx1-ubyte: no bytes arrived for 1 s" "$work/err" ||
  fail "a FIFO with no writer and --timeout 1: exit $rc: $(cat "$work/err")"

# A writer: read like a file.
gzip -dc "$work/data/train-labels-idx1-ubyte.gz" >"$dir/train-labels-idx1-ubyte" &
writer=$!
run_dptrain --data "$dir" --hidden 8 --epochs 1 --quiet
[ "$rc" -eq 0 ] || fail "a FIFO with a writer: exit $rc: $(cat "$work/err")"
wait "$writer"

# An endless writer: refused at the first byte past the payload; the writer then gets SIGPIPE.
{ gzip -dc "$work/data/train-labels-idx1-ubyte.gz"; cat /dev/zero; } >"$dir/train-labels-idx1-ubyte" &
writer=$!
expect_refused "$dir/train-labels-idx1-ubyte: trailing data after the 400 payload" --data "$dir" --quiet
for _ in $(seq 100); do kill -0 "$writer" 2>/dev/null || break; sleep 0.05; done
kill -0 "$writer" 2>/dev/null && { fail "the endless writer still runs"; kill "$writer"; }
wait "$writer" 2>/dev/null

finish data_inputs
