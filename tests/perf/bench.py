# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Side-by-side performance benchmark: kvmnet.hypervisor vs the peer modules, in one run.

Run through ``tests/perf/run.sh`` (``make bench``), which prepares both virtual environments.
What it does (details and the numbers in docs/performance.md):

* starts a private OVS (dummy datapath, inside a throwaway netns) and a private libvirtd, both
  from the host tier's test bed (tests/host/testbed), and stops them again by PID;
* for every N in PERF_N: REPS repetitions, alternating the variants (the order rotates every
  repetition), each "reset -> converge from empty -> no-op rerun", timed as the wall time of
  ``ansible-playbook``; medians are reported;
* then one extra converge + rerun per variant under ``strace -f -e trace=execve`` to count the
  external programs started (not timed: tracing would distort the times);
* the engine alone (``execute()`` of our Resources, no Ansible) for the same work;
* libvirt_iface vs community.libvirt.virt define on a domain with an OVS interface.

Environment: REPS (default 3), PERF_N (default "10 50 200"), PERF_PARTS (default
"baseline ovs engine libvirt"), PERF_EXECS (default 1: count execs), PERF_UPDATE_DOCS (default 1:
rewrite the results block of docs/performance.md), PEER_VENV, OUR_VENV.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "host"))

from testbed.libvirtd import Libvirtd, destroy_and_undefine, domain_xml, ovs_iface  # noqa: E402
from testbed.netns import Netns  # noqa: E402
from testbed.ovs import OvsInstance  # noqa: E402

BUILD = REPO / "build" / "perf"
WORK = BUILD / "work"
PEER_VENV = Path(os.environ.get("PEER_VENV", BUILD / "venv-peer"))
OUR_VENV = Path(os.environ.get("OUR_VENV", REPO / ".venv"))
OUR_COLLECTIONS = REPO / "build" / "src"
CALLBACKS = REPO / "tests" / "perf" / "callback_plugins"
ENGINE_SCRIPT = REPO / "tests" / "perf" / "engine_bench.py"
DOC = REPO / "docs" / "performance.md"
BEGIN, END = "<!-- BEGIN RESULTS (written by tests/perf/bench.py) -->", "<!-- END RESULTS -->"

REPS = int(os.environ.get("REPS", "3"))
NS = [int(n) for n in os.environ.get("PERF_N", "10 50 200").replace(",", " ").split()]
PARTS = os.environ.get("PERF_PARTS", "baseline ovs engine libvirt").replace(",", " ").split()
COUNT_EXECS = os.environ.get("PERF_EXECS", "1") == "1"
UPDATE_DOCS = os.environ.get("PERF_UPDATE_DOCS", "1") == "1"
# Large N is slow through Ansible (~1-2 s per loop item on a busy 2-core machine): these trim it.
REPS_BIG = int(os.environ.get("PERF_REPS_BIG", str(REPS)))        # repetitions for N >= 100
EXECS_MAX_N = int(os.environ.get("PERF_EXECS_MAX_N", "100000"))   # traced (exec-count) pass up to this N
CROSS_MAX_N = int(os.environ.get("PERF_CROSS_MAX_N", "50"))       # the "@" variants below up to this N
# The distribution's interpreter (Debian: python3-openvswitch with its C JSON parser, what a real
# hypervisor runs); the PyPI `ovs` wheel in .venv has only the pure-Python parser.
DISTRO_PYTHON = os.environ.get("PERF_DISTRO_PYTHON", "/usr/bin/python3")

BR, BR2 = "br0", "br1"
BOND, BOND_MEMBERS = "bond0", ["eth1", "eth2"]
PATCH_A, PATCH_B = "patch-a", "patch-b"
TAG_BASE = 100
DOMAIN_MAC = "52:54:00:6b:00:01"
OVS_VLAN = 2

OVS_TOOLS = {"ovs-vsctl", "ovs-appctl", "ovs-ofctl", "ovsdb-client", "ovsdb-tool"}


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def module_exists(name):
    return (REPO / "plugins" / "modules" / ("%s.py" % name)).is_file()


# ----------------------------------------------------------------------------- exec counting
_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r'^(execve|clone3?|v?fork)\((?:"([^"]*)")?')
_RESUMED = re.compile(r"^<\.\.\. (execve|clone3?|v?fork) resumed>")
_RET = re.compile(r"\) += (-?\d+)")


