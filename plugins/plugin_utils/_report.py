# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: one static HTML page from every host's network_info result and the drift a
check-mode run of playbooks/hypervisor.yml found (playbooks/report.yml; docs/brownfield.md).

Controller-side only (plugin_utils: never shipped to a host, so not in a checkpoint's copy of
module_utils) and pure: nothing here reads a host, starts a process or names anything outside
the page. The pictures come in as SVG text (the ``fleet_report`` filter draws them with
Graphviz); the page carries its CSS inline and no script, link or font, so it works offline and
from a file:// URL, and contacts nothing when opened.

A host's ``check`` is what the ``kvmnet.hypervisor.drift`` callback wrote for it::

    {"unreachable": false, "failed": false,
     "tasks": [{"task": "...", "action": "kvmnet.hypervisor.nic_bond", "item": "bond0",
                "changed": true, "failed": false, "msg": "", "operations": [{"action", "target", ...}]}]}

The status of a host, in the order it is decided: ``unreachable`` (when gathered or checked),
``not gathered`` (network_info failed), ``check failed`` (the check run could not tell),
``not checked`` (no check result for the host), ``drifting`` (a task would change something),
``in sync``.
"""

from __future__ import annotations

import html
import re
from typing import Any

#: every status, and the CSS class that colours it
STATUSES = {
    "in sync": "ok",
    "drifting": "drift",
    "check failed": "fail",
    "unreachable": "fail",
    "not checked": "unknown",
    "not gathered": "fail",
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{background:#1e293b;color:#f8fafc;padding:1rem 2rem}
header h1{margin:0 0 .3rem 0;font-size:1.5rem}
header p{margin:0;color:#cbd5e1}
main{padding:1rem 2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem 0;background:#fff}
th,td{border:1px solid #cbd5e1;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#e2e8f0}
td.num{text-align:right}
.status{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;font-size:.85rem;font-weight:600}
.status.ok{background:#dcfce7;color:#166534}
.status.drift{background:#fef3c7;color:#92400e}
.status.fail{background:#fee2e2;color:#991b1b}
.status.unknown{background:#e2e8f0;color:#334155}
section.host{background:#fff;border:1px solid #cbd5e1;border-radius:.4rem;margin:1.5rem 0;padding:.5rem 1rem}
section.host h2{font-size:1.2rem}
.picture{overflow:auto;border-top:1px solid #e2e8f0;padding-top:.5rem}
.picture svg{max-width:100%;height:auto}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.85rem}
ul.ops{margin:0;padding-left:1.2rem}
p.note{color:#475569}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _anchor(host: str) -> str:
    return "host-" + re.sub(r"[^A-Za-z0-9_.-]", "_", host)


# -- counts ---------------------------------------------------------------------------------
def _domain_views(state: dict[str, Any]):
    for dom_name, dom in ((state.get("libvirt") or {}).get("domains") or {}).items():
        for view in ("config", "live"):
            yield dom_name, dom.get(view) or {}


def vfs_in_use(state: dict[str, Any]) -> list[str]:
    """PCI addresses of the host's VFs that a domain holds (a ``<hostdev>`` or a hostdev
    interface, live or in its definition), sorted."""
    vfs = {vf.get("pci") for pf in (state.get("sriov") or {}).values() for vf in pf.get("vfs") or []}
    used = set()
    for dummy, view in _domain_views(state):
        used |= {h.get("source") for h in view.get("hostdevs") or []}
        used |= {i.get("source") for i in view.get("interfaces") or [] if i.get("type") == "hostdev"}
    return sorted(used & vfs - {None})


def vlans(state: dict[str, Any]) -> list[int]:
    """Every VLAN id the host uses: OVS port tags and trunks, VF VLANs, VLAN links and the VLANs
    of the domains' interfaces."""
    ids: set[int] = set()
    for bridge in ((state.get("ovs") or {}).get("bridges") or {}).values():
        for port in bridge.get("ports") or []:
            if port.get("tag") is not None:
                ids.add(int(port["tag"]))
            ids |= {int(t) for t in port.get("trunks") or []}
    for pf in (state.get("sriov") or {}).values():
        ids |= {int(vf["vlan"]) for vf in pf.get("vfs") or [] if vf.get("vlan")}
    for link in state.get("links") or []:
        if link.get("kind") == "vlan" and link.get("vlan_id") is not None:
            ids.add(int(link["vlan_id"]))
    for dummy, view in _domain_views(state):
        for iface in view.get("interfaces") or []:
            ids |= {int(t) for t in (iface.get("vlan") or {}).get("tags") or []}
    return sorted(ids)


