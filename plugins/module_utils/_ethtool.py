# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Channel counts (``ethtool -l`` / ``ethtool -L``) through the SIOCETHTOOL ioctl, no process.

pyroute2 0.7.2 has no ethtool-netlink channels API (0.9 does), so the one API both floors
share is the kernel's ioctl: ``struct ethtool_channels`` (nine u32: cmd, max_rx, max_tx,
max_other, max_combined, rx_count, tx_count, other_count, combined_count) pointed to by
``ifr_data`` of a ``struct ifreq``. Host network namespace only.
"""

from __future__ import annotations

import array
import fcntl
import socket
import struct
from typing import Any

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import os_error

SIOCETHTOOL = 0x8946
ETHTOOL_GCHANNELS = 0x3C
ETHTOOL_SCHANNELS = 0x3D
_FIELDS = ("max_rx", "max_tx", "max_other", "max_combined", "rx", "tx", "other", "combined")


def _call(ifname: str, values: list[int], what: str) -> list[int]:
    buf = array.array("B", struct.pack("9I", *values))
    ifreq = struct.pack("16sP", ifname.encode("utf-8"), buf.buffer_info()[0])
    ifreq += b"\0" * (40 - len(ifreq))  # sizeof(struct ifreq) on 64-bit
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    except OSError as exc:
        raise os_error(exc, "%s: %s" % (ifname, what)) from exc
    finally:
        sock.close()
    return list(struct.unpack("9I", buf.tobytes()))


def get_channels(ifname: str) -> dict[str, Any]:
    """``{max_rx, max_tx, max_other, max_combined, rx, tx, other, combined}`` of ``ifname``."""
    values = _call(ifname, [ETHTOOL_GCHANNELS] + [0] * 8, "reading channels (ETHTOOL_GCHANNELS)")
    return dict(zip(_FIELDS, values[1:]))


def set_channels(ifname: str, combined: int) -> None:
    """Set the number of combined channels, keeping the other counts (``ethtool -L combined N``)."""
    current = _call(ifname, [ETHTOOL_GCHANNELS] + [0] * 8, "reading channels (ETHTOOL_GCHANNELS)")
    current[0] = ETHTOOL_SCHANNELS
    current[8] = combined
    _call(ifname, current, "setting combined channels to %d (ETHTOOL_SCHANNELS)" % combined)
