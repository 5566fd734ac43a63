# Sourced by the tests of dptrain over MPI processes, whose arguments are
# MPIEXEC NP DPTRAIN MAKE_SYNTH WORKDIR: sets mpiexec, np, dptrain, make_synth and work, and makes
# WORKDIR afresh (the caller generates its data into WORKDIR/data). Adds to shell_test_lib.sh:
#   per_rank_launch DIR dptrain-args...  sets `launch` to an mpiexec argument list that runs
#                                        rank r in the folder DIR/r (made here).
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
