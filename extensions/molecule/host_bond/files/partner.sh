#!/bin/sh
# The partner of bond0 (a switch stand-in): enp0s7 + enp0s8 in a Linux bond inside the network
# namespace "partner". $1 = bond0's mode: 802.3ad (default; LACP, fast rate) or active-backup
# (primary enp0s7, the NIC wired to bond0's primary enp0s5). Idempotent; prints "created" when
# it changed something.
set -eu
mode=${1:-802.3ad}
case $mode in
  802.3ad) opts="mode 802.3ad miimon 100 lacp_rate fast" ;;
  active-backup) opts="mode active-backup miimon 100" ;;
  *) echo "partner.sh: unknown mode $mode" >&2; exit 2 ;;
esac
if ip netns exec partner ip link show lbond >/dev/null 2>&1; then exit 0; fi
ip netns add partner 2>/dev/null || true
for nic in enp0s7 enp0s8; do
  if ip link show "$nic" >/dev/null 2>&1; then ip link set "$nic" down; ip link set "$nic" netns partner; fi
done
# shellcheck disable=SC2086 # $opts is a list of words
ip -n partner link add lbond type bond $opts
ip -n partner link set enp0s7 master lbond
ip -n partner link set enp0s8 master lbond
if [ "$mode" = active-backup ]; then ip -n partner link set lbond type bond primary enp0s7; fi
ip -n partner link set lbond up
ip -n partner link set lo up
ip -n partner addr add 10.8.0.2/24 dev lbond
echo created
