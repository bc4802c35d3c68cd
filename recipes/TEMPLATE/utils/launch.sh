#!/usr/bin/env bash
# Runs the jobs of a jobs file ("<task-name> <shell command>" per line) with the launcher of
# cmd.sh, logging each task to <log-dir>/<name>.<task>.log. Exits non-zero, naming every
# failed task and its log, when any task fails; an empty jobs file does nothing.
#   local: on this machine, up to $nj tasks at once (default: the number of cores).
#   slurm: one 'sbatch --array=1-N' job, array task i running line i (utils/slurm_task.sh),
#          waited for with 'sbatch --wait'. Each task writes its exit status to
#          <log-dir>/<name>.slurm/<task>.status; a task without one was killed (time limit,
#          memory, scancel) or never ran. Resources: the slurm_* variables of cmd.sh.
# Run it from a recipe dir (it reads ./cmd.sh).
set -euo pipefail

name=jobs
jobs_file=""
log_dir=log
gpu=false    # true: the tasks can use a GPU (slurm: --gres=gpu:$slurm_gpus when slurm_gpus > 0)
nodes=1      # nodes per task (slurm: --nodes N --ntasks-per-node 1; the task's srun uses them)
__options="name jobs_file log_dir gpu nodes"
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
[ -f "$jobs_file" ] || { echo "$0: error: --jobs-file '$jobs_file' not found" >&2; exit 2; }
nj=${nj:-}
if [ -n "$nj" ] && ! [[ $nj =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: error: nj='$nj' in cmd.sh (or the environment) is not a positive number" >&2; exit 2
fi
if ! [[ $nodes =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: error: --nodes '$nodes' (train_nodes in cmd.sh?) is not a positive number" >&2; exit 2
fi
if [ "$nodes" -gt 1 ] && [ "$launcher" != slurm ]; then
  echo "$0: error: --nodes $nodes (train_nodes in cmd.sh) needs launcher=slurm; a local run" \
    "has one node: set train_nodes=1 or launcher=slurm" >&2
  exit 2
fi
case "$gpu" in true|false) ;; *) echo "$0: error: --gpu must be true or false" >&2; exit 2 ;; esac
if ! [[ ${slurm_gpus:-0} =~ ^[0-9]+$ ]]; then
  echo "$0: error: slurm_gpus='$slurm_gpus' in cmd.sh (or the environment) is not a number" >&2
  exit 2
fi

# The tasks, blank lines skipped.
tasks=(); cmds=()
while read -r task cmd || [ -n "$task" ]; do
  [ -n "$task" ] || continue
  tasks+=("$task"); cmds+=("$cmd")
done < "$jobs_file"
[ ${#tasks[@]} -gt 0 ] || exit 0
mkdir -p "$log_dir"

run_local() {
  nj=${nj:-$(nproc)}
  log "$name: ${#tasks[@]} task(s) on this machine, $nj at once"
  # Share the cores among the tasks running at once (unless the caller set a thread count):
  # more threads than cores makes torch's OpenMP threads spin against each other.
  local cores; cores=$(nproc)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores > nj ? cores / nj : 1 ))}
  local failed=() pids=() i task
  run_task() {  # task command...
    local task="$1"; shift
    local logf="$log_dir/$name.$task.log"
    { echo "# $(date '+%F %T') $*"; bash -c "$*"; } > "$logf" 2>&1
  }
  for i in "${!tasks[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$nj" ]; do wait -n || true; done
    run_task "${tasks[$i]}" "${cmds[$i]}" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${tasks[$i]}")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    for task in "${failed[@]}"; do
      echo "$0: error: task $task failed; see $log_dir/$name.$task.log" >&2
    done
    exit 1
  fi
}

