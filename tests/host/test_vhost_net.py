# Copyright (c) kvmnet.hypervisor contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""vhost_net on this machine's real kernel.

Where the running kernel has no vhost_net (this project's build machine: no modules, nothing
built in), the module must fail with a clear `unsupported` error before writing anything.
Where it has one (CI hosts with a distro kernel), it is loaded for real without persistence
and unloaded again if it was not loaded before. Persistence across a reboot is proven on the
VM tier (extensions/molecule/hypervisor).
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.kvmnet.hypervisor.plugins.module_utils._engine import execute
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._errors import Unsupported
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._sysfs import Sysfs
from ansible_collections.kvmnet.hypervisor.plugins.module_utils._vhost_net import LOAD_CONF, VhostNetResource

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loads kernel modules: needs root")
SYSFS = Sysfs()
RELEASE = SYSFS.kernel_release()
AVAILABLE = SYSFS.module_state("vhost_net") != "absent" or SYSFS.module_installed("vhost_net", RELEASE)


def test_kernel_release_from_proc_is_the_one_uname_gives():
    assert RELEASE == os.uname().release


@pytest.mark.skipif(AVAILABLE, reason="this kernel has vhost_net (the load test below runs instead)")
def test_missing_module_is_unsupported_and_nothing_written(run_playbook):
    existed = os.path.exists(LOAD_CONF)
    with pytest.raises(Unsupported, match="kernel %s has no vhost_net module" % RELEASE):
        execute(VhostNetResource({"state": "present", "persist": True, "experimental_zcopytx": None}))
    assert os.path.exists(LOAD_CONF) == existed
    res = run_playbook([{"name": "vhost", "kvmnet.hypervisor.vhost_net": {}}])
    assert res["vhost"].failed and res["vhost"]["error"] == "unsupported"
    assert "CONFIG_VHOST_NET" in res["vhost"].msg
    # absent on a kernel without it: nothing to do, and it says vhost is not usable
    gone = run_playbook([{"name": "vhost", "kvmnet.hypervisor.vhost_net": {"state": "absent", "persist": False}}])
    assert not gone["vhost"].failed and not gone["vhost"].changed and gone["vhost"]["usable"] is False


@pytest.mark.skipif(not AVAILABLE, reason="kernel %s has no vhost_net (the Unsupported test runs instead)" % RELEASE)
def test_load_for_real_and_restore():
    before = SYSFS.module_state("vhost_net")
    try:
        res = execute(VhostNetResource({"state": "present", "persist": False, "experimental_zcopytx": None}))
        assert res["usable"] is True
        assert SYSFS.module_state("vhost_net") in ("loaded", "builtin")
        assert os.path.exists("/dev/vhost-net")
        again = execute(VhostNetResource({"state": "present", "persist": False, "experimental_zcopytx": None}))
        assert again["changed"] is False
    finally:
        if before == "absent" and SYSFS.module_state("vhost_net") == "loaded":
            execute(VhostNetResource({"state": "absent", "persist": False, "experimental_zcopytx": None}))
    assert SYSFS.module_state("vhost_net") == before