def parse_trace(trace_file):
    """(execs, parent) from an ``strace -f -e trace=execve,clone,clone3,fork,vfork -o`` file.

    execs: [(pid, program path)] of *successful* execve() calls in order (a failed execve, such
    as a PATH search miss, starts nothing and is not counted); parent: {child tid: creator tid}.
    """
    execs, parent, pending = [], {}, {}
    with open(trace_file, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            m = _LINE.match(raw)
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            call = _CALL.match(rest)
            if call:
                if rest.endswith("<unfinished ...>"):
                    pending[pid] = (call.group(1), call.group(2))
                    continue
                name, path = call.group(1), call.group(2)
            else:
                res = _RESUMED.match(rest)
                if not res or pid not in pending:
                    continue
                name, path = pending.pop(pid)
            ret = _RET.search(rest)
            if not ret:
                continue
            value = int(ret.group(1))
            if name == "execve":
                if value == 0:
                    execs.append((pid, path))
            elif value > 0:
                parent[value] = pid
    return execs, parent


def count_execs(trace_file, module_python=None):
    """Split the execs of a traced run into the modules' own and everything else.

    A *module process* is a process that exec'd ``module_python`` (the managed-host interpreter
    Ansible runs each module with); every exec by one of its descendants is the module's work
    (ovs-vsctl, uname, ...). With module_python None (the engine run: one interpreter that *is*
    the work) every exec after the first counts. Returns {"module": {basename: n}, "ansible":
    {basename: n}} where "ansible" is the controller and its plumbing (sh -c python && sleep 0,
    ldconfig, ...).
    """
    execs, parent = parse_trace(trace_file)
    module_pids = set()
    out = {"module": {}, "ansible": {}}
    for i, (pid, path) in enumerate(execs):
        name = os.path.basename(path)
        if module_python is None:
            side = "module" if i else "ansible"
        else:
            anc, seen, side = pid, 0, "ansible"
            while anc in parent and seen < 64:
                anc, seen = parent[anc], seen + 1
                if anc in module_pids:
                    side = "module"
                    break
            if path == str(module_python) and side == "ansible":
                module_pids.add(pid)
        out[side][name] = out[side].get(name, 0) + 1
    return out


def classify(counts):
    """Exec counts of the modules' processes: ovs tools, other programs; plus Ansible's own total."""
    ovs = sum(n for name, n in counts["module"].items() if name in OVS_TOOLS)
    other = sum(n for name, n in counts["module"].items() if name not in OVS_TOOLS)
    return {"ovs": ovs, "other": other, "plumbing": sum(counts["ansible"].values()),
            "external": dict(counts["module"]), "ansible": dict(counts["ansible"])}


def strace_prefix(out):
    return ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve,clone,clone3,fork,vfork", "-o", str(out)]


# ----------------------------------------------------------------------------- ansible
class Result:
    """One ansible-playbook (or engine) run."""

    def __init__(self, wall, changed, items, failed, rc, errors=None, execs=None):
        self.wall, self.changed, self.items, self.failed, self.rc = wall, changed, items, failed, rc
        self.errors = errors or []
        self.execs = execs

    @property
    def ok(self):
        return self.rc == 0 and self.failed == 0


class Controller:
    """An Ansible installation (a venv + collections path) with its own config dir under WORK."""

    def __init__(self, name, venv, collections_path, interpreter=None):
        self.name = name
        self.venv = Path(venv)
        self.dir = WORK / name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        python = Path(interpreter or self.venv / "bin" / "python")
        self.python = python
        (self.dir / "inventory.ini").write_text(
            "localhost ansible_connection=local ansible_python_interpreter=%s\n" % python)
        (self.dir / "ansible.cfg").write_text(
            "[defaults]\ninventory = %s\nstdout_callback = perf_json\ncallback_plugins = %s\n"
            "retry_files_enabled = False\nlocalhost_warning = False\ninterpreter_python = %s\n"
            "collections_path = %s\nlocal_tmp = %s\nforks = 1\n"
            "[connection]\npipelining = True\n"
            % (self.dir / "inventory.ini", CALLBACKS, python, collections_path, self.dir / "tmp"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV"))}
        env.update(ANSIBLE_CONFIG=str(self.dir / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(collections_path),
                   ANSIBLE_HOME=str(self.dir / "home"), ANSIBLE_NOCOLOR="1",
                   PATH="%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" % (self.venv / "bin"))
        self.env = env
        self.counter = 0

    def version(self):
        out = subprocess.run([self.venv / "bin" / "ansible", "--version"], capture_output=True, text=True,
                             env=self.env, check=False).stdout
        return out.splitlines()[0].strip() if out else "?"

    def playbook(self, play, label, trace=None):
        """Write ``play`` (a list of plays, JSON is YAML) and run it; returns a Result."""
        self.counter += 1
        path = self.dir / ("%s.yml" % label)
        path.write_text(json.dumps(play, indent=1))
        argv = [str(self.venv / "bin" / "ansible-playbook"), str(path)]
        if trace:
            argv = strace_prefix(trace) + argv
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=self.dir, env=self.env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        summary = None
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("{"):
                try:
                    summary = json.loads(line)
                    break
                except ValueError:
                    continue
        if summary is None:
            return Result(wall, 0, 0, 1, proc.returncode or 1,
                          ["no summary: rc=%s %s %s" % (proc.returncode, proc.stdout[-800:], proc.stderr[-800:])])
        res = Result(wall, summary["changed"], summary["items"], summary["failed"], proc.returncode,
                     [e.get("msg", "") for e in summary["errors"]])
        if trace:
            res.execs = classify(count_execs(trace, self.python))
        return res


def play(tasks, **vars_):
    return [{"name": "bench", "hosts": "localhost", "gather_facts": False, "vars": vars_, "tasks": tasks}]


# ----------------------------------------------------------------------------- OVS workloads
def ports(n):
    return [{"name": "p%d" % i, "tag": TAG_BASE + i} for i in range(n)]


def peer_ovs_tasks(n, db):
    """openvswitch.openvswitch 2.1.1: bridges, a loop of openvswitch_port with tag, bond, patch via set."""
    sock = {"database_socket": db}
    return [
        {"name": "bridges", "openvswitch.openvswitch.openvswitch_bridge": dict(bridge="{{ item }}", state="present", **sock),
         "loop": [BR, BR2]},
        {"name": "tagged access ports", "openvswitch.openvswitch.openvswitch_port":
            dict(bridge=BR, port="p{{ item }}", tag="{{ %d + item }}" % TAG_BASE, state="present", **sock),
         "loop": "{{ range(0, %d) | list }}" % n},
        {"name": "LACP bond", "openvswitch.openvswitch.openvswitch_bond":
            dict(bridge=BR, port=BOND, interfaces=BOND_MEMBERS, lacp="active", bond_mode="balance-slb",
                 state="present", **sock)},
        {"name": "patch pair", "openvswitch.openvswitch.openvswitch_port":
            dict(bridge="{{ item.br }}", port="{{ item.port }}", state="present",
                 set=["Interface {{ item.port }} type=patch options:peer={{ item.peer }}"], **sock),
         "loop": [{"br": BR, "port": PATCH_A, "peer": PATCH_B}, {"br": BR2, "port": PATCH_B, "peer": PATCH_A}]},
    ]


# Our side. The option names follow the modules' argument specs (plugins/modules/ovs_*.py).
def _ours_bond_patch(db):
    conn = {"database": db}
    tasks = []
    if module_exists("ovs_bond"):
        tasks.append({"name": "LACP bond", "kvmnet.hypervisor.ovs_bond":
                      dict(bridge=BR, name=BOND, members=BOND_MEMBERS, lacp="active", bond_mode="balance-slb", **conn)})
    if module_exists("ovs_patch"):
        tasks.append({"name": "patch pair", "kvmnet.hypervisor.ovs_patch":
                      dict(bridge=BR, peer_bridge=BR2, port=PATCH_A, peer_port=PATCH_B, **conn)})
    return tasks


def ours_one_tasks(n, db):
    """One ovs_bridge task with the whole port list, then ovs_bond and ovs_patch."""
    conn = {"database": db}
    return [
        {"name": "bridge with ports", "kvmnet.hypervisor.ovs_bridge": dict(name=BR, ports=ports(n), **conn)},
        {"name": "second bridge", "kvmnet.hypervisor.ovs_bridge": dict(name=BR2, **conn)},
    ] + _ours_bond_patch(db)


def ours_loop_tasks(n, db):
    """The peer's shape with our modules: one task per port (ovs_bridge with a one-port list)."""
    conn = {"database": db}
    return [
        {"name": "bridges", "kvmnet.hypervisor.ovs_bridge": dict(name="{{ item }}", **conn), "loop": [BR, BR2]},
        {"name": "tagged access ports", "kvmnet.hypervisor.ovs_bridge":
            dict(name=BR, ports=[{"name": "p{{ item }}", "tag": "{{ %d + item }}" % TAG_BASE}], **conn),
         "loop": "{{ range(0, %d) | list }}" % n},
    ] + _ours_bond_patch(db)


class OvsBench:
    """The OVS part: a private OVS (dummy datapath) in its own netns."""

    def __init__(self):
        self.netns = Netns()
        self.ovs = OvsInstance(netns=self.netns, mode="dummy")

    def reset(self):
        self.ovs.vsctl("--if-exists", "del-br", BR, "--", "--if-exists", "del-br", BR2)

    def check(self, n, bond=True, patch=True):
        """The converge really built the topology (so no variant can win by doing nothing)."""
        names = set(self.ovs.vsctl("list-ports", BR).split())
        want = {"p%d" % i for i in range(n)} | ({BOND} if bond else set())
        problems = []
        if not want <= names:
            problems.append("missing ports on %s: %s" % (BR, sorted(want - names)[:5]))
        if n and self.ovs.vsctl("get", "port", "p%d" % (n - 1), "tag") != str(TAG_BASE + n - 1):
            problems.append("wrong tag on p%d" % (n - 1))
        if PATCH_A in names and "peer" not in self.ovs.vsctl("get", "interface", PATCH_A, "options"):
            problems.append("patch-a has no peer")
        if patch and PATCH_A not in names:
            problems.append("no patch port %s" % PATCH_A)
        bond_mode = self.ovs.vsctl("--if-exists", "get", "port", BOND, "bond_mode") if bond else "balance-slb"
        if bond_mode != "balance-slb":
            problems.append("bond_mode is %r" % bond_mode)
        return problems

    def stop(self):
        self.ovs.stop()
        self.netns.delete()


# ----------------------------------------------------------------------------- engine alone
def run_engine(n, db, trace=None):
    """Our one-task workload through execute() in a fresh interpreter; time measured inside it."""
    tasks_file = WORK / ("engine-%d.json" % n)
    tasks_file.write_text(json.dumps(ours_one_tasks(n, db)))
    argv = [str(OUR_VENV / "bin" / "python"), str(ENGINE_SCRIPT), str(tasks_file)]
    if trace:
        argv = strace_prefix(trace) + argv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHON"))}
    env["PYTHONPATH"] = str(OUR_COLLECTIONS)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Result(0.0, 0, 0, 1, proc.returncode or 1, ["engine: %s %s" % (proc.stdout[-500:], proc.stderr[-800:])])
    res = Result(data["seconds"], data["changed"], data["items"], data["failed"], proc.returncode, data["errors"])
    if trace:
        res.execs = classify(count_execs(trace))
    return res


# ----------------------------------------------------------------------------- libvirt
class LibvirtBench:
    """The libvirt part: a private libvirtd (with its private OVS) and one persistent domain."""

    def __init__(self):
        self.lv = Libvirtd(with_ovs=True)
        self.bridge = "kvt-perfovs"
        self.lv.ovs.add_bridge(self.bridge)
        self.name = "kvt-perf-%x" % os.getpid()
        self.full_xml = domain_xml(self.name, self.lv.kernel,
                                   [ovs_iface(self.bridge, vlan=OVS_VLAN, mac=DOMAIN_MAC)])

    def reset(self):
        """The domain defined without the OVS interface (both sides start from this)."""
        conn = self.lv.conn()
        destroy_and_undefine(conn, self.name)
        conn.defineXML(domain_xml(self.name, self.lv.kernel, []))

    def peer_tasks(self):
        return [{"name": "define domain with OVS interface", "community.libvirt.virt":
                 {"command": "define", "xml": self.full_xml, "uri": self.lv.uri}}]

    def our_tasks(self):
        return [{"name": "OVS interface on the domain", "kvmnet.hypervisor.libvirt_iface":
                 {"domain": self.name, "mac": DOMAIN_MAC, "type": "bridge", "source": self.bridge,
                  "virtualport": "openvswitch", "vlan": {"tags": [OVS_VLAN]}, "model": "virtio", "config": True,
                  "live": False, "uri": self.lv.uri}}]

    def check(self):
        xml = self.lv.conn().lookupByName(self.name).XMLDesc(0)
        problems = []
        if DOMAIN_MAC not in xml or "openvswitch" not in xml or ("tag id='%d'" % OVS_VLAN) not in xml:
            problems.append("OVS interface %s (vlan %d) not in the persistent definition" % (DOMAIN_MAC, OVS_VLAN))
        return problems

    def stop(self):
        self.lv.stop()


@contextlib.contextmanager
def open_checkpoint():
    """A checkpoint open on this machine (root /, journal only: no units) while the playbook
    runs, opened and closed outside the timed run: the variant measures what an open
    checkpoint costs the modules (their journaling), not the checkpoint tasks. Refuses to run
    when a checkpoint is already open here (never touch one that is not ours)."""
    sys.path.insert(0, str(REPO / "build" / "src"))
    from ansible_collections.kvmnet.hypervisor.plugins.module_utils import _checkpoint  # noqa: E402
    if _checkpoint.open_checkpoint("/") is not None:
        raise SystemExit("bench: a checkpoint is open on this machine (%s): not measuring over it"
                         % _checkpoint.CHECKPOINT_DIR)
    last = Path(_checkpoint.LAST_REPORT)
    kept = last.read_bytes() if last.exists() else None
    made = not last.parent.exists()
    checkpoint = _checkpoint.create("/", "bench-%d" % os.getpid(), 3600, [])
    try:
        yield checkpoint
    finally:
        _checkpoint.close(checkpoint, "confirmed")
        if kept is None:
            last.unlink(missing_ok=True)
        else:
            last.write_bytes(kept)
        if made:  # leave the machine as it was: no /var/lib/kvmnet if there was none
            shutil.rmtree(last.parent, ignore_errors=True)


# ----------------------------------------------------------------------------- driver
class Bench:
    def __init__(self):
        self.rows = {}       # (part, variant, n) -> {"converge": [Result], "rerun": [Result]}
        self.execs = {}      # (part, variant, n) -> {"converge": classify, "rerun": classify}
        self.problems = []   # correctness problems seen (topology not built, failed tasks)
        self.missing = []    # what could not be measured and why
        self.peer = Controller("peer", PEER_VENV, WORK / "peer" / "collections")
        self.ours = Controller("ours", OUR_VENV, OUR_COLLECTIONS)
        # our modules driven by the peer's ansible-core: separates controller cost from module cost
        self.cross = Controller("ours-on-peer-ctl", PEER_VENV, OUR_COLLECTIONS, interpreter=OUR_VENV / "bin" / "python")
        self.distro = None
        if DISTRO_PYTHON and subprocess.run([DISTRO_PYTHON, "-c", "import ovs._json, ovs.db.idl"],
                                            capture_output=True, check=False).returncode == 0:
            self.distro = Controller("ours-distro-py", OUR_VENV, OUR_COLLECTIONS, interpreter=DISTRO_PYTHON)
        (WORK / "peer" / "collections").mkdir(parents=True, exist_ok=True)
        self.trace_dir = WORK / "traces"
        self.trace_dir.mkdir(parents=True, exist_ok=True)

    def add(self, key, phase, res):
        self.rows.setdefault(key, {}).setdefault(phase, []).append(res)
        if not res.ok:
            where = "/".join(map(str, key))
            self.problems.append("%s %s: failed (rc=%s): %s" % (where, phase, res.rc, "; ".join(res.errors)[:600]))

    def cycle(self, key, reset, converge, rerun, check=None, trace=False):
        """reset, converge, (check), rerun; records Results (or exec counts when trace)."""
        reset()

        def tr(phase):
            return self.trace_dir / ("%s-%s.trace" % ("-".join(map(str, key)), phase)) if trace else None

        c = converge(tr("converge"))
        if check and c.ok:
            for p in check():
                self.problems.append("%s: %s" % ("/".join(map(str, key)), p))
        r = rerun(tr("rerun"))
        if trace:
            self.execs[key] = {"converge": c.execs, "rerun": r.execs}
            for ph, res in (("converge", c), ("rerun", r)):
                if not res.ok:
                    self.problems.append("%s %s (traced): %s" % ("/".join(map(str, key)), ph, "; ".join(res.errors)[:400]))
        else:
            self.add(key, "converge", c)
            self.add(key, "rerun", r)
        log("%-28s conv %6.2fs (%s/%s changed)  rerun %6.2fs (%s changed)%s" % (
            "/".join(map(str, key)), c.wall, c.changed, c.items, r.wall, r.changed, "  [traced]" if trace else ""))

    # -- parts ----------------------------------------------------------------------------
    def part_baseline(self):
        tasks = [{"name": "ping", "ansible.builtin.ping": {}}]
        for rep in range(REPS):
            for ctl in rotate([self.peer, self.ours], rep):
                key = ("baseline", ctl.name, 1)
                self.cycle(key, lambda: None, lambda t, c=ctl: c.playbook(play(tasks), "ping", t),
                           lambda t, c=ctl: c.playbook(play(tasks), "ping", t))

    def ovs_variants(self, ovs):
        db = ovs.ovs.db
        variants = [("peer-loop", self.peer, peer_ovs_tasks)]
        if module_exists("ovs_bridge"):
            variants += [("ours-one", self.ours, ours_one_tasks), ("ours-loop", self.ours, ours_loop_tasks),
                         ("ours-loop@peer-ctl", self.cross, ours_loop_tasks)]
            if self.distro is not None:
                variants += [("ours-one@distro-py", self.distro, ours_one_tasks),
                             ("ours-loop@distro-py", self.distro, ours_loop_tasks)]
            else:
                self.note_missing("OVS: variants with the distribution's python (%s has no python ovs with the "
                                  "C JSON parser: apt-get install python3-openvswitch)" % DISTRO_PYTHON)
        else:
            self.note_missing("OVS: our one-task and per-port-loop variants (ovs_bridge not in plugins/modules)")
        for mod, what in (("ovs_bond", "LACP bond"), ("ovs_patch", "patch pair")):
            if not module_exists(mod):
                self.note_missing("OVS: our %s (%s not in plugins/modules): our variants and the engine run "
                                  "without it, so they do less work than the peer" % (what, mod))
        if module_exists("ovs_bridge") and module_exists("checkpoint"):
            variants.append(("ours-one+checkpoint", self.ours, ours_one_tasks))
        out = []
        for name, ctl, build in variants:
            def run_it(trace, n, ctl=ctl, build=build, name=name):
                if name.endswith("+checkpoint"):
                    with open_checkpoint():
                        return ctl.playbook(play(build(n, db)), "%s-%d" % (name, n), trace)
                return ctl.playbook(play(build(n, db)), "%s-%d" % (name, n), trace)
            ours = not name.startswith("peer")
            flags = {"bond": not ours or module_exists("ovs_bond"), "patch": not ours or module_exists("ovs_patch")}
            out.append((name, run_it, flags))
        return out

    def part_ovs(self):
        ovs = OvsBench()
        try:
            variants = self.ovs_variants(ovs)
            for n in NS:
                here = [v for v in variants if "@" not in v[0] or n <= CROSS_MAX_N]
                for rep in range(REPS_BIG if n >= 100 else REPS):
                    for name, run_it, flags in rotate(here, rep):
                        self.cycle(("ovs", name, n), ovs.reset, lambda t, r=run_it, n=n: r(t, n),
                                   lambda t, r=run_it, n=n: r(t, n), check=lambda n=n, f=flags: ovs.check(n, **f))
                if COUNT_EXECS and n <= EXECS_MAX_N:
                    for name, run_it, _flags in here:
                        self.cycle(("ovs", name, n), ovs.reset, lambda t, r=run_it, n=n: r(t, n),
                                   lambda t, r=run_it, n=n: r(t, n), trace=True)
                if "engine" in PARTS:
                    self.part_engine(ovs, n)
        finally:
            ovs.stop()

    def part_engine(self, ovs, n):
        if not module_exists("ovs_bridge"):
            self.note_missing("engine alone: our OVS Resources are not there yet")
            return
        db = ovs.ovs.db
        flags = {"bond": module_exists("ovs_bond"), "patch": module_exists("ovs_patch")}
        for _rep in range(REPS_BIG if n >= 100 else REPS):
            self.cycle(("engine", "ours-engine", n), ovs.reset, lambda t: run_engine(n, db, t),
                       lambda t: run_engine(n, db, t), check=lambda: ovs.check(n, **flags))
        if COUNT_EXECS and n <= EXECS_MAX_N:
            self.cycle(("engine", "ours-engine", n), ovs.reset, lambda t: run_engine(n, db, t),
                       lambda t: run_engine(n, db, t), trace=True)

    def part_libvirt(self):
        lvb = LibvirtBench()
        try:
            variants = [("peer-virt-define", self.peer, lvb.peer_tasks)]
            if module_exists("libvirt_iface"):
                variants.append(("ours-libvirt_iface", self.ours, lvb.our_tasks))
            else:
                self.note_missing("libvirt: libvirt_iface (not in plugins/modules)")
            runs = [(name, lambda t, c=ctl, b=build, name=name: c.playbook(play(b()), name, t))
                    for name, ctl, build in variants]
            for rep in range(REPS):
                for name, run_it in rotate(runs, rep):
                    self.cycle(("libvirt", name, 1), lvb.reset, run_it, run_it, check=lvb.check)
            if COUNT_EXECS:
                for name, run_it in runs:
                    self.cycle(("libvirt", name, 1), lvb.reset, run_it, run_it, trace=True)
        finally:
            lvb.stop()

    def note_missing(self, what):
        if what not in self.missing:
            self.missing.append(what)
            log("NOT MEASURED: " + what)


def rotate(seq, k):
    seq = list(seq)
    k %= len(seq) or 1
    return seq[k:] + seq[:k]


def median(results, attr="wall"):
    vals = [getattr(r, attr) for r in results]
    return statistics.median(vals) if vals else None


# ----------------------------------------------------------------------------- report
def machine_info(bench):
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def cmd(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    def pipver(venv, pkg):
        out = cmd(str(venv / "bin" / "python"), "-c",
                  "import importlib.metadata as m; print(m.version(%r))" % pkg)
        return out

    peer_coll = PEER_VENV / "lib"
    ovs_ver = libvirt_ver = "?"
    for manifest in peer_coll.glob("python*/site-packages/ansible_collections/openvswitch/openvswitch/MANIFEST.json"):
        ovs_ver = json.loads(manifest.read_text())["collection_info"]["version"]
    for manifest in peer_coll.glob("python*/site-packages/ansible_collections/community/libvirt/MANIFEST.json"):
        libvirt_ver = json.loads(manifest.read_text())["collection_info"]["version"]
    return [
        ("CPU", "%s, %d logical CPUs (os.cpu_count)" % (cpu, os.cpu_count() or 0)),
        ("kernel", platform.release()),
        ("OS", cmd("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME")),
        ("Python", platform.python_version()),
        ("peer controller", "%s, ansible %s, openvswitch.openvswitch %s, community.libvirt %s"
         % (bench.peer.version(), pipver(PEER_VENV, "ansible"), ovs_ver, libvirt_ver)),
        ("our controller", "%s, kvmnet.hypervisor (this checkout, %s)"
         % (bench.ours.version(), cmd("git", "-C", str(REPO), "rev-parse", "--short", "HEAD"))),
        ("Open vSwitch", cmd("ovs-vsctl", "--version")),
        ("libvirt", cmd("libvirtd", "--version")),
        ("python libs (ours)", "ovs %s, libvirt-python %s, lxml %s, pyroute2 %s" % tuple(
            pipver(OUR_VENV, p) for p in ("ovs", "libvirt-python", "lxml", "pyroute2"))),
        ("strace", cmd("strace", "-V")),
    ]


def fmt_s(v):
    return "-" if v is None else ("%.2f s" % v if v >= 0.1 else "%.1f ms" % (v * 1000))


def fmt_ratio(a, b):
    return "-" if a is None or not b else "%.3f" % (a / b)


def fmt_execs(e):
    if not e:
        return "-"
    return "%d / %d" % (e["ovs"], e["other"])


def report(bench, started, elapsed, load):
    lines = []
    add = lines.append
    add("Measured %s, REPS=%d (N >= 100: %d), PERF_N=\"%s\", exec counts up to N=%s, wall time of the whole "
        "run %.0f s, load average (1/5/15 min) before: %s, after: %s (%d logical CPUs)."
        % (started, REPS, REPS_BIG, " ".join(map(str, NS)), EXECS_MAX_N if EXECS_MAX_N < 100000 else "all",
           elapsed, load[0], load[1], os.cpu_count() or 0))
    add("")
    add("| part | N | variant | converge | rerun | changed conv / rerun (items) | execs conv: ovs / other "
        "| execs rerun: ovs / other | ours/peer converge | ours/peer rerun |")
    add("|---|---|---|---|---|---|---|---|---|---|")
    peer_of = {"ovs": "peer-loop", "engine": "peer-loop", "libvirt": "peer-virt-define", "baseline": "peer"}
    order = {"baseline": 0, "ovs": 1, "engine": 2, "libvirt": 3}
    keys = sorted(bench.rows, key=lambda k: (order.get(k[0], 9), k[2], k[0], not k[1].startswith("peer"), k[1]))
    for key in keys:
        part, variant, n = key
        conv, rer = bench.rows[key].get("converge", []), bench.rows[key].get("rerun", [])
        mc, mr = median(conv), median(rer)
        pkey = ("ovs" if part == "engine" else part, peer_of.get(part), n)
        pc = median(bench.rows.get(pkey, {}).get("converge", []))
        pr = median(bench.rows.get(pkey, {}).get("rerun", []))
        is_peer = variant.startswith("peer")
        ex = bench.execs.get(key, {})
        changed = "%s / %s (%s)" % tuple("/".join(sorted({str(getattr(r, attr)) for r in rs}))
                                         for rs, attr in ((conv, "changed"), (rer, "changed"), (conv, "items")))
        add("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            part, n, variant, fmt_s(mc), fmt_s(mr), changed, fmt_execs(ex.get("converge")),
            fmt_execs(ex.get("rerun")), "" if is_peer else fmt_ratio(mc, pc), "" if is_peer else fmt_ratio(mr, pr)))
    add("")
    add("Times are medians of REPS runs (wall time of `ansible-playbook`, or for `engine` the time "
        "of `execute()` inside one interpreter, imports excluded). execs = successful execve() of "
        "programs other than Ansible's own plumbing, from one extra traced converge + rerun; "
        "\"ovs\" = ovs-vsctl/ovs-appctl/ovs-ofctl/ovsdb-client.")
    add("")
    # programs seen
    seen = {}
    for key, ex in bench.execs.items():
        for ph, e in ex.items():
            if e and e["external"]:
                seen["%s %s" % ("/".join(map(str, key)), ph)] = e["external"]
    if seen:
        add("External programs started, by run: " + "; ".join(
            "%s: %s" % (k, ", ".join("%s x%d" % kv for kv in sorted(v.items()))) for k, v in sorted(seen.items())))
        add("")
    add("### Targets")
    add("")
    add("| target | verdict | detail |")
    add("|---|---|---|")
    for target, verdict, detail in verdicts(bench):
        add("| %s | %s | %s |" % (target, verdict, detail))
    add("")
    if bench.missing:
        add("### Not measured in this run")
        add("")
        for m in bench.missing:
            add("- " + m)
        add("")
    if bench.problems:
        add("### Problems seen")
        add("")
        for p in bench.problems[:30]:
            add("- " + p.replace("|", "\\|").replace("\n", " "))
        add("")
    return "\n".join(lines)


def verdicts(bench):
    out = []

    def med(key, phase):
        return median(bench.rows.get(key, {}).get(phase, []))

    # 1. one task <= 1/10 of the peer loop at N=50
    n = 50
    one, peer = ("ovs", "ours-one", n), ("ovs", "peer-loop", n)
    if one in bench.rows and peer in bench.rows:
        for ph in ("converge", "rerun"):
            ratio = med(one, ph) / med(peer, ph)
            out.append(("ours one task <= 0.1 x peer loop, N=50, %s" % ph,
                        "PASS" if ratio <= 0.1 else "**MISSED**", "ratio %.3f" % ratio))
    else:
        out.append(("ours one task <= 0.1 x peer loop, N=50", "NOT MEASURED",
                    "needs ours-one and peer-loop at N=50 (PERF_N includes 50?)"))
    # 2. per-port loop <= 0.8 x peer loop (every N)
    info = {"ours-loop@peer-ctl": "ours per-port loop on the peer's controller (same ansible-core 2.17)",
            "ours-loop@distro-py": "ours per-port loop, distro python3-openvswitch (C JSON parser)",
            "ours-one@distro-py": "ours one task, distro python3-openvswitch (C JSON parser)"}
    for key in sorted((k for k in bench.rows if k[0] == "ovs" and k[1] in info), key=lambda k: (k[1], k[2])):
        pk = ("ovs", "peer-loop", key[2])
        out.append(("(information) %s vs peer loop, N=%d" % (info[key[1]], key[2]), "-",
                    "ratio converge %.3f, rerun %.3f" % (med(key, "converge") / med(pk, "converge"),
                                                         med(key, "rerun") / med(pk, "rerun"))))
    loops = [k for k in bench.rows if k[:2] == ("ovs", "ours-loop")]
    if loops:
        for key in sorted(loops, key=lambda k: k[2]):
            pk = ("ovs", "peer-loop", key[2])
            for ph in ("converge", "rerun"):
                ratio = med(key, ph) / med(pk, ph)
                out.append(("ours per-port loop <= 0.8 x peer loop, N=%d, %s" % (key[2], ph),
                            "PASS" if ratio <= 0.8 else "**MISSED**", "ratio %.3f" % ratio))
    else:
        out.append(("ours per-port loop <= 0.8 x peer loop", "NOT MEASURED", "ours-loop variant did not run"))
    # 2b. an open checkpoint costs a no-op run at most 5 % (issue 12)
    cps = sorted((k for k in bench.rows if k[:2] == ("ovs", "ours-one+checkpoint")), key=lambda k: k[2])
    for key in cps:
        base = ("ovs", "ours-one", key[2])
        if base in bench.rows:
            ratio = med(key, "rerun") / med(base, "rerun")
            out.append(("no-op run with a checkpoint open <= 1.05 x without, N=%d" % key[2],
                        "PASS" if ratio <= 1.05 else "**MISSED**",
                        "ratio %.3f (converge, journaling every change: %.3f)" % (
                            ratio, med(key, "converge") / med(base, "converge"))))
    if not cps:
        out.append(("no-op run with a checkpoint open <= 1.05 x without", "NOT MEASURED",
                    "the checkpoint module or ovs_bridge is missing"))
    # 3. zero external processes in our modules
    ours_ex = {k: v for k, v in bench.execs.items() if not k[1].startswith("peer") and k[0] != "baseline"}
    if ours_ex:
        bad = ["%s %s: %s" % ("/".join(map(str, k)), ph, e["external"])
               for k, v in sorted(ours_ex.items()) for ph, e in v.items() if e and (e["ovs"] or e["other"])]
        out.append(("zero external processes in our modules", "PASS" if not bad else "**MISSED**",
                    "; ".join(bad)[:500] if bad else "%d traced runs, none started a program" % (2 * len(ours_ex))))
    else:
        out.append(("zero external processes in our modules", "NOT MEASURED", "no traced run of our modules"))
    # 4. every rerun unchanged (ours); the peer's shown for information
    ours_keys = [k for k in bench.rows if not k[1].startswith("peer") and k[0] != "baseline"]
    if ours_keys:
        bad = ["%s: %s changed" % ("/".join(map(str, k)), sorted({r.changed for r in bench.rows[k].get("rerun", [])}))
               for k in sorted(ours_keys) if any(r.changed for r in bench.rows[k].get("rerun", []))]
        out.append(("every rerun of ours unchanged", "PASS" if not bad else "**MISSED**",
                    "; ".join(bad) if bad else "%d rerun results, 0 changed" % sum(
                        len(bench.rows[k].get("rerun", [])) for k in ours_keys)))
    else:
        out.append(("every rerun of ours unchanged", "NOT MEASURED", "none of our modules ran"))
    peer_bad = ["%s: %s changed" % ("/".join(map(str, k)), sorted({r.changed for r in bench.rows[k].get("rerun", [])}))
                for k in sorted(bench.rows) if k[1].startswith("peer") and k[0] != "baseline"
                and any(r.changed for r in bench.rows[k].get("rerun", []))]
    out.append(("(peer, for information) rerun unchanged", "yes" if not peer_bad else "no", "; ".join(peer_bad)))
    correctness = list(bench.problems)
    out.append(("every run succeeded and built the topology", "PASS" if not correctness else "**MISSED**",
                "%d problem(s), listed below" % len(correctness) if correctness else "checked after every converge"))
    return out


def write_doc(text, machine):
    block = [BEGIN, "", "### Machine", ""] + ["- %s: %s" % kv for kv in machine] + ["", "### Results", "", text, END]
    body = DOC.read_text() if DOC.exists() else ""
    if BEGIN in body and END in body:
        head, rest = body.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        DOC.write_text(head + "\n".join(block) + tail)
    else:
        DOC.write_text(body + "\n" + "\n".join(block) + "\n")


def main():
    for tool in ("strace",) if COUNT_EXECS else ():
        if not shutil.which(tool):
            sys.exit("bench: %s is needed to count execs (apt-get install strace) or set PERF_EXECS=0" % tool)
    for venv in (PEER_VENV, OUR_VENV):
        if not (venv / "bin" / "ansible-playbook").exists():
            sys.exit("bench: %s has no ansible-playbook: run tests/perf/run.sh (it prepares both venvs)" % venv)
    WORK.mkdir(parents=True, exist_ok=True)

    def on_signal(signum, _frame):
        raise SystemExit("bench: interrupted by signal %d, cleaning up" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    t0 = time.monotonic()
    bench = Bench()
    log("REPS=%d PERF_REPS_BIG=%d PERF_N=%s PERF_PARTS=%s PERF_EXECS=%d PERF_EXECS_MAX_N=%d PERF_CROSS_MAX_N=%d"
        % (REPS, REPS_BIG, NS, PARTS, COUNT_EXECS, EXECS_MAX_N, CROSS_MAX_N))
    try:
        if "baseline" in PARTS:
            bench.part_baseline()
        if "ovs" in PARTS:
            bench.part_ovs()
        if "libvirt" in PARTS:
            bench.part_libvirt()
    finally:
        elapsed = time.monotonic() - t0
        load1 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        if bench.rows:
            text = report(bench, started, elapsed, (load0, load1))
            machine = machine_info(bench)
            out = BUILD / "latest.md"
            out.write_text("\n".join("- %s: %s" % kv for kv in machine) + "\n\n" + text + "\n")
            print(text)
            log("report written to %s" % out)
            if UPDATE_DOCS:
                write_doc(text, machine)
                log("results block of %s updated" % DOC)


if __name__ == "__main__":
    main()
