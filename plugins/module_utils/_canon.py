# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical forms: the one place that says how values are compared.

Rules (desired and current state are both passed through these before planning):

* Every pattern matches the whole text (``re.fullmatch``): ``$`` would also match before a
  trailing newline, so ``"52:54:00:6b:00:01\n"`` would pass for a MAC address.
* MAC addresses: lower case, colon separated, six octets (``00-16-3E-AA-BB-CC`` and
  ``0016.3eaa.bbcc`` are accepted as input; no surrounding whitespace).
* Interface names: the kernel's ``dev_valid_name()``: 1 to 15 bytes, not ``.`` or ``..``, no
  byte that is ``/``, ``:`` or a space to the kernel's ``isspace()`` (tab, newline, vertical
  tab, form feed, carriage return, space, and 0xa0, which is part of some UTF-8 characters).
* Network namespace names: iproute2's, the name of a file under ``/run/netns``: 1 to 255
  bytes, not ``.`` or ``..``, no ``/`` or NUL (:func:`netns_name`, the one check of every
  module's ``netns`` option).
* CPU sets: a sorted tuple of CPU numbers 0 to 8191 (the largest ``NR_CPUS`` a kernel is
  built with is 8192); ``0-3``, ``0,1,2,3`` and the mask ``f`` are the same set. Lists print
  in the kernel's ``smp_affinity_list`` form (``0-3,8``), masks in the ``smp_affinity`` form (comma separated groups of 32 bits, ``00000000,0000000f``).
* OVS column values: strings (``True`` -> ``"true"``, ``10`` -> ``"10"``), maps of strings.
* VLAN ids: integers 0..4095 as OVS accepts; 802.1Q tags proper are 1..4094.
* PCI addresses: the kernel's ``dddd:bb:ss.f`` in lower case; ``bb:ss.f`` (domain 0), upper
  case, surrounding whitespace and libvirt's ``<address domain= bus= slot= function=/>``
  attributes are accepted.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._common_args import DEFAULT_LIBVIRT_URI
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput

IFNAMSIZ = 16  # including the terminating NUL: names are at most 15 bytes

#: every pattern is used with fullmatch() (a "$" would let a trailing newline through)
_MAC_COLON = re.compile(r"(?:[0-9a-f]{1,2}[:-]){5}[0-9a-f]{1,2}")
_MAC_DOTTED = re.compile(r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}")
_PCI_RE = re.compile(r"(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])")
_CPU_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_HEX = re.compile(r"[0-9a-f]+")
#: NAME_MAX: a named network namespace is the file /run/netns/NAME (iproute2's ``ip netns``)
NETNS_NAME_MAX = 255
#: the largest CPU number: CONFIG_NR_CPUS is at most 8192 (x86 MAXSMP, powerpc); a bound that
#: also keeps "0-4294967295" from building a set of four billion CPUs
CPU_MAX = 8191


def mac(value: Any, option: str = "mac") -> str:
    """Return ``value`` as ``aa:bb:cc:dd:ee:ff`` or raise InvalidInput naming ``option``."""
    text = str(value).lower()
    if _MAC_COLON.fullmatch(text):
        digits = "".join(part.zfill(2) for part in re.split(r"[:-]", text))
    elif _MAC_DOTTED.fullmatch(text):
        digits = text.replace(".", "")
    else:
        raise InvalidInput(option, value, "is not a MAC address (expected six octets like 52:54:00:12:34:56)")
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def unicast_mac(value: Any, option: str = "mac") -> str:
    """Like :func:`mac`, but refuse multicast/broadcast and all-zero addresses (not usable on a NIC)."""
    text = mac(value, option)
    if int(text[:2], 16) & 1:
        raise InvalidInput(option, value, "is a multicast address; a NIC needs a unicast MAC (first octet even)")
    if text == "00:00:00:00:00:00":
        raise InvalidInput(option, value, "is the all-zero address")
    return text


#: the bytes the kernel's isspace() is true for (lib/ctype.c: 9-13, 32 and 160)
KERNEL_SPACE_BYTES = frozenset(b"\t\n\v\f\r \xa0")


def ifname(value: Any, option: str = "name") -> str:
    """Validate a Linux interface name exactly as the kernel's ``dev_valid_name()`` does.

    The kernel checks the bytes of the name: ``à`` (UTF-8 ``c3 a0``) holds the byte 0xa0, which
    its ``isspace()`` counts as a space, so the kernel refuses it, and so does this.
    """
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int)):
        raise InvalidInput(option, value, "is not an interface name (a string of 1 to 15 bytes)")
    text = str(value)
    data = text.encode("utf-8", "surrogateescape")
    if not data:
        raise InvalidInput(option, value, "is empty; an interface name is 1 to 15 bytes")
    if len(data) >= IFNAMSIZ:
        raise InvalidInput(option, value, "is %d bytes long; Linux interface names are at most 15 bytes" % len(data))
    if text in (".", ".."):
        raise InvalidInput(option, value, "is not a valid interface name (not '.' or '..')")
    if b"\0" in data:
        raise InvalidInput(option, value, "is not a valid interface name (it contains a NUL byte)")
    bad = sorted({c for c in data if c in KERNEL_SPACE_BYTES or c in b"/:"})
    if bad:
        raise InvalidInput(option, value, "is not a valid interface name (no '/', ':' or whitespace; "
                                          "found byte%s %s)" % ("s" if len(bad) > 1 else "",
                                                                ", ".join("0x%02x" % c for c in bad)))
    return text


