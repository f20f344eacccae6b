# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input sweep's strategies: mutations drawn from a module's own argument spec. The
module-specific parts (valid bases, name classes, ranges, contradicting groups) are
tests/badinput/tables.py; running and judging a case is tests/badinput/runner.py.

A :class:`Mutation` changes ONE option (a top-level option, a sub-option such as
``ports[0].name`` or a list element such as ``members[0]``) or, for a contradiction, sets a
small explicit group of options together. :func:`mutations` builds a hypothesis strategy
from the argument spec (``module_contract`` of tests/perf/engine_bench.py) and the base:

* ``type``: a value of the wrong type for the option's spec type (a dict or list where a str
  goes, a list / dict / text / float for an int, an unconvertible text / dict / list / 2 for a
  bool, a dict for a list, a list or text for a dict);
* ``range``: an int out of range: any negative, anything from 2**32 up (not for timeouts: a
  huge timeout is only a generous bound), plus the option's own bad values (VLAN 4096, MTU 67, ...);
* ``name``: an impossible name of the option's class (kernel interface name, netns name,
  libvirt object name, PCI address, MAC, CPU list, IP address, ...): fixed known-bad values and
  generated ones (a valid-looking name with one forbidden character inserted, 16+ bytes);
* ``missing``: a well-formed name of an object that does not exist (for options that refer to
  one: ports, members, lower devices, PFs, domains, PCI addresses, drivers, bridges);
