#!/usr/bin/env bash
# Run Molecule for one VM scenario with the lab's settings.
# usage: tests/vm/molecule.sh SCENARIO [SUBCOMMAND [ARGS...]]      (SUBCOMMAND default: test)
#   e.g. tests/vm/molecule.sh host_bond             full cycle, VM destroyed at the end
#        tests/vm/molecule.sh host_bond converge    boot + converge, VM left running
#        tests/vm/molecule.sh host_bond login       ssh into it
#        tests/vm/molecule.sh host_bond destroy
# Sets: PATH (venv bin first; molecule needs it), ANSIBLE_COLLECTIONS_PATH=build/src
# (kvmnet.hypervisor = this working tree), the shared base config
# extensions/molecule/config.yml, and holds the machine's VM lock while it runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 1 ] || { sed -n '3,7p' "$0" >&2; exit 2; }
SCEN=$1; shift
SUB=${1:-test}; [ $# -gt 0 ] && shift
[ -f "$REPO_ROOT/extensions/molecule/$SCEN/molecule.yml" ] || vm_die "no scenario extensions/molecule/$SCEN/molecule.yml"
VENV=$(vm_venv)
export PATH="$VENV/bin:$PATH"
ANSIBLE_COLLECTIONS_PATH=$(vm_collection_path); export ANSIBLE_COLLECTIONS_PATH
export KVMNET_VM_CACHE=$VM_CACHE KVMNET_VM_RUN=$VM_RUN KVMNET_VM_ACCEL=$VM_ACCEL
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0} PY_COLORS=${PY_COLORS:-0}
vm_lock
# a full `test` owns its VMs (cleanup-stale.sh removes them if this run dies);
# VMs of other subcommands (converge, create, ...) are interactive and left running
if [ "$SUB" = test ] && [ -z "${KVMNET_VM_OWNER:-}" ]; then
  KVMNET_VM_OWNER=$(vm_owner_token $$); export KVMNET_VM_OWNER
fi
cd "$REPO_ROOT"
exec molecule -c "$REPO_ROOT/extensions/molecule/config.yml" "$SUB" -s "$SCEN" "$@"
