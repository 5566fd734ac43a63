#!/usr/bin/env bash
# A GPU step without host round trips (issue 14), on the emulated device: the reference model
# (MLP 784-512-512-10, global batch 256, 20 steps of synthetic 28 x 28 images) on 2 and 4 devices,
# both strategies; the report's `cuda` figures (the busiest device's launches, host waits and
# copies per training step, and allocations after the first step) against the targets:
#   allreduce: host_waits_per_step <= 1, d2h_per_step <= 0.25, allocs_after_first_step 0,
#              launches_per_step <= 12 (cuBLASLt epilogues, SGD and ledger in one kernel);
#   ps: host_waits_per_step <= 2, allocs_after_first_step 0;
# and a run repeats bit for bit, the strategies agreeing within float rounding.
# usage: cuda_emu_step.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"
# The emulator's cuBLAS runs on OpenBLAS, whose thread pool (used for GEMMs this size, unlike the
# other tests' small ones) synchronises in ways ThreadSanitizer cannot see: one thread.
export OPENBLAS_NUM_THREADS=1
mkdir -p "$work/ref" && "$make_synth" "$work/ref" 5120 1000 28 28 10 7 || exit 1
ref=(--data "$work/ref" --hidden 512,512 --batch 256 --epochs 1 --quiet --device cuda)

# figure NAME KEY: KEY of the `cuda` object in $work/NAME.json.
figure() { grep -o '"cuda": {[^}]*}' "$work/$1.json" | grep -o "\"$2\": [0-9.]*" | awk '{print $2}'; }
# at_most A B: A <= B (A not empty).
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }

for n in 2 4; do
  for s in allreduce ps; do
    name=${s}_$n
    DPT_CUDA_EMU_DEVICES=4 "$dptrain" "${ref[@]}" --workers "$n" --strategy "$s" \
      --report "$work/$name.json" >"$work/$name.out" 2>"$work/$name.err" ||
      { fail "$name: exit $?: $(cat "$work/$name.err")"; continue; }
    echo "$name: $(grep -o '"cuda": {[^}]*}' "$work/$name.json")"
    [ "$(figure "$name" allocs_after_first_step)" = 0 ] ||
      fail "$name: allocs_after_first_step $(figure "$name" allocs_after_first_step)"
  done
  at_most "$(figure "allreduce_$n" host_waits_per_step)" 1 ||
    fail "allreduce on $n: host_waits_per_step $(figure "allreduce_$n" host_waits_per_step) > 1"
  at_most "$(figure "allreduce_$n" d2h_per_step)" 0.25 ||
    fail "allreduce on $n: d2h_per_step $(figure "allreduce_$n" d2h_per_step) > 0.25"
  at_most "$(figure "allreduce_$n" launches_per_step)" 12 ||
    fail "allreduce on $n: launches_per_step $(figure "allreduce_$n" launches_per_step) > 12"
  at_most "$(figure "ps_$n" host_waits_per_step)" 2 ||
    fail "ps on $n: host_waits_per_step $(figure "ps_$n" host_waits_per_step) > 2"
  a=$(report_field "$work/allreduce_$n.json" final_train_loss)
  p=$(report_field "$work/ps_$n.json" final_train_loss)
  awk -v a="$a" -v p="$p" 'BEGIN { d = a - p; if (d < 0) d = -d; exit !(a != "" && d <= 1e-5 * (p < 0 ? -p : p)) }' ||
    fail "on $n: final loss allreduce $a, ps $p"
done

# Under random delays of the stream work, the same bits again.
DPT_CUDA_EMU_DELAY_US=100 DPT_CUDA_EMU_DEVICES=4 "$dptrain" "${ref[@]}" --workers 4 \
  --report "$work/again.json" >"$work/again.out" 2>"$work/again.err" || fail "again: exit $?"
[ -n "$(report_field "$work/again.json" params_hash)" ] &&
  [ "$(report_field "$work/again.json" params_hash)" = "$(report_field "$work/allreduce_4.json" params_hash)" ] ||
  fail "a repeated run: hash $(report_field "$work/again.json" params_hash), first $(report_field "$work/allreduce_4.json" params_hash)"
finish "cuda_emu_step"