* ``choice``: a value outside the option's choices;
* ``contradiction``: a pair of options that cannot hold together (the module's table).

Only invalid input is drawn: a drawn input that a module accepts is a finding of the sweep
(either the module's validation or this classification is wrong; both get fixed).
"""

from __future__ import annotations

import copy
import string

from hypothesis import strategies as st


class Mutation:
    """One bad input: ``sets`` maps option paths (tuples: ``("ports", 0, "name")``) to values.
    ``path`` is the path that must be named (None for a contradiction: any of its paths)."""

    def __init__(self, kind, sets, note=""):
        self.kind = kind
        self.sets = dict(sets)
        self.note = note

    @property
    def paths(self):
        return list(self.sets)

    def label(self):
        return ", ".join("%s=%r" % (path_label(p), v) for p, v in self.sets.items())

    def apply(self, base):
        params = copy.deepcopy(base)
        for path, value in self.sets.items():
            set_path(params, path, value)
        return params

    def case(self, module, base):
        """This mutation of ``base`` as a case of tests/badinput/runner.py (plain JSON data)."""
        return {"module": module, "kind": self.kind, "note": self.note, "label": self.label(),
                "paths": [list(p) for p in self.paths], "params": self.apply(base)}

    def __repr__(self):
        return "Mutation(%s: %s%s)" % (self.kind, self.label(), " [%s]" % self.note if self.note else "")


def path_label(path):
    """``("ports", 0, "name")`` -> ``ports[0].name``."""
    out = ""
    for part in path:
        out += "[%d]" % part if isinstance(part, int) else ("." if out else "") + part
    return out


def set_path(params, path, value):
    node = params
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(part, int):
            node = node[part]
            continue
        if node.get(part) is None:
            node[part] = [] if isinstance(nxt, int) else {}
        node = node[part]
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


# ------------------------------------------------------------------------------ strategies
IFNAME_BAD = ["", "a" * 16, "kvt x", "kvt/x", "..", ".", "kvt\nx", "kvt:x", "kvt\x00x", "\u00e9" * 8, "kvt\tx"]
#: kernel interface names: dev_valid_name() -- 1 to 15 bytes, not . or .., no '/', ':' or whitespace;
#: NUL is impossible too (a netlink string ends there: "kvt\0x" would name the device "kvt").
#: ';' IS a valid kernel name (not drawn for interfaces).
IFNAME_FORBIDDEN = "/: \n\t\x00"
NETNS_BAD = ["", ".", "..", "kvt/x", "kvt\x00x", "kvt\nx"]
#: OVSDB-only names (patch port peers): any length, but not empty, no path parts, no control characters
OVS_NAME_BAD = ["", ".", "..", "kvt/x", "kvt\nx", "kvt\x00x", "kvt\tx"]
LIBVIRT_NAME_BAD = ["", ".", "..", "kvt/x", "kvt x", "kvt;x", "kvt\nx", "kvt\x00x"]
PCI_BAD = ["", "zz:00.0", "0000:00:00.8", "00:20.0", "10000:00:00.0", "0000:00:00", "0000:00:00.0.0", "00:00.0;x"]
MAC_BAD = ["", "52:54:00:6b:00", "52:54:00:6b:00:01:02", "zz:54:00:6b:00:01", "01:00:5e:00:00:01",
           "ff:ff:ff:ff:ff:ff", "52-54-00-6b-00-01x", "52:54:00:6b:00:1\n"]
MAC_BAD_DEVICE = MAC_BAD + ["00:00:00:00:00:00"]  # a device's own MAC; a VF's may be all-zero (unset)
CPUS_BAD = ["", "0,,1", ",", "3-1", "a", "-1", "0-", "99999", "0-99999", "1.5", "0;1"]
IP_BAD = ["", "10.0.0.300", "abc", "10.0.0", "10.0.0.1/24x", "::g", "10.0.0.1\n"]
CIDR_BAD = ["", "10.77.0.300/24", "10.77.0.5/33", "10.77.0.5/", "abc/24", "10.77.0.5/-1", "2001:db8::1/129"]
URI_BAD = ["", "kvt-nope:///system", "qemu:///kvt-nope", "not a uri"]
#: a URI only used for some plans (sriov_vf: the busy check): only what no URI can be
URI_SYNTAX_BAD = ["", "not a uri", "qemu:///system\n", "qemu:///system\x00"]
DB_BAD = ["", "unix:/kvt-nonexistent/db.sock", "tcp:256.0.0.1:6640", "kvt-nope:x"]
DRIVER_BAD = ["", "..", ".", "kvt/x", "kvt x", "kvt\nx", "kvt\x00x"]
#: a checkpoint id: 1 to 64 of letters, digits, '.', '_', '-', starting with a letter or digit (a file name)
CHECKPOINT_ID_BAD = ["", ".", "..", "../kvt", "kvt/x", "kvt\x00x", "kvt\nx", "kvt x", "-kvt", "a" * 65]
#: a probe's host: an IP address or a DNS name, never something ping could take for an option
PROBE_HOST_BAD = ["", "-c1", "-f", "kvt x", "kvt\nx", "kvt\x00x", "kvt/x", "kvt..x", "10.0.0.1\n", "a" * 64 + ".kvt",
                  "10.0.0.300", "1.2.3"]
#: a TCP probe: HOST:PORT ([ADDRESS]:PORT for IPv6), port 1-65535
HOST_PORT_BAD = ["", "192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:", ":22", "2001:db8::1:22",
                 "[2001:db8::1]", "192.0.2.1:22\n", "-x:22", "192.0.2.1:22x", "192.0.2.1: 22", "kvt x:22",
                 "[kvt]:22", "192.0.2.1:99999999999999999999"]
FREE_BAD = ["", "kvt bogus", "kvt\nx", "kvt\x00x"]

CLASSES = {
    # class: (impossible values, forbidden characters for generated names, nonexistent-name maker)
    "ifname": (IFNAME_BAD, IFNAME_FORBIDDEN),
    "netns": (NETNS_BAD, "/\x00"),
    "ovs_name": (OVS_NAME_BAD, "/\n\t\x00"),
    "libvirt_name": (LIBVIRT_NAME_BAD, "/ ;\n\x00"),
    "domain": ([], ""),
    "pci": (PCI_BAD, ""),
    "mac": (MAC_BAD_DEVICE, ""),
    "vf_mac": (MAC_BAD, ""),
    "cpus": (CPUS_BAD, ""),
    "rps_cpus": ([v for v in CPUS_BAD if v != ""], ""),  # '' is documented: RPS off
    "ip": (IP_BAD, ""),
    "cidr": (CIDR_BAD, ""),
    "uri": (URI_BAD, ""),
    "uri_syntax": (URI_SYNTAX_BAD, ""),
    "database": (DB_BAD, ""),
    "driver": (DRIVER_BAD, "/ \n\x00"),
    "checkpoint_id": (CHECKPOINT_ID_BAD, "/ :;\n\x00"),
    "probe_host": (PROBE_HOST_BAD, "/ :;\n\x00"),
    "host_port": (HOST_PORT_BAD, ""),
    "free": (FREE_BAD, ""),
}

_ALNUM = string.ascii_lowercase + string.digits


def _short(min_size=1, max_size=6):
    return st.text(alphabet=_ALNUM, min_size=min_size, max_size=max_size)


def generated_names(forbidden, long=False):
    """Valid-looking names with one forbidden character inserted; with ``long``, names of 16 to
    40 bytes (kernel interface names only: netns and libvirt names may be long)."""
    out = [st.builds(lambda a, c, b: "kvt" + a + c + b, _short(0, 4), st.sampled_from(forbidden), _short(0, 4))] \
        if forbidden else []
    if long:
        out.append(st.builds(lambda s: "kvt" + s, _short(13, 37)))
    return out


def missing_names(cls):
    """Well-formed names of things that do not exist."""
    if cls in ("ifname",):
        return st.builds(lambda s: "kvtno" + s, _short(1, 6))
    if cls == "netns":
        return st.builds(lambda s: "kvt-no-such-ns-" + s, _short(1, 6))
    if cls in ("domain", "libvirt_name"):
        return st.builds(lambda s: "kvt-no-such-" + s, _short(1, 6))
    if cls == "pci":  # PCI domain 0xfff0..0xfffe: never populated
        return st.builds(lambda d, b, s, f: "%04x:%02x:%02x.%d" % (d, b, s, f),
                         st.integers(0xfff0, 0xfffe), st.integers(0, 255), st.integers(0, 31), st.integers(0, 7))
    if cls == "driver":
        return st.builds(lambda s: "kvtnodrv" + s, _short(1, 6))
    raise ValueError(cls)


def type_values(optspec):
    """Values of a wrong type for the option's spec type (what a typo in YAML gives)."""
    kind = optspec.get("type", "str")
    if kind in ("str", "path"):
        return [{"kvt": "x"}, ["kvt0", "kvt1"]]
    if kind == "int":
        return [{"kvt": 1}, [1, 2], "kvt", "1.5", 1.5, "0x10 bogus"]
    if kind == "bool":
        return ["maybe", {"kvt": True}, [True], 2, "2"]
    if kind == "list":
        return [{"kvt": 1}]
    if kind == "dict":
        return [[1, 2], "not a dict", 5]
    return []


def int_range_values(bad_extra, huge_ok):
    strategies = [st.integers(max_value=-1)]
    if not huge_ok:
        strategies.append(st.integers(min_value=2 ** 32, max_value=2 ** 70))
    if bad_extra:
        strategies.append(st.sampled_from(list(bad_extra)))
    return st.one_of(strategies)


def walk(spec, base, prefix=()):
    """(path, option spec) of every option, sub-option and list element the sweep can mutate:
    sub-options of a list of dicts through its first item in ``base`` (the base must hold one),
    an element of a list of str / int as one more element after the base's."""
    for name, optspec in sorted(spec.items()):
        path = prefix + (name,)
        yield path, optspec
        value = base.get(name) if isinstance(base, dict) else None
        if optspec.get("options"):
            if optspec.get("type") == "list":
                if value:
                    yield from walk(optspec["options"], value[0], path + (0,))
            else:
                yield from walk(optspec["options"], value or {}, path)
        elif optspec.get("type") == "list" and optspec.get("elements") in ("str", "int"):
            # one bad element appended: the valid ones stay (a member replaced would also break
            # whatever refers to it, e.g. nic_bond's primary, and the refusal would name that)
            yield path + (len(value or []),), {"type": optspec["elements"], "choices": optspec.get("choices"),
                                               "element": True}


def option_key(path):
    """The key of a path in a module's tables: ``ports[].name``, ``members[]``, ``mtu``."""
    return path_label(tuple("[]" if isinstance(p, int) else p for p in path)).replace(".[]", "[]")


def mutations(spec, base, classes=None, ranges=None, huge_ok=(), contradictions=(), skip=()):
    """The hypothesis strategy of single mutations for one module.

    ``classes``: option key -> name class (``{"ports[].name": "ifname", "members[]": "ifname+"}``;
    a trailing ``+`` means the option refers to an existing object: also draw missing names).
    ``ranges``: option key -> extra bad ints. ``huge_ok``: keys where a huge int is valid.
    ``contradictions``: list of ``({path: value, ...}, note)``. ``skip``: keys not mutated (with
    the reason in the test file)."""
    classes = classes or {}
    ranges = ranges or {}
    per_option = []
    for path, optspec in walk(spec, base):
        key = option_key(path)
        if key in skip:
            continue
        element = optspec.get("element", False)
        draws = []
        kind = optspec.get("type", "str")
        if not element:
            draws.append(st.sampled_from(type_values(optspec)).map(lambda v, p=path: Mutation("type", {p: v})))
        if kind == "int":
            draws.append(int_range_values(ranges.get(key), key in huge_ok).map(
                lambda v, p=path: Mutation("range", {p: v})))
        if optspec.get("choices"):
            bad = st.sampled_from(["kvt-bogus", "", "PRESENT"]) if kind != "int" else st.just(-7)
            if kind == "list" and not element:
                bad = bad.map(lambda v: [v])
            draws.append(bad.map(lambda v, p=path: Mutation("choice", {p: v})))
        cls = classes.get(key)
        if cls:
            ref = cls.endswith("+")
            cls = cls.rstrip("+")
            fixed, forbidden = CLASSES[cls]
            names = ([st.sampled_from(fixed)] if fixed else []) + generated_names(forbidden, long=cls == "ifname")
            if names:
                draws.append(st.one_of(names).map(lambda v, p=path: Mutation("name", {p: v})))
            if ref:
                draws.append(missing_names(cls).map(lambda v, p=path: Mutation("missing", {p: v})))
        if draws:
            per_option.append(st.one_of(draws))
    if contradictions:
        per_option.append(st.sampled_from(list(contradictions)).map(
            lambda c: Mutation("contradiction", c[0], c[1])))
    return st.one_of(per_option)
