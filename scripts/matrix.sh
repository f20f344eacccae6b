#!/usr/bin/env bash
# `make matrix`: sanity, units and docs rendering (ansible-doc of every module from the built
# artifact) on every older ansible-core line that meta/runtime.yml claims. .venv carries the
# newest line, which `make test` runs every tier on; the lines here are the pin files
# tests/matrix/ansible-core-X.txt, each with its own cached venv .venvs/ansible-core-X (made on
# first use by scripts/setup.sh, like .venv). `make test` runs this in its "checks" lane.
#
# Every line runs to its end (a failure on 2.17 does not hide one on 2.18); the exit status is 1
# if any stage failed. Timing lines "TIMING units@2.17 ..." are appended to TIMINGS.
#
# usage: scripts/matrix.sh MAKE REPO TIMINGS [LINE...]   (default: every pin file's line)
set -uo pipefail
MAKE_BIN=${1:?make}
REPO=${2:?repo}
TIMINGS=${3:?timings file}
shift 3
# shellcheck source=scripts/stage.sh
. "$REPO/scripts/stage.sh"

lines=("$@")
if [ ${#lines[@]} -eq 0 ]; then
  for f in "$REPO"/tests/matrix/ansible-core-*.txt; do
    [ -e "$f" ] || continue
    f=${f##*/ansible-core-}; lines+=("${f%.txt}")
  done
fi
[ ${#lines[@]} -gt 0 ] || { echo "matrix: no tests/matrix/ansible-core-*.txt: nothing to run"; exit 1; }
mkdir -p "$(dirname "$TIMINGS")"

# moddocs renders the artifact `make build` installed; `make test` built it already (and its VM
# lane may be reading build/dist right now: never rebuild underneath it)
if [ ! -d "$REPO/build/collections/ansible_collections/kvmnet/hypervisor" ]; then
  stage build build || exit 1
fi

T0=$(date +%s)
failed=()
for v in "${lines[@]}"; do
  for s in units moddocs sanity; do
    stage "$s@$v" "$s" ANSIBLE_CORE="$v" || failed+=("$s@$v")
  done
done
line=$(printf 'TIMING %-14s %5ss  %s' "matrix" "$(( $(date +%s) - T0 ))" "lines ${lines[*]}")
echo "$line" | tee -a "$TIMINGS"
if [ ${#failed[@]} -gt 0 ]; then
  echo "matrix: failed: ${failed[*]}"
  exit 1
fi
echo "matrix: ansible-core ${lines[*]}: sanity, units and docs ok"
