# Sourced by the tests of dptrain over MPI processes, whose arguments are
# MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR: sets mpiexec, np, dptrain, make_synth and work, and makes
# WORKDIR afresh (the caller generates its data into WORKDIR/data). Adds to shell_test_lib.sh:
#   per_rank_launch DIR dptrain-args...  sets `launch` to an mpiexec argument list that runs
#                                        rank r in the folder DIR/r (made here);
#   expect_failure NAME STATUS MESSAGE [env...] -- dptrain-args...  runs NP processes with the
#                                        caller's `train` options, then the args: a failed check
#                                        unless they end within 60 s with STATUS and a line
#                                        '^dptrain: error: MESSAGE' (a regex) on stderr.
# (Open MPI as root or with more processes than cores: ctest sets OMPI_ALLOW_RUN_AS_ROOT* and
# OMPI_MCA_rmaps_base_oversubscribe.)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/shell_test_lib.sh"
mpiexec=$1 np=$2 dptrain=$3 make_synth=$4 work=$5
rm -rf "$work" && mkdir -p "$work/data" || exit 1

per_rank_launch() {
  local dir=$1; shift
  launch=()
  for ((r = 0; r < np; r++)); do
    mkdir -p "$dir/$r"
    [ "$r" -gt 0 ] && launch+=(:)
    launch+=(-n 1 -wdir "$dir/$r" "$dptrain" "$@")
  done
}

# expect_failure NAME STATUS MESSAGE [env...] -- dptrain args: within 60 s, by status and message.
expect_failure() {
  local name=$1 want_rc=$2 want=$3; shift 3
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local t0=$SECONDS
  env "${envs[@]}" timeout 60 "$mpiexec" -n "$np" "$dptrain" "${train[@]}" --quiet "$@" \
    >"$work/$name.out" 2>"$work/$name.err"
  local rc=$? took=$((SECONDS - t0))
  [ "$rc" -ne 124 ] || fail "$name: still running after 60 s (a hang)"
  [ "$rc" -eq "$want_rc" ] || fail "$name: exited $rc, expected $want_rc"
  grep -q -- "^dptrain: error: $want" "$work/$name.err" ||
    fail "$name: no '$want' in: $(grep dptrain "$work/$name.err")"
  echo "$name: exit $rc after ${took} s: $(grep -m1 '^dptrain: error:' "$work/$name.err")"
}
