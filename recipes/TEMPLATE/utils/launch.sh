#!/usr/bin/env bash
# Runs the jobs of a jobs file ("<task-name> <shell command>" per line) with the launcher of
# cmd.sh, logging each task to <log-dir>/<name>.<task>.log. Exits non-zero, naming every
# failed task and its log, when any task fails.
# Run it from a recipe dir (it reads ./cmd.sh).
set -euo pipefail

name=jobs
jobs_file=""
log_dir=log
__options="name jobs_file log_dir"
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
[ -f "$jobs_file" ] || { echo "$0: error: --jobs-file '$jobs_file' not found" >&2; exit 2; }
mkdir -p "$log_dir"

case "$launcher" in
  local) ;;
  *) echo "$0: error: unknown launcher '$launcher' in cmd.sh; use local" >&2; exit 2 ;;
esac

failed=()
declare -A pids=()
run_task() {  # task command...
  local task="$1"; shift
  local logf="$log_dir/$name.$task.log"
  { echo "# $(date '+%F %T') $*"; bash -c "$*"; } > "$logf" 2>&1
}
while read -r task cmd; do
  [ -n "$task" ] || continue
  while [ "$(jobs -rp | wc -l)" -ge "$nj" ]; do wait -n || true; done
  run_task "$task" "$cmd" &
  pids[$task]=$!
done < "$jobs_file"
for task in "${!pids[@]}"; do
  wait "${pids[$task]}" || failed+=("$task")
done
if [ ${#failed[@]} -gt 0 ]; then
  for task in "${failed[@]}"; do
    echo "$0: error: task $task failed; see $log_dir/$name.$task.log" >&2
  done
  exit 1
fi
