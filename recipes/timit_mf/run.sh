#!/usr/bin/env bash
# The study's experiment end to end: female+male TIMIT mixtures, VAE / beta-VAE / ITL-AE.
#   ./run.sh                         # built-in synthesized corpus, stages 0-4
#   ./run.sh --timit /data/TIMIT     # your LDC TIMIT
#   ./run.sh --stage 5 --stop-stage 5 --sweeps stft   # the study's hyper-parameter sweeps
# Stages: 0 corpus, 1 mixtures, then (sep.sh) 2 train, 3 separate the test set,
#         4 score + RESULTS.md, 5 sweeps (opt-in). Every stage skips work already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=4
timit=""                 # path to an LDC TIMIT; empty = synthesize the built-in corpus
data=data                # corpora and mixtures
exp=exp                  # experiments, results
models="vae beta_vae itl_ae vae_tuned rnn_mask vrnn vae_joint class_vae class_vae_weak cdae cdae_joint"
baselines="nmf oracle_irm oracle_wiener oracle_ibm"   # scored beside the models
speakers_per_gender=8    # built-in corpus size
utterances=10
num_train=80             # the study: 90 mixtures, 80 for training, 10 for testing
num_test=10
seed=0
train_set=""             # extra config overrides for every model, e.g. "training.epochs=5"
sweeps="stft latent batch beta itl_latent models"
sweep_seeds=0,1,2        # training seeds of every sweep setting
__options="baselines stage stop_stage timit data exp models speakers_per_gender utterances num_train
num_test seed train_set sweeps sweep_seeds"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"
mixtures="$data/mixtures"

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
corpus_name="TIMIT"; [ -n "$timit" ] || corpus_name="the built-in synthesized corpus"

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -f "$mixtures/prepare.json" ]; then
    log "Stage 1: mixtures already in $mixtures"
  else
    log "Stage 1: mixing female+male utterances at 0 dB into $mixtures"
    vaesep prepare timit "$corpus" "$mixtures" --num-train "$num_train" --num-test "$num_test" \
      --seed "$seed" --force
  fi
fi

if [ "$stop_stage" -ge 2 ]; then
  ./sep.sh --stage "$(( stage > 2 ? stage : 2 ))" --stop-stage "$stop_stage" \
    --mixtures "$mixtures" --exp "$exp" --models "$models" --baselines "$baselines" --train-set "$train_set" \
    --sweeps "$sweeps" --sweep-seeds "$sweep_seeds" --title "Female+male separation on $corpus_name (test set)"
fi
log "Done."
