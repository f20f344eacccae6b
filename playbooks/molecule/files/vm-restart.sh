#!/usr/bin/env bash
# Power a lab VM on again after the guest rebooted (a reboot ends qemu: vm-up.sh uses
# -no-reboot), with the same disk overlay, devices and ssh port, and wait for ssh.
#
# usage: vm-restart.sh NAME [--timeout S]
#   waits up to S seconds (default 300) for the guest's reboot to end its qemu, then starts
#   qemu again from $KVMNET_VM_RUN/NAME/args and waits for ssh (KVMNET_VM_BOOT_TIMEOUT, 300 s).
#   If qemu is still running after S seconds the guest did not reboot: the console's tail is
#   shown and the VM is left as it is (destroy removes it).
#   A cold boot that ends its qemu or has no ssh after the boot timeout (seen on CI on
#   2026-11-30 in the hypervisor scenario, and here once under load in the kernel scenario;
#   a warm reset under TCG with intel-iommu + igb hung in rcu stalls before) is powered off
#   and on once more (KVMNET_VM_BOOT_RETRIES, default 1), loudly: the console's tail is shown,
#   the failed boot's console is kept in $KVMNET_VM_RUN/boot-retries/ and the retry recorded
#   in $KVMNET_VM_RUN/boot-retries.log (molecule-all.sh lists it). A configuration that
#   breaks the boot breaks the second boot as well and fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || { sed -n '5,9p' "$0" >&2; exit 2; }
NAME=$1; shift
TIMEOUT=300
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) TIMEOUT=$2; shift 2 ;;
    *) sed -n '5,9p' "$0" >&2; exit 2 ;;
  esac
done
D=$VM_RUN/$NAME
[ -s "$D/args" ] && [ -s "$D/port" ] || vm_die "no VM $NAME started by vm-up.sh in $VM_RUN"
PORT=$(cat "$D/port")
T=$(date +%s)
END=$(( T + TIMEOUT ))
while vm_pid_alive "$D"; do
  [ "$(date +%s)" -lt "$END" ] || { tail -30 "$D/console.log" >&2; vm_die "$NAME: qemu still runs ${TIMEOUT}s after the reboot began"; }
  sleep 1
done
vm_log "$NAME: the guest's reboot ended qemu after $(( $(date +%s) - T )) s; powering it on again"
mapfile -d '' ARGS < "$D/args"
RETRIES=${KVMNET_VM_BOOT_RETRIES:-1}
BOOT_TIMEOUT=${KVMNET_VM_BOOT_TIMEOUT:-300}
for (( attempt = 0; ; attempt++ )); do
  echo "--- power on again $(date -u +%FT%TZ) ---" >> "$D/console.log"
  T0=$(date +%s.%N)
  # -serial file: truncates the console log: keep the previous boot's next to it
  cp -f "$D/console.log" "$D/console.prev.log"
  vm_tap_home "$D"
  qemu-system-x86_64 "${ARGS[@]}" 8>&- 9>&- </dev/null >"$D/qemu.out" 2>&1 || {
    cat "$D/qemu.out" >&2; vm_die "qemu failed to start $NAME again"; }
  vm_tap_netns "$D"
  vm_log "$NAME: qemu pid $(cat "$D/qemu.pid"), ssh 127.0.0.1:$PORT"
  rc=0
  vm_poll_ssh "$D" "$PORT" "$BOOT_TIMEOUT" || rc=$?
  if [ $rc = 0 ]; then
    awk -v n="$NAME" -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "[vm] %s: ssh up after %.1f s\n", n, b-a}' >&2
    exit 0
  fi
  tail -30 "$D/console.log" >&2
  what="no ssh after ${BOOT_TIMEOUT}s"; [ $rc = 2 ] && what="qemu died while booting"
  [ "$attempt" -lt "$RETRIES" ] || vm_die "$NAME: $what (boot $(( attempt + 1 )) of $(( RETRIES + 1 )))"
  vm_log "$NAME: RETRY: $what; the console's tail is above; powering it off and on again"
  # kept outside the VM's directory (destroy removes that): the console of the boot that failed
  mkdir -p "$VM_RUN/boot-retries"
  kept="$VM_RUN/boot-retries/$NAME-$(date -u +%Y%m%dT%H%M%SZ).console.log"
  cp -f "$D/console.log" "$kept"
  echo "$(date -u +%FT%TZ) $NAME: $what (boot $(( attempt + 1 ))); console: $kept" >> "$VM_RUN/boot-retries.log"
  if vm_pid_alive "$D"; then
    PID=$(cat "$D/qemu.pid")
    kill -KILL "$PID" 2>/dev/null || true
    for _ in $(seq 50); do vm_pid_alive "$D" || break; sleep 0.2; done
  fi
done
