#!/bin/sh
# The LACP partner of bond0 (a switch stand-in): enp0s7 + enp0s8 in an 802.3ad Linux bond inside
# the network namespace "partner". Idempotent; prints "created" when it changed something.
set -eu
if ip netns exec partner ip link show lbond >/dev/null 2>&1; then exit 0; fi
ip netns add partner 2>/dev/null || true
for nic in enp0s7 enp0s8; do
  if ip link show "$nic" >/dev/null 2>&1; then ip link set "$nic" down; ip link set "$nic" netns partner; fi
done
ip -n partner link add lbond type bond mode 802.3ad miimon 100 lacp_rate fast
ip -n partner link set enp0s7 master lbond
ip -n partner link set enp0s8 master lbond
ip -n partner link set lbond up
ip -n partner link set lo up
ip -n partner addr add 10.8.0.2/24 dev lbond
echo created
