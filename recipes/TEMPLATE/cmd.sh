# How the recipe's jobs run. Every parallel stage (training each model, separating and scoring
# with each model, every sweep setting) writes one task per unit to a jobs file and hands it to
# utils/launch.sh, which runs it with the launcher chosen here; each task logs to
# exp/.../log/<stage>.<task>.log. Every variable can also be set from the environment:
#   launcher=slurm nj=8 ./run.sh
#
# local: run the tasks on this machine, up to $nj at once.
# slurm: submit each stage as one SLURM job array (sbatch --array, one task per unit) and wait
#        for it; run from a login node, with the recipe and exp dirs on a filesystem the nodes
#        share (the tasks run in this dir with this environment, venv included).
launcher=${launcher:-local}
# Tasks at once; empty = local: the number of cores, slurm: no limit (else --array=1-N%nj).
nj=${nj:-}

# SLURM resources of every task (launcher=slurm); empty = not passed, the cluster's default.
slurm_partition=${slurm_partition:-}          # --partition, e.g. cpu
slurm_account=${slurm_account:-}              # --account
slurm_cpus_per_task=${slurm_cpus_per_task:-}  # --cpus-per-task, e.g. 4
slurm_mem=${slurm_mem:-}                      # --mem, e.g. 8G
slurm_time=${slurm_time:-}                    # --time, e.g. 4:00:00
# GPUs per training task (stage 2 and the sweeps): --gres=gpu:N when N > 0. Training uses a
# GPU when it sees one (training.device: auto) and the CPU otherwise.
slurm_gpus=${slurm_gpus:-0}
slurm_extra=${slurm_extra:-}                  # other sbatch options, e.g. "--qos=normal"

# Data-parallel training (stage 2, through utils/train.sh): train_procs processes per node
# (NCCL, one GPU each: give slurm tasks as many with slurm_gpus; gloo on CPUs) on train_nodes
# nodes, the same weights as one process with the same training.batch_size. On this machine:
# 'torchrun --standalone --nproc_per_node N -m vaesep train ...'. With launcher=slurm each
# training task asks for train_nodes nodes (--nodes, --ntasks-per-node 1) and runs one
# torchrun per node through srun, meeting at the first node (c10d rendezvous); the recipe and
# exp dirs must be on a filesystem the nodes share.
train_procs=${train_procs:-1}
train_nodes=${train_nodes:-1}
