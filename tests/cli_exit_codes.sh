#!/usr/bin/env bash
# The dptrain binary end to end: exit status 2 with one "dptrain: error:" line for bad input,
# no report file left behind, a complete JSON report on success.
# usage: cli_exit_codes.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

expect_input_error "--batch 0" --batch 0
expect_input_error "unknown option '--bogus'" --bogus
expect_input_error "/no/such/dir" --data /no/such/dir --quiet
expect_input_error "folder '/no/such' does not exist" --data "$work/data" --report /no/such/r.json
# The devices are hidden (CUDA_VISIBLE_DEVICES=), so that these cases hold on a machine with a
# GPU, or on the emulated one, too.
CUDA_VISIBLE_DEVICES= expect_input_error "--device cuda: no usable CUDA device" --data "$work/data" \
  --device cuda --quiet

# A corrupt training file: refused, and no report written.
cp -r "$work/data" "$work/bad"
printf 'garbage' >"$work/bad/train-labels-idx1-ubyte.gz"
expect_input_error "train-labels-idx1-ubyte.gz" --data "$work/bad" --report "$work/bad.json" --quiet
[ ! -e "$work/bad.json" ] || fail "a report was written for a failed run"
ls "$work" | grep -q '\.tmp' && fail "a temporary file was left behind"

# A good run writes every report key.
"$dptrain" --data "$work/data" --hidden 16 --epochs 2 --batch 32 --workers 2 --strategy ps \
  --device cpu --quiet --report "$work/r.json" >"$work/out" 2>"$work/err" || fail "good run failed: $(cat "$work/err")"
for key in test_accuracy final_train_loss train_samples_per_sec epochs global_batch workers \
           strategy device params params_hash wall_s blas_threads time_s bytes_per_step; do
  grep -q "\"$key\":" "$work/r.json" 2>/dev/null || fail "report lacks $key"
done
grep -q '"strategy": "ps"' "$work/r.json" || fail "report strategy is not ps"

# --device auto trains on the CPU with a one-line notice when no GPU is usable (devices hidden).
CUDA_VISIBLE_DEVICES= "$dptrain" --data "$work/data" --hidden 8 --epochs 1 --report "$work/auto.json" \
  >"$work/out" 2>"$work/err" || fail "auto run failed"
grep -q "^epoch 1/1 " "$work/out" || fail "no epoch line: $(cat "$work/out")"
grep -q '"device": "cpu"' "$work/auto.json" || fail "--device auto without a GPU: $(cat "$work/auto.json")"
"$dptrain" --version | grep -q "backends:" || fail "--version lists no backends"

finish cli_exit_codes
