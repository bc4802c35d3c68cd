#!/usr/bin/env bash
# 'vaesep train ARGS...' on the processes and nodes of cmd.sh (train_procs, train_nodes):
#   1 process:                     vaesep train ARGS...
#   train_procs N on this machine: torchrun --standalone --nproc_per_node N -m vaesep train ...
#   inside a SLURM job:            srun --ntasks-per-node 1 torchrun --nnodes $SLURM_JOB_NUM_NODES
#                                  --nproc_per_node N --rdzv-backend c10d --rdzv-endpoint HEAD:PORT
#                                  -m vaesep train ...   (one torchrun per node; HEAD is the
#                                  job's first node, where rank 0 writes the experiment dir)
# The recipe and exp dirs must be on a filesystem every node shares. Run from a recipe dir.
set -euo pipefail
. ./cmd.sh
procs=${train_procs:-1}
nodes=${train_nodes:-1}
for v in procs nodes; do
  if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: error: train_$v='${!v}' in cmd.sh (or the environment) is not a positive number" >&2
    exit 2
  fi
done

if [ -n "${SLURM_JOB_ID:-}" ] && [ $((procs * nodes)) -gt 1 ]; then
  have=${SLURM_JOB_NUM_NODES:-1}
  if [ "$have" != "$nodes" ]; then
    echo "$0: error: train_nodes=$nodes (cmd.sh) but SLURM job $SLURM_JOB_ID has $have node(s);" \
      "run the recipe with launcher=slurm, which asks for train_nodes nodes per training task" >&2
    exit 2
  fi
  hosts=$(scontrol show hostnames "$SLURM_JOB_NODELIST")  # no '| head': under pipefail, a
  head=${hosts%%$'\n'*}                                   # writer cut off mid-list fails (141)
  port=$((29500 + SLURM_JOB_ID % 20000))  # array tasks sharing a node need their own port
  step=(--nodes="$nodes" --ntasks="$nodes" --ntasks-per-node=1 --kill-on-bad-exit=1)
  [ -z "${SLURM_CPUS_PER_TASK:-}" ] || step+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
  set -x
  exec srun "${step[@]}" torchrun --nnodes "$nodes" --nproc_per_node "$procs" \
    --rdzv-backend c10d --rdzv-endpoint "$head:$port" --rdzv-id "$SLURM_JOB_ID" \
    -m vaesep train "$@"
fi
if [ "$nodes" -gt 1 ]; then
  echo "$0: error: train_nodes=$nodes (cmd.sh) needs launcher=slurm: a job on one machine" \
    "cannot span nodes" >&2
  exit 2
fi
set -x
if [ "$procs" -gt 1 ]; then
  exec torchrun --standalone --nproc_per_node "$procs" -m vaesep train "$@"
fi
exec vaesep train "$@"
