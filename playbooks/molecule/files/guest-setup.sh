#!/usr/bin/env bash
# Customize the lab guest's root filesystem (called by build-image.sh as an mmdebstrap
# customize hook).   usage: guest-setup.sh ROOTFS AUTHORIZED_KEY_FILE
#
# Network stacks in the image and who owns what:
#   systemd-networkd  enabled; manages ONLY the management NIC (matched by its fixed MAC
#                     52:54:00:00:00:01, DHCP from qemu user-net). Scenarios add their own
#                     .network/.netdev files for the other NICs.
#   ifupdown          installed; /etc/network/interfaces holds only lo (+ interfaces.d),
#                     so networking.service touches nothing until a scenario writes a stanza.
#   NetworkManager    installed but disabled (a scenario testing NM keyfiles enables it with
#                     `systemctl enable --now NetworkManager`). Even then it never takes the
#                     management NIC (unmanaged-devices) and never invents "Wired connection N"
#                     profiles for the other NICs (no-auto-default=*), so networkd and NM
#                     coexist: each manages only what it is given.
set -euo pipefail
R=$1; KEY=$2
[ -d "$R/etc" ] || { echo "not a rootfs: $R" >&2; exit 1; }
in_root() { chroot "$R" "$@"; }

echo kvmnet-lab > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 kvmnet-lab\n::1 localhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
printf '/dev/vda / ext4 defaults,noatime,discard 0 1\n' > "$R/etc/fstab"

# root login with the lab key only
install -d -m 700 "$R/root/.ssh"
install -m 600 "$KEY" "$R/root/.ssh/authorized_keys"
in_root passwd -d root >/dev/null
printf 'UseDNS no\nPasswordAuthentication no\n' > "$R/etc/ssh/sshd_config.d/kvmnet-lab.conf"

# management NIC: systemd-networkd, DHCP from qemu user-net
install -d "$R/etc/systemd/network"
cat > "$R/etc/systemd/network/10-kvmnet-mgmt.network" <<'EOF'
# kvmnet lab: management NIC (qemu user-net, ssh forwarded from the host). Do not touch.
[Match]
MACAddress=52:54:00:00:00:01

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
# wait-online: the management NIC is enough (scenario links may legitimately stay down); up
# to 120 s: with two guests booting on two cores, the first one's link took more than 30 s
# (the unit failed and with it the scenario's "no unit failed after the reboot" check)
install -d "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$R/etc/systemd/system/systemd-networkd-wait-online.service.d/kvmnet-lab.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=120
EOF

# ifupdown: loopback only
cat > "$R/etc/network/interfaces" <<'EOF'
# kvmnet lab: ifupdown manages nothing but lo until a scenario adds a stanza.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
install -d "$R/etc/network/interfaces.d"

# NetworkManager: installed, disabled, never on the management NIC
install -d "$R/etc/NetworkManager/conf.d"
cat > "$R/etc/NetworkManager/conf.d/10-kvmnet-lab.conf" <<'EOF'
# kvmnet lab: the management NIC belongs to systemd-networkd; NM only manages what a
# scenario gives it (keyfiles), it never auto-creates "Wired connection" profiles.
[main]
no-auto-default=*

[keyfile]
unmanaged-devices=mac:52:54:00:00:00:01
EOF

rm -f "$R/etc/resolv.conf"
echo "nameserver 10.0.2.3" > "$R/etc/resolv.conf"

in_root systemctl enable systemd-networkd ssh serial-getty@ttyS0 >/dev/null 2>&1
in_root systemctl disable NetworkManager NetworkManager-wait-online NetworkManager-dispatcher \
  >/dev/null 2>&1 || true
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer man-db.timer logrotate.timer; do
  in_root systemctl disable "$u" >/dev/null 2>&1 || true
done
# persistent, small journal: `journalctl -b -1` shows the boot before a scenario's reboot
install -d "$R/etc/systemd/journald.conf.d" "$R/var/log/journal"
printf '[Journal]\nStorage=persistent\nSystemMaxUse=64M\n' > "$R/etc/systemd/journald.conf.d/kvmnet-lab.conf"
# a unit that hangs on stop must not cost a scenario 90 s per reboot
install -d "$R/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=20s\n' > "$R/etc/systemd/system.conf.d/kvmnet-lab.conf"

# Open vSwitch: create its database now instead of at every first boot (seconds under TCG)
if [ -f "$R/usr/share/openvswitch/vswitch.ovsschema" ] && [ ! -e "$R/etc/openvswitch/conf.db" ]; then
  in_root ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
fi

# small initramfs (only what mounts the root disk): the kernel boots seconds faster under
# TCG than with Debian's MODULES=most initrd
sed -i 's/^MODULES=.*/MODULES=list/' "$R/etc/initramfs-tools/initramfs.conf"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic > "$R/etc/initramfs-tools/modules"
in_root update-initramfs -u -k all >/dev/null
echo "guest-setup: done"
