#!/usr/bin/env bash
# The NP MPI processes of one job must train with the same settings (docs/mpi.md): one process
# started with a different training option (mpiexec's `:` syntax) makes every process refuse with
# exit 2, within seconds (not after --timeout), and rank 0 alone print one line naming the option
# and both values; no MPI_Abort.
# usage: mpi_agree.sh MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/mpi_test_lib.sh"
"$make_synth" "$work/data" 1003 300 6 7 5 99 || exit 1

# --timeout 60: a mismatch left to stall would take a minute; the refusals must come in seconds.
train=(--data "$work/data" --hidden 32,16 --epochs 2 --batch 50 --lr 0.05 --device cpu
       --workers 1 --timeout 60 --quiet)
last=$((np - 1))

# Each rank runs under a shell that records the exit status dptrain chose, in $work/status/NAME.R.
# Once a process exits non-zero, Open MPI's launcher kills the others, which would hide the status
# they were about to exit with: so the other ranks' shells exit 0, and rank 0's passes its status
# on to the launcher only once every other rank has recorded its own (at most 30 s later).
mkdir -p "$work/status"
rank_status() {
  local rank=$1 name=$2; shift 2
  "$@"
  local rc=$? r file=$work/status/$name.$rank
  echo "$rc" >"$file.tmp" && mv "$file.tmp" "$file"
  [ "$rank" -eq 0 ] || return 0
  for ((r = 1; r < np; r++)); do
    for _ in $(seq 600); do [ -e "$work/status/$name.$r" ] && break; sleep 0.05; done
  done
  return "$rc"
}
export -f rank_status
export work np

# refused NAME RANK MESSAGE dptrain-args...: rank RANK alone gets the extra args; every rank must
# exit 2, rank 0 alone print MESSAGE (the whole line after "dptrain: error: "), within 30 s.
refused() {
  local name=$1 odd=$2 want=$3; shift 3
  local launch=() r
  for ((r = 0; r < np; r++)); do
    [ "$r" -gt 0 ] && launch+=(:)
    launch+=(-n 1 bash -c 'rank_status "$@"' rank "$r" "$name" "$dptrain" "${train[@]}")
    [ "$r" -eq "$odd" ] && launch+=("$@")
  done
  local t0=$SECONDS
  timeout 120 "$mpiexec" "${launch[@]}" >"$work/$name.out" 2>&1
  local rc=$? took=$((SECONDS - t0))
  [ "$took" -lt 30 ] || fail "$name: took $took s (a stall until --timeout?)"
  [ "$rc" -eq 2 ] || fail "$name: the launcher exited $rc, expected 2"
  for ((r = 0; r < np; r++)); do
    [ "$(cat "$work/status/$name.$r" 2>/dev/null)" = 2 ] ||
      fail "$name: rank $r exited '$(cat "$work/status/$name.$r" 2>/dev/null)', expected 2"
  done
  local lines
  lines=$(grep '^dptrain: ' "$work/$name.out")
  [ "$lines" = "dptrain: error: $want" ] || fail "$name: printed '$lines', expected 'dptrain: error: $want'"
  grep -q "MPI_ABORT\|MPI_Abort" "$work/$name.out" && fail "$name: the job was aborted"
  echo "$name: every rank exit 2 after $took s: $lines"
}

# --- every process trains with the same settings ---------------------------------------------
refused seed "$last" "--seed differs between processes: 1 on process 0, 2 on process $last" --seed 2
refused lr "$last" "--lr differs between processes: 0.05 on process 0, 0.1 on process $last" --lr 0.1
refused hidden "$last" "--hidden differs between processes: 32,16 on process 0, 64,16 on process $last" \
  --hidden 64,16
refused batch "$last" "--batch differs between processes: 50 on process 0, 20 on process $last" --batch 20
refused epochs "$last" "--epochs differs between processes: 2 on process 0, 3 on process $last" --epochs 3
refused strategy "$last" \
  "--strategy differs between processes: allreduce on process 0, ps on process $last" --strategy ps
refused checkpoint "$last" \
  "--checkpoint differs between processes: not given on process 0, given on process $last" \
  --checkpoint "$work/ck"
[ -e "$work/ck" ] && fail "checkpoint: a checkpoint was written"
# Process 0 the odd one: the first process that differs from it is named.
refused checkpoint_on_0 0 "--checkpoint differs between processes: given on process 0, not given on process 1" \
  --checkpoint "$work/ck"
refused check_replicas "$last" \
  "--check-replicas differs between processes: not given on process 0, given on process $last" \
  --check-replicas

finish "mpi_agree ($np processes)"
