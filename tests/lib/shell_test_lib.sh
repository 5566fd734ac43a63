# Sourced by the shell tests: counting failed checks, and reading what dptrain printed or wrote.
#   fail WHAT            counts a failed check (and prints it);
#   finish NAME          reports the count and exits with it (0: every check passed);
#   wait_for WHAT CMD... polls CMD every 0.05 s for up to 60 s; a failed check if it never holds;
#   done_hash FILE       the params_hash of the "done:" line dptrain printed into FILE;
#   report_field FILE KEY  a top-level field of a --report JSON file.
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

finish() {
  if [ "$failures" -eq 0 ]; then echo "$1: all checks passed"; exit 0; fi
  echo "$1: $failures check(s) failed"
  exit 1
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1200); do "$@" && return 0; sleep 0.05; done
  fail "waited 60 s for $what"
  return 1
}

done_hash() { sed -n 's/.*  hash \([0-9a-f]*\)  .*/\1/p' "$1"; }

report_field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\).*/\1/p" "$1"; }
