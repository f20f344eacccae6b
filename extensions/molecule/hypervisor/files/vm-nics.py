#!/usr/bin/env python
"""Print the live NICs of the domains named as arguments, read from libvirt and the kernel, as
JSON: {mac: {domain, type, tap, master, vlans, queues}} plus "bridges": {ifname: vlans} for the
bridges' own VLANs (`bridge vlan show` of the bridge device)."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


vlans = {e["ifname"]: e.get("vlans", []) for e in json.loads(run("bridge", "-j", "vlan", "show") or "[]")}
links = {link["ifname"]: link for link in json.loads(run("ip", "-j", "link", "show"))}
out = {"bridges": {name: vlans.get(name) for name, link in links.items()
                   if link.get("link_type") == "ether" and name in vlans and "master" not in link}}
for dom in sys.argv[1:]:
    root = ET.fromstring(run("virsh", "dumpxml", dom))
    for iface in root.iter("interface"):
        target = iface.find("target")
        driver = iface.find("driver")
        tap = target.get("dev") if target is not None else None
        out[iface.find("mac").get("address")] = {
            "domain": dom, "type": iface.get("type"), "tap": tap,
            "master": links.get(tap, {}).get("master"), "vlans": vlans.get(tap),
            "queues": driver.get("queues") if driver is not None else None}
print(json.dumps(out, sort_keys=True))
