#!/usr/bin/env bash
# `make lab`: boot one lab hypervisor VM (Debian 12 under qemu, the collection's VM platform:
# playbooks/molecule/files/vm-up.sh, NIC layout in docs/molecule.md), run playbooks/hypervisor.yml against it with the lab inventory
# (tests/vm/lab/: inventory.yml, group_vars/hypervisors.yml) after defining the lab's paused L2
# guests (tests/vm/lab/guests.yml), print what got configured, gather the lab back
# (playbooks/gather.yml: host_vars and its picture) and write its fleet report
# (playbooks/report.yml), check the round trip (the playbook in check mode with only the gathered
# host_vars changes nothing), print where it all is, and leave the VM running. Run it again to
# re-apply (idempotent); `make lab-down` stops it.
#
# env: KVMNET_LAB_NAME (kvmnet-lab), KVMNET_LAB_PORT (2350), KVMNET_LAB_MEM (3072),
#      KVMNET_LAB_PLAYBOOK (playbooks/hypervisor.yml), KVMNET_LAB_OUT (build/lab: the gathered
#      host_vars, the picture, the report); extra args go to ansible-playbook
#      (e.g. tests/vm/lab-up.sh --check --diff, or -e kvmnet_serial=1)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NAME=${KVMNET_LAB_NAME:-kvmnet-lab}
PORT=${KVMNET_LAB_PORT:-2350}
PLAYBOOK=${KVMNET_LAB_PLAYBOOK:-$REPO_ROOT/playbooks/hypervisor.yml}
D=$VM_RUN/$NAME
export KVMNET_LAB_PORT=$PORT KVMNET_VM_CACHE=$VM_CACHE
unset KVMNET_VM_OWNER          # the lab VM outlives this script: no owning run

vm_lock                        # do not boot next to a Molecule run in progress
"$VM_DIR/build-image.sh"
if vm_pid_alive "$D"; then
  PORT=$(cat "$D/port"); export KVMNET_LAB_PORT=$PORT
  vm_log "lab VM $NAME already runs (ssh port $PORT): re-applying"
else
  "$VM_DIR/vm-up.sh" "$NAME" "$PORT" --group lab --mem "${KVMNET_LAB_MEM:-3072}" \
    --iommu 1 --igb 1 --mq 1
  touch "$D/keep"
fi
state=$(vm_ssh "$PORT" 'timeout 300 systemctl is-system-running --wait' || true)
vm_log "guest boot finished: $state"

rc=0
if [ -f "$PLAYBOOK" ]; then
  VENV=$(vm_venv)
  export PATH="$VENV/bin:$PATH"
  ANSIBLE_COLLECTIONS_PATH=$(vm_collection_path); export ANSIBLE_COLLECTIONS_PATH
  export ANSIBLE_CONFIG=$LAB_DIR/lab/ansible.cfg
  vm_log "the lab's paused L2 guests (tests/vm/lab/guests.yml)"
  ansible-playbook -i "$LAB_DIR/lab/inventory.yml" "$LAB_DIR/lab/guests.yml" || rc=$?
  vm_log "ansible-playbook $PLAYBOOK"
  T=$(date +%s)
  [ "$rc" = 0 ] && { ansible-playbook -i "$LAB_DIR/lab/inventory.yml" "$PLAYBOOK" "$@" || rc=$?; }
  vm_log "playbook finished in $(( $(date +%s) - T )) s (rc=$rc)"
else
  vm_log "no $PLAYBOOK yet: showing the VM's network state only"
fi

