#!/usr/bin/env bash
# One SLURM array task of utils/launch.sh (launcher=slurm): runs line $SLURM_ARRAY_TASK_ID of
# JOBS ("<task-name> <shell command>") with bash -c, logs it to LOG_DIR/NAME.<task>.log (the
# same log and header line as the local launcher) and writes its exit status to
# STATUS_DIR/<task>.status, which launch.sh reads once the array has ended.
#   sbatch --array=1-N ... utils/slurm_task.sh JOBS LOG_DIR NAME STATUS_DIR
set -uo pipefail
jobs=$1 log_dir=$2 name=$3 status_dir=$4
read -r task cmd < <(sed -n "${SLURM_ARRAY_TASK_ID}p" "$jobs")
logf="$log_dir/$name.$task.log"
{
  echo "# $(date '+%F %T') $cmd"
  echo "# SLURM job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname)"
  bash -c "$cmd"
} > "$logf" 2>&1
rc=$?
# Written whole (rename), so that launch.sh never reads a half-written status.
echo "$rc" > "$status_dir/$task.status.tmp" \
  && mv -f "$status_dir/$task.status.tmp" "$status_dir/$task.status"
exit "$rc"
