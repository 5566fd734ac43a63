#!/usr/bin/env bash
# Why each test of a ctest run did not run: scripts/test.sh's summary lists them.
#   scripts/ctest_skips.sh BUILD_DIR CTEST_OUTPUT
# CTEST_OUTPUT is what ctest printed; its "The following tests did not run:" list names the
# tests. A skipping test (exit 77) prints its reason as a line "NAME: skipped: REASON", found in
# BUILD_DIR/Testing/Temporary/LastTest.log; a test not run for another reason (Not Run, Disabled)
# gets ctest's word. Prints "NAME: REASON" per test; exit 1 when a skipped test gave no reason.
set -euo pipefail
build=$1 output=$2
log=$build/Testing/Temporary/LastTest.log
status=0
# "	 12 - check_cuda_build (Skipped)" -> "check_cuda_build Skipped"
while read -r name why; do
  reason=""
  if [ "$why" = Skipped ]; then
    # The reason line inside the test's block of the log ("N/M Testing: NAME" up to the next).
    reason=$(awk -v name="$name" '
      / Testing: / { inside = ($NF == name) }
      inside && /skipped: / { sub(/.*skipped: /, ""); last = $0 }
      END { print last }' "$log")
    if [ -z "$reason" ]; then
      reason="SKIPPED WITHOUT A REASON (it must print a line 'NAME: skipped: REASON')"
      status=1
    fi
  else
    reason="not run by ctest ($why)"
  fi
  echo "$name: $reason"
done < <(sed -n '/^The following tests did not run:/,/^[^[:space:]]/s/^[[:space:]]*[0-9]* - \([^ ]*\) (\(.*\))$/\1 \2/p' "$output")
exit "$status"
