#!/usr/bin/env bash
# One of the study's hyper-parameter sweeps: trains and scores one experiment per setting,
# then writes one table + violin figure for the sweep (like the study's figure 21).
#   ./sweep.sh --sweep stft --mixtures data/mixtures --exp exp/sweeps   (from a recipe dir)
# Sweeps: stft (settings A-H), latent (VAE code size), batch (1, 17, 34, 70),
#         beta (beta-VAE), itl_latent (ITL-AE code size).
set -euo pipefail

sweep=stft
mixtures=data/mixtures
exp=exp/sweeps
train_set=""
__options="sweep mixtures exp train_set"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"

# label|config|overrides (space separated key=value)
case "$sweep" in
  stft) points="A_64-16|vae|features.window_ms=64 features.overlap_ms=16
B_64-32|vae|features.window_ms=64 features.overlap_ms=32
C_32-8|vae|features.window_ms=32 features.overlap_ms=8
D_32-16|vae|features.window_ms=32 features.overlap_ms=16
E_16-8|vae|features.window_ms=16 features.overlap_ms=8
F_16-4|vae|features.window_ms=16 features.overlap_ms=4
G_8-4|vae|features.window_ms=8 features.overlap_ms=4
H_8-2|vae|features.window_ms=8 features.overlap_ms=2" ;;
  latent) points="d032|vae|model.latent_dim=32
d064|vae|model.latent_dim=64
d128|vae|model.latent_dim=128
d256|vae|model.latent_dim=256" ;;
  batch) points="b001|vae|training.batch_size=1 training.epochs=3
b017|vae|training.batch_size=17
b034|vae|training.batch_size=34
b070|vae|training.batch_size=70" ;;
  beta) points="beta1|beta_vae|model.beta=1
beta2|beta_vae|model.beta=2
beta4|beta_vae|model.beta=4
beta8|beta_vae|model.beta=8" ;;
  itl_latent) points="d032|itl_ae|model.latent_dim=32 model.kernel_sigma=2.8
d064|itl_ae|model.latent_dim=64 model.kernel_sigma=4
d128|itl_ae|model.latent_dim=128 model.kernel_sigma=5.7
d256|itl_ae|model.latent_dim=256 model.kernel_sigma=8" ;;
  *) echo "$0: error: unknown sweep '$sweep'; use stft, latent, batch, beta or itl_latent" >&2
     exit 2 ;;
esac

dir="$exp/$sweep"
mkdir -p "$dir/log"
jobs_file="$dir/jobs.txt"
: > "$jobs_file"
evals=()
while IFS='|' read -r label config overrides; do
  evals+=("$dir/$label/eval")
  [ -f "$dir/$label/eval/summary.json" ] && continue
  sets=""
  for kv in $overrides $train_set; do sets+=" --set $kv"; done
  resume=""; [ -f "$dir/$label/config.yaml" ] && resume=" --resume"
  echo "$label vaesep train --config conf/$config.yaml --data $mixtures/train --exp-dir $dir/$label$sets$resume && vaesep evaluate --model $dir/$label --data $mixtures/test --out-dir $dir/$label/eval --force --jobs 1" >> "$jobs_file"
done <<< "$points"

log "Sweep $sweep: $(wc -l < "$jobs_file") of $(echo "$points" | wc -l) settings to run ($launcher launcher)"
utils/launch.sh --name "sweep_$sweep" --jobs-file "$jobs_file" --log-dir "$dir/log" --gpu true
vaesep report "${evals[@]}" --out-dir "$dir" --force --sweep "$sweep" --title "Sweep: $sweep"
log "Sweep $sweep: wrote $dir/RESULTS.md and $dir/violins.png"
