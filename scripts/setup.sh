#!/usr/bin/env bash
# scripts/setup.sh - install everything `make test` needs on a Debian 12 machine.
#
# Idempotent and fast when already done (each step checks first):
#   1. apt (root): qemu 10 from bookworm-backports, then scripts/packages-host.txt
#   2. .venv (python3.11 -m venv) with requirements-dev.txt (skipped when the stamp matches);
#      the same for an ansible-core matrix venv with REQUIREMENTS=tests/matrix/ansible-core-X.txt
#   3. ansible-test's get-pip cache entry, pointed at scripts/get_pip_offline.py
#
# Environment:
#   PYTHON=python3.11   interpreter for the venv
#   VENV=<repo>/.venv   venv location
#   REQUIREMENTS=<repo>/requirements-dev.txt   what pip installs into it (the Makefile passes
#                       tests/matrix/ansible-core-X.txt and .venvs/ansible-core-X for ANSIBLE_CORE=X)
#   SKIP_APT=1          skip step 1 (e.g. non-root developer machines with packages installed)
#   FORCE_PIP=1         run pip even when the stamp says requirements are unchanged
# Arguments: none = all steps; or any of: apt venv get-pip (e.g. `setup.sh get-pip`).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-$REPO/.venv}
REQUIREMENTS=${REQUIREMENTS:-$REPO/requirements-dev.txt}
LOGDIR=$REPO/build/logs
PKG_LIST=$REPO/scripts/packages-host.txt
BACKPORTS_FILE=/etc/apt/sources.list.d/kvmnet-backports.sources
BACKPORTS_PKGS=(qemu-system-x86 qemu-utils)
APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
export DEBIAN_FRONTEND=noninteractive

T0=$(date +%s)
log() { printf '[setup %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$LOGDIR"

# Several engineers (and their clones) may run setup at once: serialize on this script.
exec 9<"${BASH_SOURCE[0]}"
flock 9

# ---------------------------------------------------------------- 1. apt
host_packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$PKG_LIST" | grep -v '^$'; }

missing_packages() {
  local p st
  for p in "$@"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || echo "$p"
  done
}

qemu_has_igb() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 &&
    qemu-system-x86_64 -machine none -device help 2>/dev/null | grep -qw igb
}

# Print "URIS<TAB>SIGNED_BY" of the host's main Debian source for suite $1 (deb822 first,
# then one-line format). Nothing is hard-coded: the mirror is whatever this host already uses.
host_debian_source() {
  local codename=$1 f
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    [ "$f" = "$BACKPORTS_FILE" ] && continue
    awk -v suite="$codename" '
      function flush() {
        if (inline_key) signed = ""  # an embedded key block cannot be copied line-wise; apt falls back to trusted.gpg.d
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && enabled != "no") {
          printf "%s\t%s\n", uris, signed; found = 1; exit
        }
        types = suites = uris = signed = enabled = last = ""; inline_key = 0
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]/ { if (last == "signed-by") inline_key = 1; next }
      {
        key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
        if (key == "types") types = val
        else if (key == "suites") suites = val
        else if (key == "uris") uris = val
        else if (key == "signed-by") signed = val
        else if (key == "enabled") enabled = tolower(val)
        last = key
      }
      END { if (!found) flush() }
    ' "$f" | head -n1 | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$codename" '
      $1 != "deb" { next }
      {
        opts = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ } }
        uri = $i; s = $(i + 1)
        if (s != suite) next
        signed = ""
        if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        printf "%s\t%s\n", uri, signed; exit
      }
    ' "$f" | head -n1 | grep . && return 0
  done
  return 1
}

