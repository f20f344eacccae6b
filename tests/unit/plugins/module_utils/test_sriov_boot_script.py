# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot-time SR-IOV re-apply script (kvmnet-sriov-apply), run for real as a process on a
fake sysfs, with a fake ``ip`` on PATH that only knows the interface names that exist.

Regression: at boot the unit started while the PF was still called eth4 (the kernel's name);
udev renamed it to enp1s0 and ``ip link set dev eth4 up`` failed. The script must use the PF's
name only once udev is done with the device, and look it up again at every ``ip`` call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _boot_scripts as boot

PCI = "0000:01:00.0"

FAKE_IP = r'''#!/bin/sh
# fake ip: "ip link set dev NAME ..." succeeds for a NAME that exists in the fake sysfs (the PF,
# whose "up" sets IFF_UP in its flags) or is listed in $KVMNET_TEST_OTHERS (another device:
# nothing of the PF changes); $KVMNET_TEST_RACE, when it exists, is run once first (a rename)
echo "$*" >> "$KVMNET_TEST_LOG"
if [ -f "$KVMNET_TEST_RACE" ]; then sh "$KVMNET_TEST_RACE"; rm -f "$KVMNET_TEST_RACE"; fi
pfnet="$KVMNET_SYSFS/bus/pci/devices/0000:01:00.0/net"
if [ -d "$pfnet/$4" ]; then
  [ "$5" = up ] && echo 0x1003 > "$pfnet/$4/flags"
  exit 0
fi
grep -qx "$4" "$KVMNET_TEST_OTHERS" 2>/dev/null && exit 0
echo "Cannot find device \"$4\"" >&2
exit 1
'''


def setup_tree(tmp_path, conf):
    pf = tmp_path / "sys" / "bus" / "pci" / "devices" / PCI
    (pf / "net" / "eth4").mkdir(parents=True)
    (pf / "net" / "eth4" / "ifindex").write_text("7\n")
    (pf / "net" / "eth4" / "flags").write_text("0x1002\n")  # down
    (pf / "sriov_numvfs").write_text("0\n")
    (pf / "sriov_drivers_autoprobe").write_text("1\n")
    for i in range(conf.get("numvfs") or 0):     # the fake kernel: VFs already there
        (pf / ("virtfn%d" % i)).mkdir()
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / (PCI + ".json")).write_text(json.dumps(conf))
    udev = tmp_path / "udev"
    udev.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ip").write_text(FAKE_IP)
    (bindir / "ip").chmod(0o755)
    script = tmp_path / "kvmnet-sriov-apply"
    script.write_text(boot.SRIOV_SCRIPT)
    env = dict(os.environ, KVMNET_SYSFS=str(tmp_path / "sys"), KVMNET_UDEV_DATA=str(udev),
               KVMNET_SRIOV_CONF_DIR=str(confdir), KVMNET_TEST_LOG=str(tmp_path / "ip.log"),
               KVMNET_TEST_OTHERS=str(tmp_path / "others"), KVMNET_TEST_RACE=str(tmp_path / "race.sh"),
               PATH="%s:%s" % (bindir, os.environ["PATH"]))
    return pf, udev, script, env


def test_waits_for_udev_rename_then_uses_the_final_name(tmp_path):
    conf = {"numvfs": 2, "bring_pf_up": True,
            "vfs": {"0": {"mac": "52:54:00:aa:00:00", "trust": True}}}
    pf, udev, script, env = setup_tree(tmp_path, conf)
    proc = subprocess.Popen([sys.executable, str(script), PCI], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    # still waiting: udev has not finished with eth4, nothing was run yet
    assert proc.poll() is None
    assert not (tmp_path / "ip.log").exists()
    # udev renames the NIC and records it
    (pf / "net" / "eth4").rename(pf / "net" / "enp1s0")
    (udev / "n7").write_text("")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    calls = (tmp_path / "ip.log").read_text().splitlines()
    assert calls == ["link set dev enp1s0 up",
                     "link set dev enp1s0 vf 0 mac 52:54:00:aa:00:00 trust on"]
    assert (pf / "sriov_numvfs").read_text().strip() == "2"
    assert (pf / "net" / "enp1s0" / "flags").read_text().strip() == "0x1003"


def test_pf_up_is_checked_on_the_pf_not_on_a_name_a_vf_took_over(tmp_path):
    """Regression (VM tier, hypervisor scenario): udev renamed the PF (eth4 -> enp1s0) between
    the script's name lookup and its `ip link set dev eth4 up`, and a VF had just been given
    the name eth4: ip brought the VF up and succeeded, the PF stayed down, and every VF rate
    limit then failed with EINVAL until the unit gave up."""
    conf = {"numvfs": 2, "bring_pf_up": True, "vfs": {"1": {"max_tx_rate": 100}}}
    pf, udev, script, env = setup_tree(tmp_path, conf)
    (udev / "n7").write_text("")  # udev is done with the PF as eth4 ...
    (tmp_path / "race.sh").write_text(  # ... and renames it as ip starts; a VF becomes eth4
        "mv %s %s; echo eth4 > %s\n" % (pf / "net" / "eth4", pf / "net" / "enp1s0", tmp_path / "others"))
    res = subprocess.run([sys.executable, str(script), PCI], env=env, capture_output=True, check=False,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ip.log").read_text().splitlines() == [
        "link set dev eth4 up", "link set dev enp1s0 up", "link set dev enp1s0 vf 1 max_tx_rate 100"]
    assert (pf / "net" / "enp1s0" / "flags").read_text().strip() == "0x1003"


def test_gives_up_with_a_clear_message_when_udev_never_finishes(tmp_path):
    pf, udev, script, env = setup_tree(tmp_path, {"numvfs": 0})
    script.write_text(boot.SRIOV_SCRIPT.replace("time.time() + 300", "time.time() + 1"))
    res = subprocess.run([sys.executable, str(script), PCI], env=env, capture_output=True, check=False,
                         text=True, timeout=30)
    assert res.returncode != 0
    assert "udev not done" in res.stderr
    assert not (tmp_path / "ip.log").exists()
