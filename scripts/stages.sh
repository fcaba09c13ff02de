# Stage bookkeeping for scripts/test.sh (sourced; kept apart so it can be tried on its own:
#   bash -c 'source scripts/stages.sh; run_stage demo bash -c "exit 77"; stages_summary').
# A stage command exits 0 (passed), 77 (skipped: data it needs is absent; the command has
# printed one line saying what to set) or anything else (failed: the run stops). Under CI=true
# a skipped stage fails the run: CI has the data (shared/ beside the clone) and runs everything.
stages=0
skipped=()
started=${started:-$SECONDS}
stage_done() {
  stages=$((stages + 1))
  echo "[test] stage $stages passed: $1 ($((SECONDS - started)) s so far; target/ $(du -sh "$ROOT/target" 2>/dev/null | cut -f1))"
}
stage_skipped() {
  skipped+=("$1")
  echo "[test] stage SKIPPED: $1" >&2
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    echo "[test] CI=$CI: every stage must run here, so a skipped stage fails the run" >&2
    exit 1
  fi
}
run_stage() {
  local name=$1 rc=0
  shift
  "$@" || rc=$?
  case $rc in
    0) stage_done "$name" ;;
    77) stage_skipped "$name" ;;
    *) echo "[test] stage FAILED: $name (exit $rc)" >&2; exit "$rc" ;;
  esac
}
stages_summary() {
  local list=""
  [ ${#skipped[@]} -eq 0 ] || list="; skipped: $(IFS=';'; echo "${skipped[*]}" | sed 's/;/; /g')"
  echo "stages: $stages passed, 0 failed, ${#skipped[@]} skipped ($((SECONDS - started)) s after setup)$list"
}