write_backports_source() {
  local codename src uris signed tmp
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
  src=$(host_debian_source "$codename") ||
    die "no Debian source for suite '$codename' in /etc/apt/sources.list{,.d}; cannot derive ${codename}-backports"
  uris=${src%%$'\t'*}; signed=${src#*$'\t'}
  tmp=$(mktemp)
  {
    echo "# Written by kvmnet.hypervisor scripts/setup.sh: the host's own Debian mirror,"
    echo "# suite ${codename}-backports (qemu 10 for -device igb)."
    echo "Types: deb"
    echo "URIs: $uris"
    echo "Suites: ${codename}-backports"
    echo "Components: main"
    [ -n "$signed" ] && echo "Signed-By: $signed"
  } > "$tmp"
  if ! cmp -s "$tmp" "$BACKPORTS_FILE" 2>/dev/null; then
    install -m 0644 "$tmp" "$BACKPORTS_FILE"
    log "wrote $BACKPORTS_FILE (URIs: $uris)"
  fi
  rm -f "$tmp"
  BACKPORTS_SUITE=${codename}-backports
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_CREATED=0
cleanup_policy() { if [ "$POLICY_CREATED" = 1 ]; then rm -f "$POLICY_RC"; POLICY_CREATED=0; fi; }
trap cleanup_policy EXIT

apt_run() {  # apt_run LOGNAME apt-get-args...
  local name=$1; shift
  if ! apt-get "$@" >>"$LOGDIR/$name.log" 2>&1; then
    tail -n 30 "$LOGDIR/$name.log" >&2
    die "apt-get $* failed (full log: $LOGDIR/$name.log)"
  fi
}

step_apt() {
  local pkgs missing
  mapfile -t pkgs < <(host_packages)
  mapfile -t missing < <(missing_packages "${pkgs[@]}" "${BACKPORTS_PKGS[@]}")
  if [ ${#missing[@]} -eq 0 ] && qemu_has_igb && [ -f "$BACKPORTS_FILE" ]; then
    log "apt: all ${#pkgs[@]} host packages present, qemu has igb ($(qemu-system-x86_64 --version | head -n1))"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "apt packages missing (${missing[*]:-qemu with igb}); run as root or install them, or SKIP_APT=1"

  # Package postinst scripts must not start daemons (no systemd here; tests start their own).
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$POLICY_RC"; chmod 0755 "$POLICY_RC"; POLICY_CREATED=1
  fi

  write_backports_source
  : > "$LOGDIR/apt.log"
  log "apt: update"
  # the lists lock is not covered by DPkg::Lock::Timeout on every apt version: retry a few times
  local try
  for try in 1 2 3 4 5; do
    apt-get -q -o DPkg::Lock::Timeout=600 update >>"$LOGDIR/apt.log" 2>&1 && break
    [ "$try" = 5 ] && { tail -n 30 "$LOGDIR/apt.log" >&2; die "apt-get update failed (log: $LOGDIR/apt.log)"; }
    log "apt: update failed (attempt $try), retrying in 10 s"; sleep 10
  done
  if ! qemu_has_igb; then
    log "apt: install -t $BACKPORTS_SUITE ${BACKPORTS_PKGS[*]}"
    apt_run apt install "${APT_OPTS[@]}" -t "$BACKPORTS_SUITE" "${BACKPORTS_PKGS[@]}"
  fi
  mapfile -t missing < <(missing_packages "${pkgs[@]}")
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt: install ${missing[*]}"
    apt_run apt install "${APT_OPTS[@]}" "${missing[@]}"
  fi
  cleanup_policy
  qemu_has_igb || die "qemu-system-x86_64 has no igb device after install ($(qemu-system-x86_64 --version | head -n1))"
  log "apt: done ($(qemu-system-x86_64 --version | head -n1))"
}

# ---------------------------------------------------------------- 2. venv
# The requirements file and every file it includes with -r (one level, relative to it): what
# the stamp hashes, so editing requirements-tests.txt re-runs pip in every venv.
requirement_files() {
  local dir inc
  echo "$REQUIREMENTS"
  dir=$(dirname "$REQUIREMENTS")
  sed -n 's/^[[:space:]]*-r[[:space:]]*//p' "$REQUIREMENTS" | while read -r inc; do
    case $inc in /*) echo "$inc";; *) echo "$dir/$inc";; esac
  done
}

step_venv() {
  local stamp=$VENV/.kvmnet-requirements.sha256 want log files
  [ -f "$REQUIREMENTS" ] || die "requirements file $REQUIREMENTS does not exist"
  log=$LOGDIR/pip-$(basename "$VENV").log
  if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
    log "venv: creating $VENV with $PYTHON"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    rm -f "$stamp"
  fi
  mapfile -t files < <(requirement_files)
  want=$( { "$VENV/bin/python" -c 'import sys; print(sys.version)'; cat "${files[@]}"; } | sha256sum | cut -d' ' -f1)
  if [ "${FORCE_PIP:-0}" != 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "venv: requirements unchanged (stamp $stamp)"
    return 0
  fi
  log "venv: pip install -r ${REQUIREMENTS#"$REPO"/} into $VENV (log: $log)"
  : > "$log"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" \
      >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "pip install failed (full log: $log)"
  fi
  "$VENV/bin/python" -c 'import ansible, ansible_test, pyroute2, ovs.db.idl, lxml.etree, libvirt, hypothesis' ||
    die "venv imports failed after pip install"
  echo "$want" > "$stamp"
  log "venv: ready (ansible-core $("$VENV/bin/python" -c 'from ansible.release import __version__; print(__version__)'))"
}

# ---------------------------------------------------------------- 3. ansible-test get-pip shim
# ansible-test bootstraps pip in every venv it makes by downloading get-pip.py from a host this
# machine cannot reach, unless ~/.ansible/test/cache/get_pip_<version>.py exists. The version is
# the pip that ansible-test pins in its own requirements.
step_get_pip() {
  local pipver cache
  pipver=$("$VENV/bin/python" - <<'PY'
import types
try:  # ask ansible-test itself (the pip it bootstraps into --venv environments for 3.11)
    from ansible_test._internal.python_requirements import get_venv_packages
    print(get_venv_packages(types.SimpleNamespace(version='3.11'))['pip'])
except Exception:  # internal API moved: fall back to reading its default pin from the source
    import os, re, ansible_test
    src = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    m = re.search(r"pip='([0-9.]+)'", open(src).read())
    print(m.group(1) if m else '')
PY
)
  [ -n "$pipver" ] || die "cannot read ansible-test's pinned pip version"
  cache=$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py
  mkdir -p "$(dirname "$cache")"
  if ! cmp -s "$REPO/scripts/get_pip_offline.py" "$cache"; then
    cp "$REPO/scripts/get_pip_offline.py" "$cache"
    log "get-pip: installed offline shim as $cache"
  else
    log "get-pip: shim present ($cache)"
  fi
}

STEPS=("$@"); [ ${#STEPS[@]} -gt 0 ] || STEPS=(apt venv get-pip)
for step in "${STEPS[@]}"; do
  case $step in
    apt) if [ "${SKIP_APT:-0}" = 1 ]; then log "apt: skipped (SKIP_APT=1)"; else step_apt; fi;;
    venv) step_venv;;
    get-pip) step_get_pip;;
    *) die "unknown step '$step' (use: apt venv get-pip)";;
  esac
done
log "done"