def host_counts(state: dict[str, Any]) -> dict[str, Any]:
    """The numbers the report shows for a host's gathered ``state``."""
    ovs_bonds = (state.get("ovs") or {}).get("bonds") or {}
    domains = (state.get("libvirt") or {}).get("domains") or {}
    return {
        "bonds": len(state.get("bonds") or {}) + len(ovs_bonds),
        "vfs": sum(len(pf.get("vfs") or []) for pf in (state.get("sriov") or {}).values()),
        "vfs_in_use": len(vfs_in_use(state)),
        "vms": len(domains),
        "vms_running": sum(1 for d in domains.values() if d.get("running")),
        "vlans": vlans(state),
    }


# -- status ---------------------------------------------------------------------------------
def drift_tasks(check: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The tasks of a host's check run that would change something or failed."""
    return [t for t in (check or {}).get("tasks") or [] if t.get("changed") or t.get("failed")]


def host_status(info: dict[str, Any] | None, check: dict[str, Any] | None) -> str:
    """One of :data:`STATUSES` for a host (see the module docstring for the order)."""
    if info and info.get("unreachable"):
        return "unreachable"
    if not info or info.get("failed") or "state" not in info:
        return "not gathered"
    if check is None:
        return "not checked"
    if check.get("unreachable"):
        return "unreachable"
    if check.get("failed"):
        return "check failed"
    return "drifting" if drift_tasks(check) else "in sync"


def describe_operation(op: dict[str, Any]) -> str:
    """An operation as one line: ``modify bond0 (miimon: 100 -> 200)``, ``create br1``."""
    text = "%s %s" % (op.get("action", "?"), op.get("target", "?"))
    changes = op.get("changes") or {}
    if changes:
        text += " (%s)" % ", ".join("%s: %s -> %s" % (k, (v or {}).get("before"), (v or {}).get("after"))
                                    for k, v in sorted(changes.items()))
    extra = ["%s=%s" % (k, v) for k, v in sorted(op.items())
             if k not in ("action", "target", "changes") and isinstance(v, (str, int, float, bool))]
    if extra:
        text += " [%s]" % ", ".join(extra)
    return text


# -- the page -------------------------------------------------------------------------------
def _svg_body(svg: str) -> str:
    """Graphviz's SVG without the XML declaration and DOCTYPE, to sit inline in HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""


def _counts_row(name: str, status: str, counts: dict[str, Any] | None) -> str:
    cells = ['<td><a href="#%s">%s</a></td>' % (_anchor(name), _e(name)),
             '<td><span class="status %s">%s</span></td>' % (STATUSES[status], _e(status))]
    if counts is None:
        cells += ['<td class="num">-</td>'] * 4
    else:
        cells += ['<td class="num" data-count="bonds">%d</td>' % counts["bonds"],
                  '<td class="num" data-count="vfs-in-use">%d / %d</td>' % (counts["vfs_in_use"], counts["vfs"]),
                  '<td class="num" data-count="vms">%d</td>' % counts["vms"],
                  '<td data-count="vlans">%s</td>' % (_e(", ".join(str(v) for v in counts["vlans"])) or "-")]
    return '<tr data-host="%s" data-status="%s">%s</tr>' % (_e(name), _e(status), "".join(cells))


def _drift_table(tasks: list[dict[str, Any]]) -> str:
    rows = []
    for task in tasks:
        ops = task.get("operations") or []
        if ops:
            what = '<ul class="ops">%s</ul>' % "".join("<li><code>%s</code></li>" % _e(describe_operation(op))
                                                       for op in ops)
        elif task.get("failed"):
            what = "failed: %s" % _e(task.get("msg") or "")
        else:
            what = "would change (the task returns no operations)"
        item = (" <code>%s</code>" % _e(task["item"])) if task.get("item") else ""
        rows.append("<tr><td>%s%s</td><td><code>%s</code></td><td>%s</td></tr>" % (
            _e(task.get("task")), item, _e(task.get("action")), what))
    return ('<table class="drift"><tr><th>task</th><th>module</th><th>what differs</th></tr>%s</table>'
            % "".join(rows))


def _host_section(host: dict[str, Any], status: str, counts: dict[str, Any] | None) -> str:
    name = host["name"]
    info = host.get("info") or {}
    check = host.get("check") or {}
    out = ['<section class="host" id="%s" data-host="%s" data-status="%s">' % (_anchor(name), _e(name), _e(status)),
           '<h2>%s <span class="status %s">%s</span></h2>' % (_e(name), STATUSES[status], _e(status))]
    if counts is None:
        out.append('<p class="note">network_info did not return: %s</p>' % _e(info.get("msg") or "no result"))
    else:
        out.append("<p>%d bonds, %d of %d VFs in use, %d VMs (%d running), VLANs %s</p>" % (
            counts["bonds"], counts["vfs_in_use"], counts["vfs"], counts["vms"], counts["vms_running"],
            _e(", ".join(str(v) for v in counts["vlans"])) or "none"))
    if status == "drifting" or (status == "check failed" and drift_tasks(check)):
        out.append("<h3>What differs (check mode of playbooks/hypervisor.yml)</h3>")
        out.append(_drift_table(drift_tasks(check)))
    elif status in ("unreachable", "check failed") and counts is not None:
        out.append('<p class="note">the check run could not tell: %s</p>' % _e(check.get("msg") or status))
    if info.get("unmanaged"):
        out.append("<h3>Not managed by the collection</h3><ul>%s</ul>" % "".join(
            "<li><code>%s</code>: %s</li>" % (_e(u.get("object")), _e(u.get("reason"))) for u in info["unmanaged"]))
    if info.get("notes"):
        out.append("<h3>Not gathered</h3><ul>%s</ul>" % "".join("<li>%s</li>" % _e(n) for n in info["notes"]))
    if host.get("svg"):
        out.append('<div class="picture">%s</div>' % _svg_body(host["svg"]))
    out.append("</section>")
    return "\n".join(out)


def render_html(hosts: list[dict[str, Any]], title: str = "KVM hypervisor fleet", generated: str = "") -> str:
    """The report page. ``hosts`` is a list of ``{"name", "info", "check", "svg"}``: ``info`` the
    host's network_info result (or the failed result), ``check`` what the drift callback wrote for
    it (None: not checked), ``svg`` its picture (optional)."""
    hosts = sorted(hosts, key=lambda h: str(h["name"]))
    rows, sections, drifting = [], [], []
    for host in hosts:
        status = host_status(host.get("info"), host.get("check"))
        gathered = isinstance(host.get("info"), dict) and "state" in host["info"]
        counts = host_counts(host["info"]["state"]) if gathered else None
        rows.append(_counts_row(host["name"], status, counts))
        sections.append(_host_section(host, status, counts))
        if status == "drifting":
            drifting.append(host["name"])
    tally = {s: sum(1 for h in hosts if host_status(h.get("info"), h.get("check")) == s) for s in STATUSES}
    summary = ", ".join("%d %s" % (n, s) for s, n in tally.items() if n)
    drift_list = ("<p>No host drifts from its variables.</p>" if not drifting else
                  '<ul id="drifting-hosts">%s</ul>' % "".join(
                      '<li data-host="%s"><a href="#%s">%s</a></li>' % (_e(n), _anchor(n), _e(n)) for n in drifting))
    page = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="generator" content="kvmnet.hypervisor report">',
        "<title>%s</title>" % _e(title), "<style>%s</style>" % CSS, "</head>", "<body>",
        "<header><h1>%s</h1><p>%d hosts: %s%s</p></header>" % (
            _e(title), len(hosts), _e(summary or "none"), (" &middot; generated %s" % _e(generated)) if generated else ""),
        "<main>",
        '<section id="summary"><h2>Hosts</h2><table class="hosts"><tr><th>host</th><th>status</th><th>bonds</th>'
        "<th>VFs in use</th><th>VMs</th><th>VLANs</th></tr>%s</table></section>" % "".join(rows),
        '<section id="drift"><h2>Drifting hosts</h2>%s</section>' % drift_list,
    ]
    page += sections
    page += ["</main>", "</body>", "</html>"]
    return "\n".join(page) + "\n"
