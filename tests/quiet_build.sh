#!/usr/bin/env bash
# scripts/build_tree.sh on a small CMake project of its own: a build that is up to date prints
# nothing, a build that compiles prints nothing but compiler messages, and a broken source shows
# the compiler's error and fails.
# usage: quiet_build.sh WORKDIR
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib/shell_test_lib.sh"
work=$1
root="$work/project"
rm -rf "$work" && mkdir -p "$root" || exit 1
cat >"$root/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(quiet_build C)
add_library(parts a.c b.c)
add_executable(prog main.c)
target_link_libraries(prog PRIVATE parts)
CMAKE
echo 'int a(void) { return 1; }' >"$root/a.c"
echo 'int b(void) { return 2; }' >"$root/b.c"
echo 'int a(void); int b(void); int main(void) { return a() + b() - 3; }' >"$root/main.c"
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/build_tree.sh"

build_tree build >"$work/first.txt" 2>&1 || fail "first build failed: $(cat "$work/first.txt")"
[ -x "$root/build/prog" ] || fail "the first build made no program"
build_tree build >"$work/again.txt" 2>&1 || fail "up-to-date build failed: $(cat "$work/again.txt")"
[ -s "$work/again.txt" ] && fail "an up-to-date build printed: $(head -5 "$work/again.txt")"
touch "$root/a.c"
build_tree build >"$work/rebuild.txt" 2>&1 || fail "rebuild failed: $(cat "$work/rebuild.txt")"
[ -s "$work/rebuild.txt" ] && fail "a clean rebuild printed: $(head -5 "$work/rebuild.txt")"
echo 'int b(void) { return undeclared_name; }' >"$root/b.c"
build_tree build >"$work/broken.txt" 2>&1 && fail "a broken source built"
grep -q "b.c.*undeclared_name" "$work/broken.txt" || fail "the compiler's error is hidden: $(cat "$work/broken.txt")"
finish quiet_build
