#!/usr/bin/env bash
# scripts/interpreters.sh DIR - the managed-host Pythons this machine has, for ansible-test's
# compile check: fills DIR with python3.X links for every X in tests/platforms.yml's
# managed_python range that runs here, and prints their versions (one line, e.g. "3.9 3.10 3.11").
#
# Where they come from: python3.X on PATH if it runs (Debian 12 packages only 3.11), else a
# CPython that pyenv keeps ($(pyenv root)/versions/3.X.*: this machine image ships 3.6 to 3.13
# there). Nothing is downloaded: an interpreter that is not here is left out, and `make sanity`
# says which were checked.
set -euo pipefail
DIR=${1:?directory}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
range() { sed -n "s/^  $1: *\"\{0,1\}3\.\([0-9]*\)\"\{0,1\}.*/\1/p" "$REPO/tests/platforms.yml"; }
lo=$(range min); hi=$(range max)
[ -n "$lo" ] && [ -n "$hi" ] || { echo "interpreters: no managed_python min/max in tests/platforms.yml" >&2; exit 1; }
pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
rm -rf "$DIR"; mkdir -p "$DIR"
found=()
for ((m = lo; m <= hi; m++)); do
  v=3.$m exe=""
  if p=$(command -v "python$v" 2>/dev/null) && "$p" -c 'import sys' >/dev/null 2>&1; then
    exe=$(readlink -f "$p")
    # a pyenv shim runs the global version's python3.X only: resolve it to the real binary
    case $exe in */shims/*) exe=$("$p" -c 'import sys; print(sys.executable)');; esac
  else
    for p in "$pyenv_root"/versions/"$v".*/bin/python"$v"; do
      [ -x "$p" ] && "$p" -c 'import sys' >/dev/null 2>&1 && { exe=$p; break; }
    done
  fi
  [ -n "$exe" ] || continue
  ln -s "$exe" "$DIR/python$v"
  found+=("$v")
done
echo "${found[*]}"
