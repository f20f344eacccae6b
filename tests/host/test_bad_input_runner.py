# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input sweep as the VM tier runs it, on this machine (issue 12).

tests/badinput/generate.py writes the cases (fixed seed) and the zip payload; the payload runs
in ONE separate Python process (``python sweep.pyz cases.json --env env.json --report ...``)
and makes its own beds (tests/badinput/beds.py), as on a managed host, here pointed at
the private OVS and the private libvirtd of the host tier. The modules whose backend this
kernel lacks are skipped by the runner with the reason, and this test checks they are exactly
those. ``KVT_SWEEP_RUNNER_EXAMPLES`` (default 6) and ``KVT_SWEEP_SEED`` (default 12) choose the
cases. The in-process sweep with hypothesis drawing live is tests/host/test_bad_input_sweep.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATE = os.path.join(os.path.dirname(HERE), "badinput", "generate.py")
EXAMPLES = int(os.environ.get("KVT_SWEEP_RUNNER_EXAMPLES", "6"))
SEED = os.environ.get("KVT_SWEEP_SEED", "12")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces, OVS, libvirtd: needs root")

#: what this machine lacks (tests/host/test_bad_input_sweep.py runs these on trees under a test root)
SKIPPED_HERE = {
    "nic_bond": "no bonding module in this kernel",
    "vhost_net": "no vhost_net module in this kernel",
    "pci_device": "no PCI device named (env pci)",
    "sriov_vf": "no SR-IOV PF named (env sriov_pf)",
    "irq_affinity": "no multi-queue NIC named (env irq_if)",
}


def test_the_payload_runs_the_generated_cases(libvirtd, tmp_path):
    cases, payload, report = tmp_path / "cases.json", tmp_path / "sweep.pyz", tmp_path / "report.json"
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PATH": os.environ["PATH"]}
    subprocess.run([sys.executable, GENERATE, "--examples", str(EXAMPLES), "--seed", SEED, "--cases", str(cases),
                    "--payload", str(payload)], check=True, env=env)
    (tmp_path / "env.json").write_text(json.dumps({
        "ovs_db": libvirtd.ovs.db, "ovs_netns": libvirtd.netns.name, "ovs_datapath": "netdev",
        "uri": libvirtd.uri, "libvirt_netns": libvirtd.netns.name, "tmp": str(tmp_path)}))
    # the payload brings its own ansible.module_utils and collection: nothing of build/src is used
    proc = subprocess.run([sys.executable, str(payload), str(cases), "--env", str(tmp_path / "env.json"),
                           "--report", str(report)], capture_output=True, text=True, check=False,
                          env={"PATH": os.environ["PATH"]}, timeout=900)
    print(proc.stdout, proc.stderr)
    assert report.exists(), proc.stderr
    data = json.loads(report.read_text())
    skipped = {m: e["skipped"] for m, e in data["modules"].items() if "skipped" in e}
    expected = dict(SKIPPED_HERE)
    if os.path.isdir("/sys/module/bonding"):
        expected.pop("nic_bond")
    assert {m: r.split(" (", maxsplit=1)[0] for m, r in skipped.items()} == {
        m: r.split(" (", maxsplit=1)[0] for m, r in expected.items()}
    ran = [m for m in data["modules"] if m not in skipped]
    assert len(ran) >= 10, data["modules"]
    assert data["cases"] > 0 and data["refused"] == data["cases"] - len(data["findings"])
    assert not data["findings"], proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