run_slurm() {
  if ! command -v sbatch >/dev/null; then
    echo "$0: error: launcher=slurm (cmd.sh) but sbatch is not on PATH: run the recipe on a" \
      "SLURM login node, or set launcher=local in cmd.sh" >&2
    exit 2
  fi
  local n=${#tasks[@]} dir abs_log i task rc jobid failed=0
  dir="$(cd "$log_dir" && pwd)/$name.slurm"   # absolute: the nodes see the same paths
  abs_log="$(cd "$log_dir" && pwd)"
  rm -rf "$dir"; mkdir -p "$dir"
  for i in "${!tasks[@]}"; do printf '%s %s\n' "${tasks[$i]}" "${cmds[$i]}"; done > "$dir/jobs"

  local res=()  # resources, from cmd.sh
  [ -z "${slurm_partition:-}" ] || res+=(--partition="$slurm_partition")
  [ -z "${slurm_account:-}" ] || res+=(--account="$slurm_account")
  [ -z "${slurm_cpus_per_task:-}" ] || res+=(--cpus-per-task="$slurm_cpus_per_task")
  [ -z "${slurm_mem:-}" ] || res+=(--mem="$slurm_mem")
  [ -z "${slurm_time:-}" ] || res+=(--time="$slurm_time")
  if $gpu && [ "${slurm_gpus:-0}" -gt 0 ]; then res+=(--gres="gpu:$slurm_gpus"); fi
  [ "$nodes" -eq 1 ] || res+=(--nodes="$nodes" --ntasks-per-node=1)
  local extra=(); read -ra extra <<< "${slurm_extra:-}"
  res+=("${extra[@]}")
  local opts=(--parsable --wait --job-name="$name" --array="1-$n${nj:+%$nj}" --chdir="$PWD"
              --export=ALL --output="$dir/slurm-%A_%a.out" "${res[@]}")

  # sbatch --wait prints the job id (line-buffered by stdbuf, so that we can read it now), then
  # blocks until every array task has ended. Interrupting the stage cancels the array.
  local buf=(); ! command -v stdbuf >/dev/null || buf=(stdbuf -oL)
  "${buf[@]}" sbatch "${opts[@]}" utils/slurm_task.sh "$dir/jobs" "$abs_log" "$name" "$dir" \
    > "$dir/jobid" &
  local sb=$!
  trap 'jobid=$(cut -d";" -f1 "$dir/jobid" 2>/dev/null || true); [ -z "$jobid" ] || scancel "$jobid"
        kill $sb 2>/dev/null; wait $sb || true; exit 130' INT TERM
  while [ ! -s "$dir/jobid" ] && kill -0 $sb 2>/dev/null; do sleep 0.2; done
  jobid=$(cut -d";" -f1 "$dir/jobid")
  [ -z "$jobid" ] || log "$name: $n task(s) as SLURM job $jobid," \
    "array 1-$n${nj:+%$nj}${res[*]:+, ${res[*]}}"
  wait $sb || true
  trap - INT TERM
  jobid=$(cut -d";" -f1 "$dir/jobid")
  if [ -z "$jobid" ]; then
    echo "$0: error: sbatch could not submit the $name tasks (see its message above);" \
      "check the slurm_* settings in cmd.sh" >&2
    exit 1
  fi

  # Once more after a moment, for filesystems slow to show a status written on a node.
  for task in "${tasks[@]}"; do [ -f "$dir/$task.status" ] || { sleep 2; break; }; done
  for i in "${!tasks[@]}"; do
    task=${tasks[$i]}
    if [ -f "$dir/$task.status" ]; then
      rc=$(< "$dir/$task.status")
      [ "$rc" = 0 ] && continue
      echo "$0: error: task $task failed (exit $rc); see $log_dir/$name.$task.log" >&2
    else
      echo "$0: error: task $task failed (no exit status: killed by SLURM or never ran);" \
        "see $log_dir/$name.$task.log and $dir/slurm-${jobid}_$((i + 1)).out" >&2
    fi
    failed=$((failed + 1))
  done
  find "$dir" -name 'slurm-*.out' -empty -delete
  [ "$failed" -eq 0 ] || exit 1
}

case "$launcher" in
  local) run_local ;;
  slurm) run_slurm ;;
  *) echo "$0: error: unknown launcher '$launcher' in cmd.sh; use local or slurm" >&2; exit 2 ;;
esac
