# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report in a real browser: headless Chromium (the Debian package) opens the page the
``fleet_report`` filter builds for three copies of the lab hypervisor (the golden gathered state,
one copy drifted, one unreachable), takes a screenshot into build/report-browser/ and dumps the
DOM it built; the test reads that DOM: the SVG of the lab holds the nodes of bond0, br1, br-vm,
the four VFs and both domains, and the drifted host (only it) is listed as drifting.

Chromium runs in a network namespace of its own with nothing but a loopback that is down
(``unshare --net``): the page must draw without any network, and the browser cannot reach out.
Root is needed for that namespace (the host tier runs as root) and Chromium then needs
``--no-sandbox``. scripts/setup.sh installs chromium (scripts/packages-host.txt), so the test
skips only on a machine where it is genuinely missing.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from lxml import html as lxml_html

from ansible_collections.kvmnet.hypervisor.plugins.filter import report as F
from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _topology

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "unit" / "plugins" / "module_utils" / "golden"  # network_info's: the lab
REPORT_GOLDEN = REPO / "tests" / "unit" / "plugins" / "plugin_utils" / "golden" / "report"
OUT = REPO / "build" / "report-browser"
CHROMIUM = shutil.which("chromium")
#: Chromium's first start on two shared cores takes a while; a page without script renders at once
TIMEOUT = 180

pytestmark = [
    pytest.mark.usefixtures("kvt_root"),
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian package chromium; "
                                                "scripts/setup.sh installs it from scripts/packages-host.txt)"),
]


def _load(*path):
    with open(GOLDEN.joinpath(*path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _lab_info():
    state = _load("network_info", "lab-state.yml")
    return {"changed": False, "state": state, "topology": _topology.build_topology(state),
            "unmanaged": _load("network_info", "lab-unmanaged.yml"), "notes": [], "vars": {}, "modules": {}}


def _chromium(*args):
    """Chromium headless in a network namespace of its own, with a throwaway profile."""
    with tempfile.TemporaryDirectory(prefix="kvt-chromium-") as profile:
        cmd = ["unshare", "--net", CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=" + profile, *args]
        done = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-3000:]
    return done.stdout.decode("utf-8")


@pytest.fixture(scope="module", name="page")
def _page():
    """The report written to build/report-browser/fleet.html, its DOM as Chromium built it, the screenshot."""
    infos = {"kvmnet-lab": _lab_info(), "kvmnet-lab-drifted": _lab_info(),
             "kvmnet-lab-down": {"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}}
    text = F.fleet_report(infos, check=yaml.safe_load((REPORT_GOLDEN / "fleet-check.yml").read_text(encoding="utf-8")), title="kvmnet lab fleet",
                          generated="2026-11-30T17:00:00Z")
    OUT.mkdir(parents=True, exist_ok=True)
    report = OUT / "fleet.html"
    report.write_text(text, encoding="utf-8")
    shot = OUT / "fleet.png"
    if shot.exists():
        shot.unlink()
    url = report.as_uri()
    _chromium("--window-size=1400,2400", "--hide-scrollbars", "--screenshot=%s" % shot, url)
    dom = _chromium("--dump-dom", url)
    return {"dom": lxml_html.fromstring(dom), "raw": dom, "shot": shot}


def _nodes(dom, host):
    """The ids (Graphviz writes them as each node's <title>) of the nodes drawn for ``host``."""
    return {t.text_content() for t in dom.xpath(
        '//section[@data-host="%s"]//div[@class="picture"]//*[local-name()="g" and contains(@class, "node")]'
        '/*[local-name()="title"]' % host)}


def test_the_picture_holds_the_lab(page):
    nodes = _nodes(page["dom"], "kvmnet-lab")
    expected = {"if:bond0", "if:br1", "ovs:br-vm", "vm:guest1", "vm:guest2",
                "pci:0000:01:10.0", "pci:0000:01:10.2", "pci:0000:01:10.4", "pci:0000:01:10.6"}
    assert expected <= nodes, sorted(expected - nodes)
    # each picture is the host's own <svg>, inline: one per gathered host, none for the unreachable one
    assert len(page["dom"].xpath('//div[@class="picture"]/*[local-name()="svg"]')) == 2
    assert _nodes(page["dom"], "kvmnet-lab-down") == set()


def test_the_drifted_host_is_listed_as_drifting(page):
    dom = page["dom"]
    assert dom.xpath('//ul[@id="drifting-hosts"]/li/@data-host') == ["kvmnet-lab-drifted"]
    statuses = dict(zip(dom.xpath('//section[@class="host"]/@data-host'),
                        dom.xpath('//section[@class="host"]/@data-status')))
    assert statuses == {"kvmnet-lab": "in sync", "kvmnet-lab-drifted": "drifting", "kvmnet-lab-down": "unreachable"}
    ops = [c.text_content() for c in dom.xpath('//section[@data-host="kvmnet-lab-drifted"]//ul[@class="ops"]/li')]
    assert ops == ["modify bond0 (miimon: 100 -> 200)", "modify_port br-vm/vm10 (tag: 10 -> 30)"]
    counts = dom.xpath('//tr[@data-host="kvmnet-lab"]/td[@data-count]')
    assert [c.text_content() for c in counts] == ["2", "1 / 4", "2", "10, 20, 100"]


def test_the_screenshot(page):
    data = page["shot"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2400)
    # a blank page compresses to a few KB; the tables and pictures do not
    assert len(data) > 50_000, len(data)
    sys.stdout.write("screenshot: %s\n" % os.path.relpath(page["shot"], REPO))
