#!/bin/sh
# Test fixture of verify (not part of any role): move each OVS internal port given as
# PORT=ADDRESS/PREFIX into its own network namespace ns-PORT, address it and bring it up, so
# that a ping between two of them has to cross Open vSwitch (in one namespace the kernel would
# answer locally). Idempotent per boot: after a reboot ovs-vswitchd recreates the internal ports
# in the root namespace (down) and the namespaces are gone, so this runs again.
set -eu
for spec in "$@"; do
  port=${spec%%=*}
  addr=${spec#*=}
  ns="ns-$port"
  if [ ! -e "/run/netns/$ns" ]; then
    ip netns add "$ns"
    ip -n "$ns" link set dev lo up
  fi
  if ip link show dev "$port" >/dev/null 2>&1; then
    ip link set dev "$port" netns "$ns"
    echo "moved $port"
  fi
  ip -n "$ns" addr replace "$addr" dev "$port"
  ip -n "$ns" link set dev "$port" up
done
