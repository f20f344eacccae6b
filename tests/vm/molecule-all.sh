#!/usr/bin/env bash
# Tier 3: run every Molecule VM scenario: one VM at a time by default; `make test` runs two
# workers once its checks lane has ended (KVMNET_VM_WORKERS, KVMNET_VM_WORKER_GATE below).
#
# usage: tests/vm/molecule-all.sh [--all-releases] [SCENARIO[@RELEASE]...]
#   (default: every extensions/molecule/*/molecule.yml and user-repo, each on the guest
#   release(s) tests/vm/releases.txt gives it, in that file's order: the whole run of `make test`)
#   SCENARIO@RELEASE  run on that Debian release (bookworm | trixie); a bare SCENARIO runs on
#                     $KVMNET_VM_RELEASE (default bookworm)
#   --all-releases    every named (or every) scenario on every release the platform builds
#   user-repo: the sample user repo tests/molecule-user (its run.sh installs the built tarball
#   build/dist/*.tar.gz and runs its scenario with nothing from the source tree)
#
#   1. takes the machine's VM lock (a second run waits), cleans stale VMs of dead runs
#   2. refuses to start next to a VM that stays up (lab VM, interactive converge); VMs of
#      another live run are waited for (playbooks/molecule/files/vm-up.sh)
#   3. builds the guest image if its inputs changed (cached in $KVMNET_VM_CACHE)
#   4. `molecule test` per scenario (create, converge, idempotence, verify, reboot, verify,
#      destroy); destroy always runs, and leftovers are removed by pid after each scenario.
#      The workers take the scenarios from one queue in order (longest first), never the same
#      scenario twice at once (one VM name, one port, one Molecule state per scenario); each
#      worker owns its VMs (its own owner token: cleanup-stale.sh leaves the other's alone)
#   5. prints per-scenario and per-step timings; exit 1 if any scenario failed or is
#      incomplete (no scenario is ever skipped silently)
#
# env: KVMNET_VM_SCENARIO_TIMEOUT  seconds per scenario (default 1800, 2700 with two workers:
#                                 hypervisor takes 15-25 min)
#      KVMNET_VM_WORKERS          VMs at once (default 1; at most the number of cores: a TCG
#                                 guest keeps one core busy)
#      KVMNET_VM_WORKER_GATE      a file: the workers after the first start once it exists (the
#                                 checks lane of scripts/test.sh creates it when it ends, so
#                                 the second core is free), or when they would have nothing to do
#      KVMNET_VM_LOGS             log dir (default build/vm-logs); one log per scenario
#      KVMNET_VM_VERBOSE=1        also stream molecule's output to the console
set -uo pipefail
. "$(dirname "$0")/lib.sh"

LOGS=${KVMNET_VM_LOGS:-$REPO_ROOT/build/vm-logs}
WORKERS=${KVMNET_VM_WORKERS:-1}
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || vm_die "KVMNET_VM_WORKERS must be a whole number >= 1, got '$WORKERS'"
CORES=$(nproc 2>/dev/null || echo 1)
[ "$WORKERS" -le "$CORES" ] || { vm_log "KVMNET_VM_WORKERS=$WORKERS > $CORES cores: $CORES workers"; WORKERS=$CORES; }
if [ "$WORKERS" -gt 1 ]; then STO=${KVMNET_VM_SCENARIO_TIMEOUT:-2700}; else STO=${KVMNET_VM_SCENARIO_TIMEOUT:-1800}; fi
MOLDIR=$REPO_ROOT/extensions/molecule
USER_REPO=user-repo
mkdir -p "$LOGS"

# scenario_dir S: the directory of scenario S's playbooks
scenario_dir() {
  if [ "$1" = "$USER_REPO" ]; then echo "$REPO_ROOT/tests/molecule-user/molecule/default"; else echo "$MOLDIR/$1"; fi
}

ALL_RELEASES=0
if [ "${1:-}" = --all-releases ]; then ALL_RELEASES=1; shift; fi
RELEASES_FILE=$LAB_DIR/releases.txt
# releases_of S: the releases scenario S runs on in the whole run (tests/vm/releases.txt)
releases_of() {
  local r
  r=$(awk -v s="$1" '{ sub(/#.*/, "") } $1 == s { $1 = ""; print; exit }' "$RELEASES_FILE")
  [ -n "${r// /}" ] || vm_die "scenario $1 has no line in $RELEASES_FILE (every scenario runs on a release it names)"
  echo $r
}

