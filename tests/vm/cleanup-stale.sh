#!/bin/bash
# Stop lab VMs left behind by interrupted runs and remove their overlays and taps.
# usage: tests/vm/cleanup-stale.sh [--all]
#   default: every VM under $KVMNET_VM_RUN except the kept lab VM (lab-up.sh marks it "keep")
#   --all:   the lab VM too
# Runs under the machine's VM lock (see molecule.sh), so VMs of a run in progress are
# never touched: if another run holds the lock this waits for it.
# VMs are stopped by the pid in their pid file (vm-down.sh), never by process name.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
ALL=0; [ "${1:-}" = --all ] && ALL=1
mkdir -p "$VM_RUN"
if [ -z "${KVMNET_VM_LOCKED:-}" ]; then
  exec 9>"$VM_RUN/.lock"
  flock 9
fi
shopt -s nullglob
for d in "$VM_RUN"/*/; do
  d=${d%/}; n=$(basename "$d")
  if [ -e "$d/keep" ] && [ $ALL = 0 ]; then
    vm_pid_alive "$d" && { vm_log "kept lab VM $n is running (tests/vm/lab-down.sh stops it)"; continue; }
  fi
  vm_log "stale VM $n: cleaning up"
  "$VM_DIR/vm-down.sh" "$n"
done
# taps of ours (kvmq- prefix) that no VM directory refers to any more
known=$(cat "$VM_RUN"/*/tap 2>/dev/null || true)
for t in $(ip -o link show type tun 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^kvmq-' || true); do
  grep -qx "$t" <<<"$known" && continue
  vm_log "removing orphan tap $t"; ip link del "$t" 2>/dev/null
done
exit 0