echo
echo "=================== what is configured on $NAME (read from the guest) ==================="
vm_ssh "$PORT" 'set +e
sec() { printf "\n--- %s\n" "$*"; }
sec "ip -br link / ip -br addr"; ip -br link; ip -br -4 addr
sec "ip -d link (bonds, bridges, macvtap, VFs)"
for t in bond bridge macvtap openvswitch; do ip -d link show type $t 2>/dev/null; done
ip -d link show enp1s0 | sed -n "1p;/vf [0-9]/p"
sec "bridge link"; bridge link show
for b in /proc/net/bonding/*; do [ -e "$b" ] && { sec "$b"; grep -E "Mode|Status|Aggregator ID|Partner Mac|Slave Interface" "$b"; }; done
sec "ovs-vsctl show"; ovs-vsctl --timeout=5 show 2>&1
for b in $(ovs-appctl bond/list 2>/dev/null | awk "NR>1{print \$1}"); do sec "ovs-appctl bond/show $b"; ovs-appctl bond/show "$b" | head -20; done
sec "virsh net-list --all / list --all"; virsh -c qemu:///system net-list --all; virsh -c qemu:///system list --all
sec "virsh nodedev-list --tree (the igb PF and its VFs)"; virsh -c qemu:///system nodedev-list --tree 2>/dev/null | grep -A14 -E "pci_0000_00_09_0$" | head -16
sec "modules"; lsmod | grep -E "^(vhost_net|bonding|openvswitch|macvtap|igb|igbvf|vfio_pci|netdevsim) " | cut -c1-40
V=$(basename "$(readlink -f /sys/class/net/enp0s10/device)")
sec "enp0s10 ($V) queue IRQs -> CPUs, XPS"; for i in $(grep -E "$V-(input|output)" /proc/interrupts | cut -d: -f1); do printf "irq %s %s -> %s\n" $i "$(grep -E "^ *$i:" /proc/interrupts | awk "{print \$NF}")" "$(cat /proc/irq/$i/smp_affinity_list)"; done
for q in /sys/class/net/enp0s10/queues/tx-*; do printf "%s xps_cpus=%s\n" "${q##*/}" "$(cat $q/xps_cpus)"; done
sec "systemctl is-active"; for u in systemd-networkd NetworkManager openvswitch-switch libvirtd irqbalance; do printf "%-22s %s\n" $u "$(systemctl is-active $u)"; done
'
OUT=${KVMNET_LAB_OUT:-$REPO_ROOT/build/lab}
mkdir -p "$OUT"
if [ -f "$PLAYBOOK" ]; then
  # the lab as network_info reads it back (host_vars + picture), and its fleet report (drift)
  ansible-playbook -i "$LAB_DIR/lab/inventory.yml" "$REPO_ROOT/playbooks/gather.yml" \
    -e kvmnet_gather_dir="$OUT/host_vars" -e '{"kvmnet_gather_pictures": ["mermaid", "svg"]}' \
    -e kvmnet_gather_pictures_dir="$OUT/pictures" >"$OUT/gather.log" 2>&1 || { rc=1; vm_log "gather failed: $OUT/gather.log"; }
  # the round trip (docs/brownfield.md): the gathered host_vars as the playbook's only input
  # (an inventory with the connection and nothing else; host_vars/ beside it) change nothing
  cat > "$OUT/inventory.yml" <<EOF
hypervisors:
  hosts:
    $NAME:
      ansible_host: 127.0.0.1
      ansible_port: $PORT
      ansible_user: root
      ansible_ssh_private_key_file: $VM_KEY
EOF
  if ansible-playbook --check -i "$OUT/inventory.yml" "$REPO_ROOT/playbooks/hypervisor.yml" \
       -e '{"kvmnet_checkpoint": false}' >"$OUT/roundtrip.log" 2>&1 \
     && [ "$(grep -Eo 'changed=[0-9]+' "$OUT/roundtrip.log" | awk -F= '{s += $2} END {print s + 0}')" = 0 ]; then
    roundtrip="no change (ok)"
  else
    roundtrip="FAILED: see $OUT/roundtrip.log"; rc=1
  fi
  ansible-playbook -i "$LAB_DIR/lab/inventory.yml" "$REPO_ROOT/playbooks/report.yml" \
    -e kvmnet_report_dest="$OUT/report.html" -e kvmnet_report_title="kvmnet lab" >"$OUT/report.log" 2>&1 \
    || { rc=1; vm_log "report failed: $OUT/report.log"; }
  echo
  echo "=================== the lab drawn and reported ==================="
  echo "gathered host_vars: $OUT/host_vars/$NAME.yml"
  echo "picture (SVG):      $OUT/pictures/$NAME.svg"
  echo "picture (Mermaid):  $OUT/pictures/$NAME.mmd"
  echo "fleet report:       $OUT/report.html"
  echo "round trip:         playbooks/hypervisor.yml --check with only the gathered host_vars: $roundtrip"
fi
echo
echo "lab VM $NAME is running:  ssh -i $VM_KEY -p $PORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1"
echo "serial console log: $D/console.log     stop it: make lab-down (tests/vm/lab-down.sh)"
exit $rc
