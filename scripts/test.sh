#!/usr/bin/env bash
# `make test` (what CI runs through .ci/run): every stage, timed, in two lanes.
#
#   1. in order, fail-fast:   setup build units docs
#   2. side by side:          lane "checks": sanity lint host, then the ansible-core matrix
#                                            (scripts/matrix.sh: units, moddocs, sanity on each
#                                            older line; nice 10, output in build/logs/checks.log)
#                             lane "vm":     molecule           (output here)
#
# Why two lanes: the VM tier is the long pole (more than an hour of qemu TCG, one VM at a
# time), and a TCG guest runs its Python on one vCPU most of the time, so one of the two cores
# sits idle; the checks lane (ansible-test sanity, ansible-lint, the host tier: one pytest
# process, then the matrix) uses it. When the checks lane ends it opens the VM lane's gate: a
# second VM worker starts on the freed core (KVMNET_VM_WORKERS=2, tests/vm/molecule-all.sh;
# KVMNET_VM_WORKERS=1 keeps one VM at a time). The checks lane stops at its first failed stage;
# the VM lane always runs to its end. Timings of both lanes go to build/timings.txt; the exit
# status is the first failure's.
#
# usage: scripts/test.sh MAKE REPO        (the Makefile's `test` target calls it)
set -uo pipefail
MAKE_BIN=${1:?make}
REPO=${2:?repo}
BUILD=$REPO/build
TIMINGS=$BUILD/timings.txt
LOGS=$BUILD/logs
mkdir -p "$BUILD" "$LOGS"
: > "$TIMINGS"
T0=$(date +%s)

# shellcheck source=scripts/stage.sh
. "$REPO/scripts/stage.sh"

finish() {
  echo "TIMING total     $(( $(date +%s) - T0 ))s" | tee -a "$TIMINGS"
  cat "$TIMINGS"
  exit "$1"
}

for s in setup build units docs; do
  stage "$s" "$s" || { echo "make test: stage '$s' failed (timings: $TIMINGS)"; finish 1; }
done

# lane "checks" in the background, at a lower priority than the VM
CHECKS_LOG=$LOGS/checks.log
CHECKS_RC=$LOGS/checks.rc
rm -f "$CHECKS_RC"
# the VM lane's second worker waits for the checks lane's status file (its core is free then)
export KVMNET_VM_WORKERS=${KVMNET_VM_WORKERS:-2}
export KVMNET_VM_WORKER_GATE=$CHECKS_RC
(
  renice -n 10 -p "$BASHPID" >/dev/null 2>&1 || true
  rc=0
  for s in sanity lint host; do
    stage "$s" "$s" || { rc=$?; echo "make test: stage '$s' failed" ; break; }
  done
  # the older ansible-core lines (scripts/matrix.sh: its own timing lines go to the same file)
  if [ "$rc" = 0 ]; then
    bash "$REPO/scripts/matrix.sh" "$MAKE_BIN" "$REPO" "$TIMINGS" || { rc=$?; echo "make test: the ansible-core matrix failed"; }
  fi
  echo "checks lane ended after $(( $(date +%s) - T0 )) s: the VM lane's second worker may start"
  echo "$rc" > "$CHECKS_RC"
) > "$CHECKS_LOG" 2>&1 &
CHECKS_PID=$!
echo "=================== lane checks (sanity lint host, then the ansible-core matrix) runs beside the VM tier: $CHECKS_LOG"

vm_rc=0
stage molecule molecule || vm_rc=$?

wait "$CHECKS_PID" 2>/dev/null
checks_rc=$(cat "$CHECKS_RC" 2>/dev/null || echo 99)
echo "=================== lane checks: $([ "$checks_rc" = 0 ] && echo ok || echo "FAILED rc=$checks_rc") (log: $CHECKS_LOG)"
if [ "$checks_rc" != 0 ]; then
  echo "--- the last 80 lines of the checks lane:"
  tail -n 80 "$CHECKS_LOG"
fi
if [ "$vm_rc" != 0 ]; then echo "make test: stage 'molecule' failed"; finish "$vm_rc"; fi
if [ "$checks_rc" != 0 ]; then echo "make test: the checks lane failed"; finish 1; fi
finish 0
