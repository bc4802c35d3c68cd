#!/usr/bin/env bash
# The study's experiment end to end: female+male TIMIT mixtures, VAE / beta-VAE / ITL-AE.
#   bash run.sh                      # built-in synthesized corpus, stages 0-4
#   bash run.sh --timit /data/TIMIT  # your LDC TIMIT
#   bash run.sh --stage 5 --stop-stage 5   # the study's hyper-parameter sweeps
# Stages: 0 corpus, 1 mixtures, 2 train, 3 separate the test set, 4 score + RESULTS.md,
#         5 sweeps (opt-in). Every stage skips work that is already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=4
timit=""                 # path to an LDC TIMIT; empty = synthesize the built-in corpus
data=data                # corpora and mixtures
exp=exp                  # experiments, results
models="vae beta_vae itl_ae"
speakers_per_gender=8    # built-in corpus size
utterances=10
num_train=80             # the study: 90 mixtures, 80 for training, 10 for testing
num_test=10
seed=0
train_set=""             # extra config overrides for every model, e.g. "training.epochs=5"
sweeps="stft latent batch beta itl_latent"
__options="stage stop_stage timit data exp models speakers_per_gender utterances num_train
num_test seed train_set sweeps"
__options=$(echo $__options)

. ./path.sh
. ./cmd.sh
. local/log.sh
. local/parse_options.sh "$@"

set_args=()
for kv in $train_set; do set_args+=(--set "$kv"); done
mixtures="$data/mixtures"
log "$0 $*"

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -n "$timit" ]; then
    log "Stage 0: using the TIMIT corpus at $timit"
  elif [ -f "$data/corpus/corpus.json" ]; then
    log "Stage 0: built-in corpus already in $data/corpus"
  else
    log "Stage 0: synthesizing the built-in TIMIT-layout corpus into $data/corpus"
    vaesep synth-corpus "$data/corpus" --speakers-per-gender "$speakers_per_gender" \
      --utterances "$utterances" --seed "$seed" --force
  fi
fi
corpus="${timit:-$data/corpus}"

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -f "$mixtures/prepare.json" ]; then
    log "Stage 1: mixtures already in $mixtures"
  else
    log "Stage 1: mixing female+male utterances at 0 dB into $mixtures"
    vaesep prepare timit "$corpus" "$mixtures" --num-train "$num_train" --num-test "$num_test" \
      --seed "$seed" --force
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  for m in $models; do
    if [ -f "$exp/$m/female.pt" ] && [ -f "$exp/$m/male.pt" ]; then
      log "Stage 2: $exp/$m already trained"; continue
    fi
    resume=(); [ -f "$exp/$m/config.yaml" ] && resume=(--resume)
    log "Stage 2: training $m ${resume[*]}"
    vaesep train --config "conf/$m.yaml" --data "$mixtures/train" --exp-dir "$exp/$m" \
      "${set_args[@]}" "${resume[@]}"
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  for m in $models; do
    if [ -f "$exp/$m/separated/.done" ]; then
      log "Stage 3: $exp/$m/separated already written"; continue
    fi
    log "Stage 3: separating the test set with $m"
    vaesep separate "$mixtures/test/wav.scp" --model "$exp/$m" --out-dir "$exp/$m/separated" --force
    touch "$exp/$m/separated/.done"
  done
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for m in $models; do
    if [ -f "$exp/$m/eval/summary.json" ]; then
      log "Stage 4: $exp/$m/eval already scored"; continue
    fi
    log "Stage 4: scoring $m (BSS Eval)"
    vaesep evaluate --model "$exp/$m" --data "$mixtures/test" --out-dir "$exp/$m/eval" --force
  done
  evals=(); for m in $models; do evals+=("$exp/$m/eval"); done
  vaesep report "${evals[@]}" --out-dir "$exp" --force \
    --title "Female+male separation on $(basename "$corpus") (test set)"
  log "Stage 4: wrote $exp/RESULTS.md and $exp/violins.png"
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for sweep in $sweeps; do
    local/sweep.sh --sweep "$sweep" --mixtures "$mixtures" --exp "$exp/sweeps" \
      --train-set "$train_set"
  done
fi
log "Done."
