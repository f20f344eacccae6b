# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter ``fleet_report``: the static HTML page of playbooks/report.yml (documented in
fleet_report.yml beside this file). The page is built by plugin_utils/_report.py; this filter
checks its input and draws each host's picture with the ``topology_svg`` filter (Graphviz)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmnet.hypervisor.plugins.filter.topology import topology_svg
from ansible_collections.kvmnet.hypervisor.plugins.plugin_utils import _report


def fleet_report(value: Any, check: Any = None, title: str = "KVM hypervisor fleet", generated: str = "",
                 pictures: bool = True) -> str:
    """The report page of ``value`` (host name -> network_info result) and ``check`` (what the
    ``kvmnet.hypervisor.drift`` callback wrote: ``{"hosts": {name: ...}}``)."""
    if not isinstance(value, dict):
        raise AnsibleFilterError("fleet_report: expected a dict of host name -> network_info result, got %s"
                                 % type(value).__name__)
    if check is None:
        checked = None
    elif isinstance(check, dict) and isinstance(check.get("hosts"), dict):
        checked = check["hosts"]
    else:
        raise AnsibleFilterError("fleet_report: check must be the drift callback's output (a dict with 'hosts'), "
                                 "got %s" % type(check).__name__)
    hosts = []
    for name, info in value.items():
        if not isinstance(info, dict):
            raise AnsibleFilterError("fleet_report: the network_info result of host %s is a %s, not a dict"
                                     % (name, type(info).__name__))
        host = {"name": name, "info": info, "check": None if checked is None else checked.get(name)}
        if pictures and "state" in info:
            host["svg"] = topology_svg(info, title=name)
        hosts.append(host)
    return _report.render_html(hosts, title=title, generated=generated)


class FilterModule:
    """kvmnet.hypervisor's fleet report filter."""

    def filters(self) -> dict[str, Any]:
        return {"fleet_report": fleet_report}
