#!/usr/bin/env bash
# CI check of the CUDA build, on a machine with no GPU: the CUDA objects exist, hold machine code
# for sm_80 and sm_90 plus compute_90 PTX (for GPUs newer than sm_90), that code is linked into
# dptrain, and dptrain loads the CUDA runtime, cuBLAS and NCCL but not the driver library, which
# machines without a GPU lack. Exit 77 (ctest: skipped) when the CUDA path was not built.
# usage: check_cuda_build.sh HAVE_CUDA HAVE_NCCL DPTRAIN KERNELS_LIBRARY [WHY_NOT_BUILT]
#
# No cuobjdump here, so the fatbin is read directly. nvcc puts one fatbin per .cu file in the
# object's .nv_fatbin section (a program's section concatenates them). Its layout, little-endian:
#   fatbin header (16 bytes): u32 magic 0xba55ed50, u16 version, u16 header size, u64 entries' size
#   each entry: u16 kind (1 = PTX, 2 = ELF machine code), u16 version, u32 header size,
#               u64 payload size, ..., u32 architecture at byte 28 (80 = sm_80 or compute_80)
# and the next entry follows the payload.
set -u
have_cuda=$1 have_nccl=$2 dptrain=$3 kernels_lib=$4 why_not=${5:-}
required="sm_80 sm_90 compute_90"

if [ "$have_cuda" != "ON" ]; then
  echo "check_cuda_build: skipped: the CUDA path was not built ($why_not)"
  exit 77
fi
for tool in objcopy objdump ar od; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (binutils)"; exit 1; }
done
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# uint FILE OFFSET BYTES: an unsigned little-endian integer.
uint() { od -An -t "u$3" -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# fatbin_entries FILE: "sm_80", "compute_90", ... one line per entry of the .nv_fatbin section.
fatbin_entries() {
  local sec="$work/section" pos=0 size end e kind
  objcopy -O binary --only-section=.nv_fatbin "$1" "$sec" 2>/dev/null || return 0
  size=$(stat -c %s "$sec")
  while [ $((pos + 16)) -le "$size" ]; do
    if [ "$(uint "$sec" "$pos" 4)" != "$((0xba55ed50))" ]; then
      pos=$((pos + 8)) # alignment padding between fatbins
      continue
    fi
    e=$((pos + $(uint "$sec" $((pos + 6)) 2)))
    end=$((e + $(uint "$sec" $((pos + 8)) 8)))
    while [ $((e + 32)) -le "$end" ]; do
      kind=$(uint "$sec" "$e" 2)
      case $kind in 1) printf 'compute_' ;; 2) printf 'sm_' ;; *) printf 'kind%s_' "$kind" ;; esac
      uint "$sec" $((e + 28)) 4
      echo
      e=$((e + $(uint "$sec" $((e + 4)) 4) + $(uint "$sec" $((e + 8)) 8)))
    done
    pos=$end
  done
}

# check_holds NAME FILE: FILE's fatbin has every required entry.
check_holds() {
  local found
  found=$(fatbin_entries "$2" | sort -u | tr '\n' ' ')
  echo "$1: ${found:-no device code}"
  for want in $required; do
    case " $found " in *" $want "*) ;; *) fail "$1 lacks $want" ;; esac
  done
}

# The CUDA objects, as built into the kernels library.
if ! lib_path=$(realpath "$kernels_lib") || ! mkdir "$work/objs" ||
  ! (cd "$work/objs" && ar x "$lib_path"); then
  fail "cannot unpack $kernels_lib"
  exit 1
fi
objs=$(find "$work/objs" -name '*.cu.o' | sort)
[ -n "$objs" ] || fail "no CUDA objects (*.cu.o) in $kernels_lib"
for o in $objs; do check_holds "$(basename "$o")" "$o"; done

# Linked: the program carries the device code and the libraries it needs, never the driver's.
program=$(basename "$dptrain")
check_holds "$program" "$dptrain"
needed=$(objdump -p "$dptrain" | awk '/NEEDED/ {print $2}')
libs="libcudart libcublas libcublasLt"
[ "$have_nccl" = "ON" ] && libs="$libs libnccl"
for lib in $libs; do
  echo "$needed" | grep -q "^$lib\.so" || fail "$program does not load $lib"
done
echo "$needed" | grep -q '^libcuda\.so' && fail "$program loads the driver library libcuda.so"

if [ "$failures" -eq 0 ]; then echo "check_cuda_build: all checks passed"; exit 0; fi
echo "check_cuda_build: $failures check(s) failed"
exit 1
