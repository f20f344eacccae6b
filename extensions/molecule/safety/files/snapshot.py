#!/usr/bin/env python
"""usage: snapshot.py [LINK...]   (links to leave out besides lo)

What an operator compares before and after a rollback, as JSON on stdout: every link of the
root namespace but lo (kind, master, MTU, MAC, admin state), every address but IPv6 link-local
(the kernel makes those itself), the main routing table, and the bytes and mode of every file of
the network stacks (systemd-networkd, NetworkManager keyfiles, ifupdown)."""
import hashlib
import json
import os
import subprocess
import sys

SKIP = {"lo"} | set(sys.argv[1:])       # links to leave out (given as arguments)


def ip(*args):
    return json.loads(subprocess.check_output(["ip", "-j"] + list(args)) or b"[]")


links = {}
for link in ip("-d", "link", "show"):
    if link["ifname"] in SKIP:
        continue
    links[link["ifname"]] = {
        "kind": (link.get("linkinfo") or {}).get("info_kind"),
        "slave_kind": (link.get("linkinfo") or {}).get("info_slave_kind"),
        "master": link.get("master"), "mtu": link.get("mtu"), "mac": link.get("address"),
        "up": "UP" in link.get("flags", []),
    }
addresses = {}
for link in ip("addr", "show"):
    found = sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info", [])
                   if not (a.get("family") == "inet6" and a.get("scope") == "link"))
    if found and link["ifname"] not in SKIP:
        addresses[link["ifname"]] = found
routes = sorted("%s via %s dev %s" % (r["dst"], r.get("gateway", "-"), r.get("dev")) for r in ip("route", "show", "table", "main"))
files = {}
for top in ("/etc/systemd/network", "/etc/NetworkManager/system-connections", "/etc/network"):
    for base, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(base, name)
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    files[path] = "%o %s" % (os.stat(path).st_mode & 0o7777, hashlib.sha256(handle.read()).hexdigest())
print(json.dumps({"links": links, "addresses": addresses, "routes": routes, "files": files}, indent=1, sort_keys=True))