def netns_name(value: Any, option: str = "netns") -> str | None:
    """A named network namespace as iproute2 names them, or None (the host's own namespace).

    The name is a file under ``/run/netns``: 1 to 255 bytes, not ``.`` or ``..``, no ``/``
    and no NUL (iproute2's rules), and, stricter, no control character. ``""`` is refused, not taken for the host's namespace: leave the option unset
    for that. Checked before any namespace is entered.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(option, value, "is not a network namespace name (a string)")
    data = value.encode("utf-8", "surrogateescape")
    if not data:
        raise InvalidInput(option, value, "is empty; name a namespace of 'ip netns list', or leave %s unset "
                                          "for the host's own namespace" % option)
    if len(data) > NETNS_NAME_MAX:
        raise InvalidInput(option, value, "is %d bytes long; a network namespace name is at most %d bytes"
                           % (len(data), NETNS_NAME_MAX))
    if value in (".", ".."):
        raise InvalidInput(option, value, "is not a network namespace name (not '.' or '..')")
    if "/" in value:
        raise InvalidInput(option, value, "is not a network namespace name (it contains '/'; the name of a file "
                                          "under /run/netns, not a path)")
    if "\0" in value:
        raise InvalidInput(option, value, "is not a network namespace name (it contains a NUL byte)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        # iproute2 would take them; a name with a newline or an escape breaks every listing
        raise InvalidInput(option, value, "is not a network namespace name (it contains a control character)")
    return value


def cpus_parse(value: Any, option: str = "cpus") -> tuple[int, ...]:
    """Parse a CPU list (``"0-3,8"``, ``[0, 1, "4-5"]``, ``3``) into a sorted tuple of CPUs."""
    if isinstance(value, bool):
        raise InvalidInput(option, value, "is not a CPU list")
    if isinstance(value, int):
        items: Iterable[Any] = [value]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        text = str(value).replace(" ", "")
        if not text:
            raise InvalidInput(option, value, "is an empty CPU list (expected e.g. 0-3,8)")
        items = text.split(",")
    cpus = set()
    for item in items:
        text = str(item).strip()
        if not text:
            raise InvalidInput(option, value, "has an empty item in the CPU list (expected e.g. 0-3,8)")
        match = _CPU_RANGE.fullmatch(text)
        if not match:
            raise InvalidInput(option, value, "is not a CPU list (expected e.g. 0-3,8)")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise InvalidInput(option, value, "has a descending range %s" % text)
        if high > CPU_MAX:
            raise InvalidInput(option, value, "names CPU %d; Linux numbers CPUs 0-%d at most" % (high, CPU_MAX))
        cpus.update(range(low, high + 1))
    if not cpus:
        raise InvalidInput(option, value, "is an empty CPU list")
    return tuple(sorted(cpus))


def cpus_format(cpus: Iterable[int]) -> str:
    """Format CPUs the way /proc/irq/N/smp_affinity_list does: ``0-3,8``."""
    ordered = sorted(set(cpus))
    parts = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else "%d-%d" % (ordered[i], ordered[j]))
        i = j + 1
    return ",".join(parts)


def mask_to_cpus(mask: str, option: str = "mask") -> tuple[int, ...]:
    """Parse a hex CPU mask (``f``, ``0x0f``, ``00000000,0000000f``) into CPUs."""
    text = str(mask).strip().lower().replace(",", "")
    if text.startswith("0x"):
        text = text[2:]
    if not _HEX.fullmatch(text):
        raise InvalidInput(option, mask, "is not a hexadecimal CPU mask")
    number = int(text, 16)
    return tuple(i for i in range(number.bit_length()) if number >> i & 1)


def cpus_to_mask(cpus: Iterable[int], width: int | None = None) -> str:
    """Format CPUs as the kernel prints ``smp_affinity`` and rps_cpus: 32-bit hex groups.

    ``width`` is the number of CPUs the mask must cover (defaults to enough for the set);
    the empty set is ``0``.
    """
    number = 0
    for cpu in cpus:
        number |= 1 << cpu
    bits = max(width or 0, number.bit_length(), 1)
    groups = (bits + 31) // 32
    words = ["%08x" % (number >> (32 * g) & 0xFFFFFFFF) for g in reversed(range(groups))]
    return ",".join(words)


def ovs_value(value: Any) -> str:
    """OVSDB string columns and map values: booleans as true/false, numbers as decimal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ovs_map(value: dict[str, Any] | None) -> dict[str, str]:
    """A map column (other_config, external_ids, options) with string keys and values."""
    return {str(k): ovs_value(v) for k, v in (value or {}).items()}


