#!/usr/bin/env bash
# One of the study's hyper-parameter sweeps: trains and scores one experiment per setting and
# seed, then writes one table + violin figure for the sweep (like the study's figure 21), every
# cell a mean with its 95 % interval over mixtures (each averaged over its sources and seeds),
# and the study's claims about the sweep judged on the paired per-mixture differences.
#   ./sweep.sh --sweep stft --mixtures data/mixtures --exp exp/sweeps --seeds 0,1,2
# Sweeps: stft (settings A-H), latent (VAE code size), batch (1, 17, 34, 70),
#         beta (beta-VAE), itl_latent (ITL-AE code size), models (VAE, beta-VAE, ITL-AE).
# Layout: EXP/SWEEP/LABEL/seed<N>/{,eval/} ('vaesep run'); seeds already scored are skipped.
set -euo pipefail

sweep=stft
mixtures=data/mixtures
exp=exp/sweeps
seeds=0                  # training seeds per setting, e.g. 0,1,2 or 0-4
train_set=""
__options="sweep mixtures exp seeds train_set"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"

# label|config|overrides (space separated key=value); claims: the study's, as 'vaesep report
# --claim's (A>B, A<B, or A=B for "no difference", on a metric)
claims=""
case "$sweep" in
  stft) points="A_64-16|vae|features.window_ms=64 features.overlap_ms=16
B_64-32|vae|features.window_ms=64 features.overlap_ms=32
C_32-8|vae|features.window_ms=32 features.overlap_ms=8
D_32-16|vae|features.window_ms=32 features.overlap_ms=16
E_16-8|vae|features.window_ms=16 features.overlap_ms=8
F_16-4|vae|features.window_ms=16 features.overlap_ms=4
G_8-4|vae|features.window_ms=8 features.overlap_ms=4
H_8-2|vae|features.window_ms=8 features.overlap_ms=2"
    # the study: 16/8 ms (E) best, a 64 ms window (A, B) worst
    claims="E_16-8>A_64-16:sdr E_16-8>B_64-32:sdr E_16-8>C_32-8:sdr E_16-8>D_32-16:sdr
E_16-8>F_16-4:sdr E_16-8>G_8-4:sdr E_16-8>H_8-2:sdr A_64-16<C_32-8:sdr A_64-16<D_32-16:sdr
A_64-16<F_16-4:sdr A_64-16<G_8-4:sdr A_64-16<H_8-2:sdr" ;;
  latent) points="d032|vae|model.latent_dim=32
d064|vae|model.latent_dim=64
d128|vae|model.latent_dim=128
d256|vae|model.latent_dim=256"
    claims="d032=d064:sdr d064=d128:sdr d128=d256:sdr d032=d256:sdr" ;;  # no effect
  batch) points="b001|vae|training.batch_size=1 training.epochs=3
b017|vae|training.batch_size=17
b034|vae|training.batch_size=34
b070|vae|training.batch_size=70"
    claims="b017=b034:sdr b034=b070:sdr b017=b070:sdr" ;;  # batch >= 17: no effect
  beta) points="beta1|beta_vae|model.beta=1
beta2|beta_vae|model.beta=2
beta4|beta_vae|model.beta=4
beta8|beta_vae|model.beta=8" ;;
  itl_latent) points="d032|itl_ae|model.latent_dim=32 model.kernel_sigma=2.8
d064|itl_ae|model.latent_dim=64 model.kernel_sigma=4
d128|itl_ae|model.latent_dim=128 model.kernel_sigma=5.7
d256|itl_ae|model.latent_dim=256 model.kernel_sigma=8" ;;
  models) points="vae|vae|
beta_vae|beta_vae|
itl_ae|itl_ae|"
    # the study: VAE and beta-VAE alike; the ITL-AE better in SIR, worse in SAR
    claims="vae=beta_vae:sdr itl_ae>vae:sir itl_ae<vae:sar itl_ae>beta_vae:sir itl_ae<beta_vae:sar" ;;
  *) echo "$0: error: unknown sweep '$sweep'; use stft, latent, batch, beta, itl_latent or models" >&2
     exit 2 ;;
esac

dir="$exp/$sweep"
mkdir -p "$dir/log"
jobs_file="$dir/jobs.txt"
: > "$jobs_file"
evals=()
while IFS='|' read -r label config overrides; do
  evals+=("$dir/$label")
  done_all=true
  for s in ${seeds//,/ }; do
    [[ $s == *-* ]] && { done_all=false; break; }  # a range: let 'vaesep run' check each seed
    [ -f "$dir/$label/seed$s/eval/summary.json" ] || done_all=false
  done
  $done_all && continue
  sets=""
  for kv in $overrides $train_set; do sets+=" --set $kv"; done
  echo "$label vaesep run --config conf/$config.yaml --train $mixtures/train --test $mixtures/test --exp-dir $dir/$label --seeds $seeds$sets --jobs 1" >> "$jobs_file"
done <<< "$points"

log "Sweep $sweep: $(wc -l < "$jobs_file") of $(echo "$points" | wc -l) settings to run, seeds $seeds ($launcher launcher)"
utils/launch.sh --name "sweep_$sweep" --jobs-file "$jobs_file" --log-dir "$dir/log" --gpu true
claim_args=()
for c in $claims; do claim_args+=(--claim "$c"); done
vaesep report "${evals[@]}" --out-dir "$dir" --force --sweep "$sweep" \
  --title "Sweep: $sweep (seeds $seeds)" "${claim_args[@]}"
log "Sweep $sweep: wrote $dir/RESULTS.md, $dir/violins.png${claims:+ and $dir/claims.csv}"
