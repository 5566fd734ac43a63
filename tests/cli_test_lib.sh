# Sourced by the dptrain command-line test scripts, whose arguments are DPTRAIN MAKE_SYNTH WORKDIR:
# sets dptrain, make_synth and work, makes WORKDIR afresh with a small generated data set in
# WORKDIR/data (400 training samples of 5 x 5, 4 classes); `fail WHAT` counts a failed check and
# `finish NAME` reports the count and exits with it.
set -u
dptrain=$1 make_synth=$2 work=$3
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$make_synth" "$work/data" 400 100 5 5 4 7 || exit 1
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

finish() {
  if [ "$failures" -eq 0 ]; then echo "$1: all checks passed"; exit 0; fi
  echo "$1: $failures check(s) failed"
  exit 1
}
