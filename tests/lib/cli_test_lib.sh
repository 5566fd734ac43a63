# Sourced by the dptrain command-line test scripts, whose arguments are DPTRAIN MAKE_SYNTH WORKDIR:
# sets dptrain, make_synth and work, makes WORKDIR afresh with a small generated data set in
# WORKDIR/data (400 training samples of 5 x 5, 4 classes); the checks' helpers are
# shell_test_lib.sh's, and
#   expect_input_error WANT ARGS...  dptrain ARGS must exit 2 with one "dptrain: error:" line
#                                    holding WANT.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/shell_test_lib.sh"
dptrain=$1 make_synth=$2 work=$3
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$make_synth" "$work/data" 400 100 5 5 4 7 || exit 1

expect_input_error() {
  local want=$1; shift
  "$dptrain" "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, expected 2"
  [ "$(wc -l <"$work/err")" -eq 1 ] || fail "'$*' printed $(wc -l <"$work/err") error lines"
  grep -q "^dptrain: error: .*$want" "$work/err" || fail "'$*' said '$(cat "$work/err")', expected '$want'"
}
