#!/usr/bin/env bash
# Quick start: install what is missing, build, and train on Fashion-MNIST with the defaults.
# Extra arguments go to dptrain (e.g. scripts/train.sh --workers 2 --strategy ps).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/setup.sh"
exec "$root/build/dptrain" "$@"