def vlan_tag(value: Any, option: str = "tag") -> int:
    """An 802.1Q VLAN id, 1..4094 (0 and 4095 are reserved)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(option, value, "is not a VLAN id (an integer 1-4094)") from None
    if isinstance(value, bool) or not 1 <= number <= 4094:
        raise InvalidInput(option, value, "is out of range; VLAN ids are 1-4094")
    return number


def pci_address(value: Any, option: str = "address") -> str:
    """Canonical PCI address ``dddd:bb:ss.f`` or InvalidInput naming ``option``.

    Accepts ``0000:03:10.1``, ``03:10.1`` (domain 0), upper case hex, and a dict of libvirt's
    ``<address>`` attributes (``{"domain": "0x0000", "bus": "0x03", ...}``).
    """
    if isinstance(value, dict):
        try:
            parts = [int(str(value.get(k, "0")), 0) for k in ("domain", "bus", "slot", "function")]
        except ValueError:
            raise InvalidInput(option, value, "is not a PCI address") from None
        dom, bus, slot, func = parts
        if not (0 <= dom <= 0xffff and 0 <= bus <= 0xff and 0 <= func <= 7):
            raise InvalidInput(option, value, "is not a PCI address (domain, bus or function out of range)")
    else:
        match = _PCI_RE.fullmatch(str(value).strip())
        if not match:
            raise InvalidInput(option, value, "is not a PCI address (expected dddd:bb:ss.f like 0000:03:10.1)")
        dom, bus, slot, func = (int(match.group(1) or "0", 16), int(match.group(2), 16), int(match.group(3), 16),
                                int(match.group(4)))
    if not 0 <= slot <= 0x1f:
        raise InvalidInput(option, value, "has a slot above 0x1f")
    return "%04x:%02x:%02x.%x" % (dom, bus, slot, func)


def is_pci_address(value: Any) -> bool:
    """Whether ``value`` parses as a PCI address (:func:`pci_address`), e.g. a sysfs device name."""
    try:
        pci_address(value)
    except InvalidInput:
        return False
    return True


#: a libvirt connection URI as virConnectOpen takes it: ``driver[+transport]://[user@][host][:port]/[path][?query]``
#: (RFC 3986 with an authority part, which libvirt's virURIParse requires for every driver URI)
_LIBVIRT_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(/[^?#]*)?(\?[^#]*)?(#.*)?")


def libvirt_uri(value: Any, option: str = "uri") -> str:
    """The libvirt connection URI of a module (the one check of every module's ``uri``): None is
    the default (``qemu:///system``); anything else must be a URI libvirt can parse -- a scheme,
    ``://``, then no whitespace, control character or NUL (libvirt's C string would end at the
    NUL and connect somewhere else). An empty string is refused: libvirt would take it as "probe
    for a default", which is not what a user who wrote ``uri: ''`` can rely on."""
    if value is None:
        return DEFAULT_LIBVIRT_URI
    text = value if isinstance(value, str) else str(value)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7f for c in text):
        raise InvalidInput(option, value, "is not a libvirt URI (whitespace or a control character)")
    if not _LIBVIRT_URI_RE.fullmatch(text):
        raise InvalidInput(option, value, "is not a libvirt URI (expected driver://[host]/path, "
                                          "e.g. qemu:///system or qemu+ssh://host/system)")
    return text
