#!/usr/bin/env bash
# Stop a VM started by vm-up.sh and delete its overlay, tap, namespace (--tap-netns) and state.
# usage: vm-down.sh NAME...
# The VM is stopped by the pid in its pid file (checked against qemu's command line),
# never by process name. Missing VMs are fine (idempotent); always exits 0 unless a
# process refuses to die.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rc=0
for NAME in "$@"; do
  D=$VM_RUN/$NAME
  [ -d "$D" ] || continue
  if vm_pid_alive "$D"; then
    PID=$(cat "$D/qemu.pid")
    kill -TERM "$PID" 2>/dev/null        # the overlay is thrown away: no clean shutdown needed
    for _ in $(seq 1 40); do vm_pid_alive "$D" || break; sleep 0.25; done
    vm_pid_alive "$D" && kill -KILL "$PID" 2>/dev/null
    for _ in $(seq 1 20); do vm_pid_alive "$D" || break; sleep 0.25; done
    if vm_pid_alive "$D"; then vm_log "could not stop $NAME (pid $PID)"; rc=1; continue; fi
    vm_log "$NAME: stopped qemu pid $PID"
  fi
  if [ -s "$D/tap" ]; then
    TAP=$(cat "$D/tap")
    ip link show "$TAP" >/dev/null 2>&1 && ip link del "$TAP" 2>/dev/null
  fi
  # the namespace of --tap-netns (deleting it deletes the tap inside)
  if [ -s "$D/netns" ]; then
    NS=$(cat "$D/netns")
    ip netns list | grep -q "^$NS\( \|$\)" && { ip netns del "$NS" || rc=1; }
  fi
  rm -rf "$D"
done
exit $rc
