#!/usr/bin/env bash
# Stop lab VMs left behind by interrupted runs and remove their overlays and taps.
# usage: cleanup-stale.sh [--all]
#   default: VMs whose owning run (molecule-all.sh or one of its workers, molecule.sh test)
#            is gone or is the caller (KVMNET_VM_OWNER: what it left behind), and VM
#            directories without an owner whose qemu is gone. A live run's VMs are left alone,
#            also while their qemu is down (being created, rebooted). VMs without an owner (an
#            interactive `molecule.sh X converge`, the lab VM of lab-up.sh) are reported, not stopped.
#   --all:   every VM under $KVMNET_VM_RUN, the lab VM too
# Runs under the machine's VM lock (lib.sh vm_lock): if another run holds the lock this waits
# for it (a run's workers hold it together and tell their VMs apart by owner).
# VMs are stopped by the pid in their pid file (vm-down.sh), never by process name.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
ALL=0; [ "${1:-}" = --all ] && ALL=1
mkdir -p "$VM_RUN"
vm_lock
shopt -s nullglob
for d in "$VM_RUN"/*/; do
  d=${d%/}; n=$(basename "$d")
  if [ $ALL = 0 ]; then
    owner=$(cat "$d/owner" 2>/dev/null || true)
    # another live run's (or another worker's) VM, also while its qemu is not running (being
    # created, rebooted): that run destroys it
    if [ -n "$owner" ] && [ "$owner" != "${KVMNET_VM_OWNER:-}" ] && vm_owner_alive "$owner"; then
      vm_log "VM $n belongs to a live run (pid ${owner%%:*}): left alone"; continue
    fi
    if vm_pid_alive "$d" && [ -z "$owner" ]; then
      vm_log "VM $n runs without an owning run (interactive or lab VM): left alone ($VM_DIR/vm-down.sh $n)"
      continue
    fi
  fi
  vm_log "stale VM $n: cleaning up"
  "$VM_DIR/vm-down.sh" "$n"
done
# taps of ours (kvmq- prefix) that no VM directory refers to any more; under vm-up.sh's boot
# lock, which it holds from creating a tap until the VM's directory names it
exec 8>"$VM_RUN/.boot.lock"
flock 8
known=$(cat "$VM_RUN"/*/tap 2>/dev/null || true)
for t in $(ip -o link show type tun 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^kvmq-' || true); do
  grep -qx "$t" <<<"$known" && continue
  vm_log "removing orphan tap $t"; ip link del "$t" 2>/dev/null
done
exit 0
