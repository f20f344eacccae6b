#!/usr/bin/env bash
# Power a lab VM on again after the guest rebooted (a reboot ends qemu: vm-up.sh uses
# -no-reboot), with the same disk overlay, devices and ssh port, and wait for ssh.
#
# usage: tests/vm/vm-restart.sh NAME [--timeout S]
#   waits up to S seconds (default 300) for the guest's reboot to end its qemu, then starts
#   qemu again from $KVMNET_VM_RUN/NAME/args and waits for ssh (KVMNET_VM_BOOT_TIMEOUT, 300 s).
#   If qemu is still running after S seconds the guest did not reboot: the console's tail is
#   shown and the VM is left as it is (destroy removes it).
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
echo "--- power on again $(date -u +%FT%TZ) ---" >> "$D/console.log"
T0=$(date +%s.%N)
# -serial file: truncates the console log: keep the previous boot's next to it
cp -f "$D/console.log" "$D/console.prev.log"
qemu-system-x86_64 "${ARGS[@]}" 8>&- 9>&- </dev/null >"$D/qemu.out" 2>&1 || {
  cat "$D/qemu.out" >&2; vm_die "qemu failed to start $NAME again"; }
vm_log "$NAME: qemu pid $(cat "$D/qemu.pid"), ssh 127.0.0.1:$PORT"
vm_wait_ssh "$D" "$NAME" "$PORT" "${KVMNET_VM_BOOT_TIMEOUT:-300}" "$T0"
