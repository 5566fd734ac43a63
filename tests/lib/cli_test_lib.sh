# Sourced by the dptrain command-line test scripts, whose arguments are DPTRAIN MAKE_SYNTH WORKDIR:
# sets dptrain, make_synth and work, makes WORKDIR afresh with a small generated data set in
# WORKDIR/data (400 training samples of 5 x 5, 4 classes); the checks' helpers are
# shell_test_lib.sh's.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/shell_test_lib.sh"
dptrain=$1 make_synth=$2 work=$3
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$make_synth" "$work/data" 400 100 5 5 4 7 || exit 1
