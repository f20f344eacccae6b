# scripts/stage.sh - sourced by scripts/test.sh and scripts/matrix.sh: one timed make stage.
#
# stage LABEL TARGET [MAKE ARGS...]: run `$MAKE_BIN -C $REPO TARGET ARGS...`, print its timing line
# and append it to $TIMINGS; returns make's status. Needs MAKE_BIN, REPO and TIMINGS set.
stage() {
  local label=$1 target=$2 start rc=0 line
  shift 2
  echo "=================== make $target $*"
  start=$(date +%s)
  "$MAKE_BIN" -C "$REPO" "$target" "$@" || rc=$?
  line=$(printf 'TIMING %-14s %5ss  %s' "$label" "$(( $(date +%s) - start ))" "$([ $rc = 0 ] && echo ok || echo "FAILED rc=$rc")")
  echo "$line" | tee -a "$TIMINGS"
  return $rc
}
