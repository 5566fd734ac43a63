#!/usr/bin/env bash
# Fuzzes every file parser for a bounded time, starting from its seed corpus (a CI step):
#   scripts/fuzz.sh                   each target for FUZZ_SECONDS (default 30) seconds
#   FUZZ_SECONDS=10 scripts/fuzz.sh
# Builds the libFuzzer targets with clang into build-fuzz (-DDPT_FUZZ=ON), then runs each one on a
# scratch corpus seeded from fuzz/corpus/<name>/ (the committed seeds stay as they are). A crash,
# leak, undefined behaviour, slow input or out-of-memory fails the script; the input that caused it
# is kept in build-fuzz/findings/<target>/: fix the parser, and add the input to the parser's unit
# tests as a regression test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${FUZZ_SECONDS:-30}
build=$root/build-fuzz

# target:corpus folder under fuzz/corpus
targets=(fuzz_idx:idx fuzz_checkpoint:checkpoint)

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$root" -B "$build" -DDPT_FUZZ=ON -DDPT_CUDA=OFF -DDPT_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]%%:*}"

for entry in "${targets[@]}"; do
  target=${entry%%:*} corpus=${entry#*:}
  scratch=$build/corpus/$target findings=$build/findings/$target
  rm -rf "$scratch" && mkdir -p "$scratch" "$findings"
  echo "== fuzz: $target for ${seconds}s (seeds: fuzz/corpus/$corpus)"
  # -timeout: an input taking longer is a finding (a hang); -rss_limit_mb: so is a memory blow-up.
  if ! "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$findings/" -print_final_stats=1 "$scratch" "$root/fuzz/corpus/$corpus" \
      >"$findings/log.txt" 2>&1; then
    tail -n 40 "$findings/log.txt"
    echo "fuzz: $target found a problem; the input is in $findings/"
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units)' "$findings/log.txt" || true
done
echo "fuzz: no findings"
