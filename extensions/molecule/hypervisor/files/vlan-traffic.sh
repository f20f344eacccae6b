#!/usr/bin/env bash
# Traffic across the VLAN-aware br0 (issue 18): four network namespaces on br0 through veth
# pairs, kvt-a and kvt-b access ports of VLAN 10, kvt-c and kvt-d of VLAN 20, all in one IP
# subnet. Same VLAN must pass, across VLANs must not (VLAN filtering, not routing, separates
# them). Prints one line per check; exit 1 when a check fails. Removes what it made.
set -u
ns=(kvt-a kvt-b kvt-c kvt-d); vid=(10 10 20 20)
# the host ends first (synchronous): a netns is torn down asynchronously after `ip netns del`
cleanup() { for n in "${ns[@]}"; do ip link del "$n" 2>/dev/null; ip netns del "$n" 2>/dev/null; done; }
trap cleanup EXIT
cleanup
for i in 0 1 2 3; do
  n=${ns[$i]}
  ip netns add "$n"
  ip link add "$n" type veth peer name eth0 netns "$n"
  ip link set "$n" master br0 up
  bridge vlan del dev "$n" vid 1
  bridge vlan add dev "$n" vid "${vid[$i]}" pvid untagged
  ip -n "$n" addr add "192.168.77.$((i + 1))/24" dev eth0
  ip -n "$n" link set eth0 up
done
rc=0
check() {  # from to expect(pass|blocked)
  if ip netns exec "$1" ping -c 2 -W 2 -q "$2" >/dev/null 2>&1; then got=pass; else got=blocked; fi
  echo "$1 -> $2: $got (expected $3)"
  [ "$got" = "$3" ] || rc=1
}
check kvt-a 192.168.77.2 pass      # VLAN 10 -> VLAN 10
check kvt-c 192.168.77.4 pass      # VLAN 20 -> VLAN 20
check kvt-a 192.168.77.3 blocked   # VLAN 10 -> VLAN 20
check kvt-d 192.168.77.2 blocked   # VLAN 20 -> VLAN 10
exit $rc
