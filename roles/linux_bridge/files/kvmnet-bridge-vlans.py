# Managed by kvmnet.hypervisor (linux_bridge role); changes are overwritten.
# SPDX-License-Identifier: GPL-3.0-or-later
# Installed as /etc/libvirt/hooks/qemu.d/kvmnet-bridge-vlans with "#!/usr/bin/python3" put before
# this line by the role (the collection's sanity tests allow no python3 shebang in its files).
"""libvirt qemu hook: the taps of a domain's Linux-bridge NICs get the VLANs kept for them.

libvirt (before 11.1) cannot put a tap on a Linux bridge into VLANs and makes a new tap at every
start. kvmnet.hypervisor.libvirt_iface keeps a NIC's VLANs in the domain's own XML, as libvirt
metadata keyed by the NIC's MAC address:

    <kvmnet:bridge-vlans xmlns:kvmnet="https://github.com/kvmnet/hypervisor/bridge-vlans">
      <kvmnet:interface mac="52:54:00:00:00:01" pvid="100" untagged="100" tagged=""/>
    </kvmnet:bridge-vlans>

libvirt runs this script as /etc/libvirt/hooks/qemu.d/kvmnet-bridge-vlans DOMAIN OPERATION SUBOP
EXTRA with the domain's XML on stdin. At "started" (the taps exist and are ports of their
bridges; also when a domain migrates in: the metadata travels with it) each such tap gets
exactly those VLANs with iproute2's bridge(8). A tap that cannot be given its VLANs fails the
start (exit 1): a guest must not run in the bridge's default VLAN by mistake. Every other
operation is left alone, and nothing is ever printed on stdout (libvirt would read it as XML).
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

NAMESPACE = "https://github.com/kvmnet/hypervisor/bridge-vlans"


def vids(text):
    """'1,100-110' -> [1, 100, ..., 110]."""
    out = []
    for part in (text or "").split(","):
        if part.strip():
            first, dummy, last = part.strip().partition("-")
            out += range(int(first), int(last or first) + 1)
    return out


def bridge(*args):
    """Run bridge(8) with ARGS; its output, or an exception saying what failed."""
    res = subprocess.run(["bridge"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=False)
    if res.returncode != 0:
        raise RuntimeError("bridge %s: %s" % (" ".join(args), res.stderr.strip() or "exit %d" % res.returncode))
    return res.stdout


def current_vlans(tap):
    """{vid: (pvid, untagged)} of TAP as bridge(8) shows them."""
    out = {}
    for dev in json.loads(bridge("-j", "vlan", "show", "dev", tap) or "[]"):
        for item in dev.get("vlans", []):
            flags = item.get("flags", [])
            for vid in range(item["vlan"], item.get("vlanEnd", item["vlan"]) + 1):
                out[vid] = ("PVID" in flags, "Egress Untagged" in flags)
    return out


def retag(tap, entry):
    """Give TAP exactly the VLANs of ENTRY (pvid, untagged, tagged): adds first, then deletes."""
    pvid = int(entry.get("pvid") or 0)
    want = {vid: (vid == pvid, True) for vid in vids(entry.get("untagged"))}
    want.update({vid: (vid == pvid, False) for vid in vids(entry.get("tagged"))})
    have = current_vlans(tap)
    for vid in sorted(want):
        if have.get(vid) != want[vid]:
            is_pvid, untagged = want[vid]
            bridge("vlan", "add", "dev", tap, "vid", str(vid), *(["pvid"] if is_pvid else []) +
                   (["untagged"] if untagged else []) + ["master"])
    for vid in sorted(set(have) - set(want)):
        bridge("vlan", "del", "dev", tap, "vid", str(vid), "master")


def main(argv, stdin):
    if len(argv) < 3 or argv[2] != "started":
        return 0
    root = ET.fromstring(stdin.read())
    node = root.find("metadata/{" + NAMESPACE + "}bridge-vlans")
    if node is None:
        return 0
    items = node.findall("{" + NAMESPACE + "}interface") + node.findall("interface")
    entries = {(i.get("mac") or "").lower(): i.attrib for i in items}
    status = 0
    for iface in root.findall("devices/interface"):
        mac, target = iface.find("mac"), iface.find("target")
        if iface.get("type") != "bridge" or iface.find("virtualport") is not None or mac is None or target is None:
            continue
        entry = entries.get((mac.get("address") or "").lower())
        if entry is None:
            continue
        try:
            retag(target.get("dev"), entry)
        except (RuntimeError, ValueError, OSError) as exc:
            sys.stderr.write("kvmnet-bridge-vlans: domain %s, interface %s (%s): %s\n"
                             % (argv[1], mac.get("address"), target.get("dev"), exc))
            status = 1
    return status


if __name__ == "__main__":
    os.environ["PATH"] = os.environ.get("PATH") or "/usr/sbin:/usr/bin:/sbin:/bin"
    sys.exit(main(sys.argv, sys.stdin))
