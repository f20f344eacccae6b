#!/usr/bin/env bash
# Performance benchmark: kvmnet.hypervisor vs the peer modules, side by side (`make bench`).
#   tests/perf/run.sh                     full run (REPS=3, PERF_N="10 50 200"), see docs/performance.md
#   REPS=1 PERF_N=10 tests/perf/run.sh    quick look
# Needs root (private OVS/libvirtd, netns), strace, the project venv (`make setup`).
# The peer (ansible 10.7.0 = last bundle with openvswitch.openvswitch, + community.libvirt from
# the same bundle) gets its own venv in build/perf/venv-peer, created here once.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$REPO/build/perf
PEER_VENV=${PEER_VENV:-$BUILD/venv-peer}
OUR_VENV=${OUR_VENV:-$REPO/.venv}
PEER_PKGS=(ansible==10.7.0 libvirt-python lxml)

[ "$(id -u)" = 0 ] || { echo "bench: needs root (private OVS, libvirtd, network namespaces)" >&2; exit 1; }
command -v strace >/dev/null || { echo "bench: strace missing (apt-get install strace) - it counts the execs" >&2; exit 1; }
[ -x "$OUR_VENV/bin/ansible-playbook" ] || { echo "bench: $OUR_VENV missing: run 'make setup' first" >&2; exit 1; }

mkdir -p "$BUILD" "$REPO/build/src/ansible_collections/kvmnet"
# our collection, live from the checkout (what `make srclink` does)
ln -sfn "$REPO" "$REPO/build/src/ansible_collections/kvmnet/hypervisor"

stamp=$PEER_VENV/.kvmnet-peer-pkgs
if [ "$(cat "$stamp" 2>/dev/null)" != "${PEER_PKGS[*]}" ]; then
  echo "bench: creating the peer venv $PEER_VENV (${PEER_PKGS[*]}), ~2 min once" >&2
  [ -x "$PEER_VENV/bin/python" ] || python3 -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install -q --disable-pip-version-check "${PEER_PKGS[@]}" >"$BUILD/pip-peer.log" 2>&1 \
    || { tail -20 "$BUILD/pip-peer.log" >&2; exit 1; }
  echo "${PEER_PKGS[*]}" > "$stamp"
fi

export PEER_VENV OUR_VENV
exec "$OUR_VENV/bin/python" "$REPO/tests/perf/bench.py" "$@"