if [ $# -gt 0 ]; then
  SCENARIOS=("$@")
else
  mapfile -t SCENARIOS < <(cd "$MOLDIR" && ls -d -- */ 2>/dev/null | tr -d / | sort |
    while read -r s; do [ -f "$s/molecule.yml" ] && echo "$s"; done)
  # a scenario with a NOT_IN_CI file is left out of the whole run (its first line says why; it
  # still runs when named: tests/vm/molecule-all.sh NAME or tests/vm/molecule.sh NAME test)
  KEPT=()
  for s in "${SCENARIOS[@]}"; do
    if [ -f "$MOLDIR/$s/NOT_IN_CI" ]; then
      vm_log "$s: SKIPPED, not in the whole run: $(head -n 1 "$MOLDIR/$s/NOT_IN_CI")"
    else
      KEPT+=("$s")
    fi
  done
  SCENARIOS=("${KEPT[@]}" "$USER_REPO")
  # in the order of tests/vm/releases.txt (the longest first: the workers share the queue);
  # every scenario has its line there (releases_of below dies otherwise)
  mapfile -t SCENARIOS < <(printf '%s\n' "${SCENARIOS[@]}" | awk -v f="$RELEASES_FILE" '
    BEGIN { while ((getline l < f) > 0) { split(l, w, /[ \t]+/); if (l !~ /^[ \t]*#/ && w[1] != "") rank[w[1]] = ++n } }
    { print (($1 in rank) ? rank[$1] : 0) "\t" $1 }' | sort -n -s -k1,1 | cut -f2)
fi
[ ${#SCENARIOS[@]} -gt 0 ] || vm_die "no scenarios under extensions/molecule/"
# -> RUNS: SCENARIO@RELEASE entries, in order
RUNS=()
for s in "${SCENARIOS[@]}"; do
  if [[ $s == *@* ]]; then RUNS+=("$s"); continue; fi
  if [ "$ALL_RELEASES" = 1 ]; then rels=("${VM_RELEASES[@]}")
  elif [ $# -gt 0 ]; then rels=("$VM_RELEASE")
  else read -r -a rels <<<"$(releases_of "$s")"
  fi
  for r in "${rels[@]}"; do RUNS+=("$s@$r"); done
done
for e in "${RUNS[@]}"; do
  vm_image_dir "${e#*@}" >/dev/null || exit 1
  [ "${e%@*}" = "$USER_REPO" ] || [ -f "$MOLDIR/${e%@*}/molecule.yml" ] || vm_die "no scenario ${e%@*}"
done
VENV=$(vm_venv)
[ -x "$VENV/bin/molecule" ] || vm_die "no molecule in $VENV"

T_ALL=$(date +%s)
vm_lock
KVMNET_VM_OWNER=$(vm_owner_token $$); export KVMNET_VM_OWNER
vm_log "scenarios (${#RUNS[@]}): ${RUNS[*]}"

"$VM_DIR/cleanup-stale.sh"
# VMs still up now: those of another live run end by themselves (vm-up.sh waits for them);
# the lab VM and interactive ones (no owner) would make us wait for nothing: fail fast
busy=""
for d in "$VM_RUN"/*/; do
  [ -d "$d" ] && vm_pid_alive "${d%/}" && [ -z "$(cat "${d%/}/owner" 2>/dev/null)" ] && busy+=" $(basename "$d")"
done
if [ -n "$busy" ] && [ "${KVMNET_VM_ALLOW_PARALLEL:-0}" != 1 ]; then
  vm_die "VM(s)$busy still running (lab or interactive molecule): stop them first
       (make lab-down / playbooks/molecule/files/vm-down.sh NAME), or set KVMNET_VM_ALLOW_PARALLEL=1"
fi

# boot retries of this run (playbooks/molecule/files/vm-restart.sh appends one line per retried boot)
RETRY_LOG=$VM_RUN/boot-retries.log
RETRY_SKIP=$(cat "$RETRY_LOG" 2>/dev/null | wc -l)

T=$(date +%s)
for r in $(printf '%s\n' "${RUNS[@]}" | sed 's/.*@//' | sort -u); do
  "$VM_DIR/build-image.sh" "$r" || vm_die "guest image build ($r) failed"
done
T_IMAGE=$(( $(date +%s) - T ))

# the queue and each run's result (RESULT|SECS|STEPS per entry: workers are subshells)
# (not under $VM_RUN: every directory there is a VM's)
QDIR=$(mktemp -d "${TMPDIR:-/tmp}/kvmnet-vm-queue.XXXXXX")
trap 'rm -rf "$QDIR"' EXIT
printf '%s\n' "${RUNS[@]}" > "$QDIR/queue"

# next_entry: print the first queued entry whose scenario no worker runs, and mark it running;
# wait while only such entries are left; status 1 when the queue is empty
next_entry() {
  local found line
  while :; do
    exec 7>"$QDIR/lock"; flock 7
    [ -s "$QDIR/queue" ] || { exec 7>&-; return 1; }
    found=""
    while IFS= read -r line; do
      if [ -z "$found" ] && [ ! -e "$QDIR/running.${line%@*}" ]; then found=$line; else printf '%s\n' "$line"; fi
    done < "$QDIR/queue" > "$QDIR/queue.new"
    mv "$QDIR/queue.new" "$QDIR/queue"
    [ -n "$found" ] && touch "$QDIR/running.${found%@*}"
    exec 7>&-
    [ -n "$found" ] && { printf '%s\n' "$found"; return 0; }
    sleep 5
  done
}

# run_entry SCENARIO@RELEASE WORKER: molecule test of one entry; its result into $QDIR/res.ENTRY
run_entry() {
  local e=$1 w=$2 scen=${1%@*} log=$LOGS/$1.log missing="" f p T rc secs steps result out cmd
  # a scenario may run another scenario's playbooks (provisioner.playbooks in molecule.yml)
  for f in converge verify; do
    p=$(awk -v k="$f" '$1 == k":" { print $2; exit }' "$(scenario_dir "$scen")/molecule.yml" 2>/dev/null)
    [ -f "$(scenario_dir "$scen")/${p:-$f.yml}" ] || missing+=" ${p:-$f.yml}"
  done
  if [ -n "$missing" ]; then
    printf '%s|0|\n' "FAIL (incomplete:$missing)" > "$QDIR/res.$e"
    vm_log "[w$w] $e: FAIL, missing$missing"; return
  fi
  vm_log "[w$w] $e: molecule test (log: $log)"
  T=$(date +%s)
  # every output line gets the seconds since the scenario started (for the step timings)
  if [ "${KVMNET_VM_VERBOSE:-0}" = 1 ]; then out=/dev/stderr; else out=/dev/null; fi
  if [ "$scen" = "$USER_REPO" ]; then cmd=("$REPO_ROOT/tests/molecule-user/run.sh" test)
  else cmd=("$LAB_DIR/molecule.sh" "$scen" test); fi
  KVMNET_VM_RELEASE=${e#*@} timeout --kill-after=60 "$STO" "${cmd[@]}" </dev/null 2>&1 |
    while IFS= read -r line; do printf '%5d %s\n' $(( $(date +%s) - T )) "$line"; done | tee "$log" >"$out"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - T ))
  # safety net: whatever this worker left behind (timeout, crash) is stopped by its pid file
  "$VM_DIR/cleanup-stale.sh" 2>&1 | sed 's/^/    /' >&2
  # step timings from molecule's "[scenario > step] Executing/Executed" lines
  steps=$(awk '
    /\] Executing$/ { if (match($0, /> [a-z_]+\]/)) { st = substr($0, RSTART + 2, RLENGTH - 3); t0 = $1 } }
    /\] Executed: / { if (st != "") { printf "%s %ds, ", st, $1 - t0; st = "" } }' "$log")
  steps=${steps%, }
  if [ "$rc" = 0 ]; then
    result=ok
  else
    [ "$rc" = 124 ] && result="FAIL (timeout ${STO}s)" || result="FAIL (rc=$rc)"
    vm_log "[w$w] $e: $result; last lines of $log:"
    tail -40 "$log" | cut -c7- >&2
  fi
  printf '%s|%s|%s\n' "$result" "$secs" "$steps" > "$QDIR/res.$e"
  vm_log "[w$w] $e: $result in $secs s"
}

# worker N: its own owner token (its VMs are its own to clean up), then entries until none is left
worker() {
  local w=$1 e me=$BASHPID    # (inside $(...) BASHPID would be that short-lived subshell's)
  KVMNET_VM_OWNER=$(vm_owner_token "$me"); export KVMNET_VM_OWNER
  # the other worker's VM is not one for vm-up.sh to wait for
  [ "$WORKERS" -gt 1 ] && export KVMNET_VM_ALLOW_PARALLEL=1
  if [ "$w" -gt 1 ]; then
    if [ -n "${KVMNET_VM_WORKER_GATE:-}" ]; then
      until [ -e "$KVMNET_VM_WORKER_GATE" ] || [ ! -s "$QDIR/queue" ]; do sleep 10; done
    fi
    [ -s "$QDIR/queue" ] || return 0
    vm_log "[w$w] starts beside worker 1 ($(( $(date +%s) - T_ALL )) s into the run)"
  fi
  while e=$(next_entry); do
    run_entry "$e" "$w"
    rm -f "$QDIR/running.${e%@*}"
  done
}

PIDS=()
for w in $(seq 1 "$WORKERS"); do
  worker "$w" &
  PIDS+=($!)
done
wait "${PIDS[@]}"

declare -A RESULT SECS STEPS
FAILED=0
for e in "${RUNS[@]}"; do
  if [ -f "$QDIR/res.$e" ]; then
    IFS='|' read -r RESULT[$e] SECS[$e] STEPS[$e] < "$QDIR/res.$e"
  else
    RESULT[$e]="FAIL (not run)"; SECS[$e]=0; STEPS[$e]=""
  fi
  [ "${RESULT[$e]}" = ok ] || FAILED=$((FAILED + 1))
done

TOTAL=$(( $(date +%s) - T_ALL ))
{
  echo
  echo "=== tier 3: Molecule VM scenarios ($WORKERS VM(s) at a time, qemu $VM_ACCEL) ==="
  printf '%-22s %-28s %6s  %s\n' scenario result seconds steps
  printf '%-22s %-28s %6s\n' "(image)" "$( [ "$T_IMAGE" -gt 5 ] && echo built || echo cached)" "$T_IMAGE"
  for s in "${RUNS[@]}"; do
    printf '%-22s %-28s %6s  %s\n' "$s" "${RESULT[$s]}" "${SECS[$s]}" "${STEPS[$s]:-}"
  done
  printf '%-22s %-28s %6s\n' total "$(( ${#RUNS[@]} - FAILED ))/${#RUNS[@]} passed" "$TOTAL"
  echo "logs: $LOGS"
  # a retried boot is not hidden: every one is listed (the scenario passed on the second boot)
  tail -n +$(( RETRY_SKIP + 1 )) "$RETRY_LOG" 2>/dev/null | sed 's/^/boot retried: /'
  # why each failed scenario failed, in a few lines (CI shows the tail of the output)
  for s in "${RUNS[@]}"; do
    [ "${RESULT[$s]}" = ok ] || [ ! -f "$LOGS/$s.log" ] && continue
    echo "--- $s failed at:"
    # the task, ansible's one-line error and the head of the first fatal result that was not
    # ignored (stderr, msg); else molecule's CRITICAL line
    awk '/ TASK \[/ { if (cap && !ign && !done) { print ptask; print perr; printf "%s", buf; done = 1 }
                      cap = 0; task = $0; err = "" }
         / \[ERROR\]: / { err = $0 }
         / fatal: / && !done && !cap { cap = 1; ign = 0; n = 0; buf = ""; ptask = task; perr = err }
         cap && n < 45 { buf = buf $0 "\n"; n++ }
         /\.\.\.ignoring/ { if (cap) ign = 1 }
         / CRITICAL / && !crit && !/glob failed/ { crit = $0 }
         / ERROR +Idempotence test failed/ { idem = 1 }
         idem && /^ *[0-9]+ \*  => / { crit = crit (crit == "" ? "" : "\n") $0 }
         END { if (cap && !ign && !done) { print ptask; print perr; printf "%s", buf; done = 1 }
               if (!done && crit != "") print crit }' "$LOGS/$s.log" | cut -c7- | cut -c1-600
  done
} | tee "$LOGS/summary.txt"
[ "$FAILED" = 0 ]
