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
# What it costs (measured 2026-11-30 on this 2-core machine, shared with four other sessions,
# niced): a line's venv 24-31 s once (pip's wheel cache holds libvirt-python); units 22-25 s alone,
# 49 s under load; moddocs 8-11 s; sanity 440 s (2.17) and 297 s (2.18) on a first run, which
# installs that ansible-test's own pylint/yamllint/... venvs under ~/.ansible/test/venv (kept
# across runs and clones). Warm, a line's sanity is about the newest line's (73 s in session 7),
# so the matrix adds about 4-5 minutes to the checks lane (13 minutes then, against the VM lane's
# hour), about 14 on a machine's first run. `make sanity`'s extra compile check on 3.9, 3.10, 3.12
# and 3.13: 48 s the first time (a venv per interpreter), about 3 s each after.
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
