#!/usr/bin/env bash
# Build netdevsim.ko (not in Debian's kernel config) out of tree for the guest's kernel.
# usage: build-netdevsim.sh ROOTFS KVER
# The kernel packages are fetched with the GUEST's apt (its sources were copied from the
# host's apt configuration by build-image.sh), unpacked in a scratch dir and the module is
# compiled with the host's gcc (Debian 12's gcc-12, the compiler of Debian 12's kernels).
# Installs nothing on the host; the module lands in ROOTFS/lib/modules/KVER/updates/.
set -euo pipefail
R=$1; KVER=$2
ABI=${KVER%-amd64}; MAJ=$(echo "$KVER" | cut -d. -f1-2)
command -v gcc >/dev/null && command -v make >/dev/null || { echo "netdevsim: need gcc and make on the host" >&2; exit 1; }
W=$(mktemp -d "$R/tmp/nsim.XXXXXX"); trap 'rm -rf "$W"' EXIT
IW=/tmp/$(basename "$W")          # same dir seen from inside the chroot
chroot "$R" sh -c "cd $IW && apt-get download -q linux-headers-$KVER linux-headers-$ABI-common linux-kbuild-$MAJ linux-source-$MAJ" 2>&1 \
  | grep -v -e unsandboxed -e '^Get:' || true
cd "$W"
for d in *.deb; do dpkg-deb -x "$d" root; done
sed -i "s#include /usr/src/#include $W/root/usr/src/#" "root/usr/src/linux-headers-$KVER/Makefile"
# the kbuild scripts live in linux-kbuild-MAJ under /usr/lib; point the headers at our copy
for l in $(find root/usr/src -maxdepth 2 -type l); do
  t=$(readlink "$l"); case $t in /*) ln -sfn "$W/root$t" "$l";; esac
done
tar -xJf "root/usr/src/linux-source-$MAJ.tar.xz" "linux-source-$MAJ/drivers/net/netdevsim"
make -s -C "root/usr/src/linux-headers-$KVER" M="$W/linux-source-$MAJ/drivers/net/netdevsim" \
  CONFIG_NETDEVSIM=m modules 2>&1 | grep -v 'Skipping BTF' || true
OUT=$R/lib/modules/$KVER/updates
mkdir -p "$OUT"
cp "$W/linux-source-$MAJ/drivers/net/netdevsim/netdevsim.ko" "$OUT/"
chroot "$R" depmod -a "$KVER"
echo "netdevsim: built for $KVER"
