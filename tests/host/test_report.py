# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/report.yml end to end: three inventory hosts on this machine (connection local; one
reached over ssh on a closed loopback port, so unreachable). network_info reads the host (read-only),
libvirt's test driver stands in for libvirtd; hv-drift's variables ask for a guest interface the
test driver's domain lacks, so the check run of playbooks/hypervisor.yml finds drift there only.
Nothing on the host changes: the check run is in check mode and the libvirt test driver lives
inside each process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from lxml import html as lxml_html
from testbed.playbook import REPO, ansible_playbook_bin

pytestmark = pytest.mark.usefixtures("kvt_root")

TEST_URI = "test:///default"
DRIFT = [{"uri": TEST_URI, "domain": "test", "mac": "52:54:00:00:00:99", "type": "network", "source": "default"}]


def _report(tmp_path, *extra, **extra_vars):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"hypervisors": {
        # hv-ok: a checkpoint opened with this timeout would fail the host; the check run opens none
        "hosts": {"hv-ok": dict(local, kvmnet_checkpoint_timeout="not-a-number"), "hv-drift": dict(local, kvmnet_domain_interfaces=DRIFT),
                  "hv-gone": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                              "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes"}},
        "vars": {"kvmnet_gather_uri": TEST_URI, "kvmnet_gather_database": "unix:%s/db.sock" % tmp_path}}}))
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "src"))
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.abspath(env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0])
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    extra_vars.setdefault("kvmnet_report_dest", str(tmp_path / "report.html"))
    argv = [ansible_playbook_bin(), "-i", str(inventory), "kvmnet.hypervisor.report", "-e", json.dumps(extra_vars)]
    done = subprocess.run(argv + list(extra), capture_output=True, text=True, env=env, timeout=600, check=False,
                          cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return lxml_html.parse(extra_vars["kvmnet_report_dest"]).getroot()


def _statuses(page):
    return dict(zip(page.xpath('//section[@class="host"]/@data-host'), page.xpath('//section[@class="host"]/@data-status')))


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_report_finds_the_drift(tmp_path, check):
    page = _report(tmp_path, *(["--check"] if check else []))
    assert _statuses(page) == {"hv-ok": "in sync", "hv-drift": "drifting", "hv-gone": "unreachable"}
    assert page.xpath('//ul[@id="drifting-hosts"]/li/@data-host') == ["hv-drift"]
    rows = page.xpath('//section[@data-host="hv-drift"]//table[@class="drift"]/tr[td]')
    assert len(rows) == 1
    cells = [c.text_content() for c in rows[0].xpath("td")]
    assert cells[1] == "kvmnet.hypervisor.libvirt_iface" and "test 52:54:00:00:00:99" in cells[0]
    assert cells[2].startswith("attach test/52:54:00:00:00:99"), cells
    # the test driver's domain "test" counts as a VM on the gathered hosts
    assert page.xpath('//tr[@data-host="hv-ok"]/td[@data-count="vms"]')[0].text_content() == "1"
    # pictures inline (Graphviz is a host package), nothing loaded from elsewhere
    assert len(page.xpath('//div[@class="picture"]/*[local-name()="svg"]')) == 2
    assert not page.xpath("//script | //link | //img | //iframe")


def test_report_without_the_check(tmp_path):
    page = _report(tmp_path, kvmnet_report_check=False, kvmnet_report_pictures=False)
    assert _statuses(page) == {"hv-ok": "not checked", "hv-drift": "not checked", "hv-gone": "unreachable"}
    assert not page.xpath('//div[@class="picture"]')


def test_check_args_reach_the_check_run(tmp_path):
    """kvmnet_report_check_args go to the check run, after its own -e: turning the checkpoint back on
    there makes hv-ok's invalid kvmnet_checkpoint_timeout fail it (so the other tests really run
    without a checkpoint), and the page says why."""
    page = _report(tmp_path, kvmnet_report_check_args=["--extra-vars", '{"kvmnet_checkpoint": true}'],
                   kvmnet_report_pictures=False)
    assert _statuses(page)["hv-ok"] == "check failed"
    cells = [c.text_content() for c in page.xpath('//section[@data-host="hv-ok"]//table[@class="drift"]/tr/td')]
    assert cells[1] == "kvmnet.hypervisor.checkpoint"
    assert "argument 'timeout'" in cells[2]
