# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connectivity probes run on the managed host before a checkpoint is confirmed.

``{ping: ADDRESS, count: 3, timeout: 2}``: ``ping`` (iputils) sends ``count`` echo requests,
waiting ``timeout`` seconds for each reply; at least one reply passes. ICMP needs a raw socket
and ping is on every host, so it is run (an argument list, through ``_command``).
``{tcp: HOST:PORT, timeout: 5}`` (``[2001:db8::1]:22`` for IPv6): a TCP connection opens
within ``timeout`` seconds (a socket, nothing is run).
Both take ``wait`` (seconds, default 0): a failed probe is tried again, a second apart, until
it passes or ``wait`` seconds have passed since its first try (a network that takes a while to
settle after the change: a daemon reconfiguring, LACP negotiating, a bridge port learning).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._command import find_program, run_command
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import InvalidInput, KvmnetError

_HOSTNAME = re.compile(r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
PING_DEFAULTS = {"count": 3, "timeout": 2, "wait": 0}
TCP_DEFAULTS = {"timeout": 5, "wait": 0}
LIMITS = {"count": (1, 20), "timeout": (1, 60), "wait": (0, 600)}
#: seconds between two tries of a probe given ``wait``
RETRY_PAUSE = 1.0


def _host(option: str, value: Any) -> str:
    """An IP address or a DNS name (never something ping could take for an option)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(option, value, "must be an IP address or a host name")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(value):
        raise InvalidInput(option, value, "is neither an IP address nor a valid host name")
    if value.rstrip(".").rsplit(".", 1)[-1].isdigit():
        # no top-level domain is all digits (RFC 3696 2): 10.0.0.300 or 1.2.3 is a mistyped
        # address, which ping's inet_aton() would even take for another one (1.2.3 is 1.2.0.3)
        raise InvalidInput(option, value, "is not an IP address, and a host name cannot end in a number")
    return value


def _split_host_port(option: str, value: Any) -> tuple[str, int]:
    if not isinstance(value, str):
        raise InvalidInput(option, value, "must be HOST:PORT ([ADDRESS]:PORT for IPv6)")
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)", value) or re.fullmatch(r"([^:\[\]]+):(\d+)", value)
    if not match:
        raise InvalidInput(option, value, "must be HOST:PORT ([ADDRESS]:PORT for IPv6)")
    host = _host(option, match.group(1))
    port = int(match.group(2))
    if not 1 <= port <= 65535:
        raise InvalidInput(option, value, "has a port outside 1-65535")
    return host, port


def _number(option: str, value: Any, field: str) -> int:
    low, high = LIMITS[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(option, value, "must be a whole number from %d to %d" % (low, high))
    return value


def normalize(probes: Any, option: str = "probes") -> list[dict[str, Any]]:
    """Validate the probes; canonical ``{"ping": addr, "count", "timeout", "wait"}`` /
    ``{"tcp": "host:port", "host", "port", "timeout", "wait"}`` (None: no probes)."""
    if probes is None:
        return []
    if not isinstance(probes, list):
        raise InvalidInput(option, probes, "must be a list of {ping: ADDRESS} or {tcp: HOST:PORT}")
    out = []
    for index, probe in enumerate(probes):
        name = "%s[%d]" % (option, index)
        if not isinstance(probe, dict):
            raise InvalidInput(name, probe, "must be {ping: ADDRESS} or {tcp: HOST:PORT}")
        given = {k: v for k, v in probe.items() if v is not None}
        kinds = [k for k in ("ping", "tcp") if k in given]
        if len(kinds) != 1:
            raise InvalidInput(name, probe, "must have exactly one of %s.ping, %s.tcp" % (name, name))
        kind = kinds[0]
        allowed = {"ping", "count", "timeout", "wait"} if kind == "ping" else {"tcp", "timeout", "wait"}
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise InvalidInput("%s.%s" % (name, unknown[0]), given[unknown[0]], "does not apply to a %s probe" % kind)
        if kind == "ping":
            canon: dict[str, Any] = {"ping": _host("%s.ping" % name, given["ping"])}
            for field, default in PING_DEFAULTS.items():
                canon[field] = _number("%s.%s" % (name, field), given.get(field, default), field)
        else:
            host, port = _split_host_port("%s.tcp" % name, given["tcp"])
            canon = {"tcp": given["tcp"], "host": host, "port": port}
            for field, default in TCP_DEFAULTS.items():
                canon[field] = _number("%s.%s" % (name, field), given.get(field, default), field)
        out.append(canon)
    return out


def describe(probe: dict[str, Any]) -> str:
    """``ping 192.0.2.1`` / ``tcp 192.0.2.1:22``"""
    return "ping %s" % probe["ping"] if "ping" in probe else "tcp %s" % probe["tcp"]


def require_programs(probes: list[dict[str, Any]]) -> None:
    """Fail before anything is done when a probe needs a program the host lacks."""
    for index, probe in enumerate(probes):
        if "ping" in probe:
            find_program("ping", "probes[%d].ping %s" % (index, probe["ping"]), package="iputils-ping")


def run_probe(probe: dict[str, Any]) -> dict[str, Any]:
    """Run one probe, again while it fails within its ``wait``:
    ``{"probe", "passed", "detail", "seconds", "tries"}`` (the last try's detail)."""
    started = time.monotonic()
    tries = 0
    while True:
        tries += 1
        passed, detail = _try(probe)
        if passed or time.monotonic() - started + RETRY_PAUSE > probe.get("wait", 0):
            break
        time.sleep(RETRY_PAUSE)
    return {"probe": describe(probe), "passed": passed, "detail": detail.strip(),
            "seconds": round(time.monotonic() - started, 3), "tries": tries}


def _try(probe: dict[str, Any]) -> tuple[bool, str]:
    """One try of a probe: (passed, what it printed or why it failed)."""
    if "ping" in probe:
        argv = ["ping", "-n", "-q", "-c", str(probe["count"]), "-W", str(probe["timeout"]), probe["ping"]]
        try:
            proc = run_command(argv, "probe %s" % describe(probe), check=False,
                               timeout=probe["count"] * (probe["timeout"] + 1) + 5, package="iputils-ping")
            passed = proc.returncode == 0
            lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
            summary = [line for line in lines if "transmitted" in line]
            detail = (summary or lines or ["ping rc %d" % proc.returncode])[-1]
        except KvmnetError as exc:
            passed, detail = False, exc.msg
    else:
        try:
            with socket.create_connection((probe["host"], probe["port"]), timeout=probe["timeout"]):
                passed, detail = True, "connected"
        except OSError as exc:
            passed, detail = False, str(exc.strerror or exc)
    return passed, detail


def run_probes(probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run every probe (all of them, also after a failure: the result shows each)."""
    return [run_probe(probe) for probe in probes]
