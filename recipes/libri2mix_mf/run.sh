#!/usr/bin/env bash
# VAE / beta-VAE / ITL-AE on Libri2Mix (Cosentino et al. 2020), its female+male mixtures only
# (same-gender ones left out): training mixtures from train-100, every female+male mixture of
# test scored, at 8 kHz, min mode, clean mixtures (the published protocol's setting; the
# models work at the corpus's rate). The data dirs point at the corpus: no audio is copied.
#   ./run.sh --libri2mix /data/LibriMix     # holds Libri2Mix/wav8k/min/ and LibriSpeech/SPEAKERS.TXT
#   ./run.sh --libri2mix /data/LibriMix --speakers /data/LibriSpeech/SPEAKERS.TXT --num-train 300
# Stages: 1 data dirs, then (sep.sh) 2 train, 3 separate, 4 score + RESULTS.md, 5 sweeps.
set -euo pipefail
cd "$(dirname "$0")"

stage=1
stop_stage=4
libri2mix=""             # the folder holding Libri2Mix/ (made by the LibriMix scripts)
speakers=""              # LibriSpeech's SPEAKERS.TXT; empty = in $libri2mix/LibriSpeech/ or $libri2mix/
rate=8k                  # 8k or 16k
mode=min                 # min or max
mixture=mix_clean        # mix_clean or mix_both
train_subsets=train-100  # comma-separated, e.g. train-100,train-360
test_subsets=test
num_train=""             # training mixtures drawn (seeded); empty = all of them
loading=stream           # data.loading of the models: stream (read from disk as training goes,
                         # memory bounded), pools (pairs drawn anew) or memory (the study's way)
seed=0
data=data
exp=exp
models="vae beta_vae itl_ae vae_tuned rnn_mask vrnn vae_joint class_vae class_vae_weak cdae cdae_joint"
baselines="nmf oracle_irm oracle_wiener oracle_ibm"   # scored beside the models
train_set=""             # extra config overrides for every model, e.g. "training.epochs=5"
sweeps="stft"
sweep_seeds=0,1,2        # training seeds of every sweep setting
__options="stage stop_stage loading libri2mix speakers rate mode mixture train_subsets test_subsets
num_train seed data exp models baselines train_set sweeps sweep_seeds"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"
mixtures="$data/mixtures"

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -f "$mixtures/prepare.json" ]; then
    log "Stage 1: data dirs already in $mixtures"
  else
    [ -n "$libri2mix" ] || { echo "$0: error: pass --libri2mix (the folder holding Libri2Mix/)" >&2; exit 2; }
    log "Stage 1: Libri2Mix's female+male mixtures ($rate $mode $mixture) as data dirs in $mixtures"
    vaesep prepare libri2mix "$libri2mix" "$mixtures" --rate "$rate" --mode "$mode" \
      --mixture "$mixture" --train-subsets "$train_subsets" --test-subsets "$test_subsets" \
      ${speakers:+--speakers "$speakers"} ${num_train:+--num-train "$num_train"} --seed "$seed" --force
  fi
fi

if [ "$stop_stage" -ge 2 ]; then
  # The models work at the corpus's rate (the configs say 16 kHz).
  ./sep.sh --stage "$(( stage > 2 ? stage : 2 ))" --stop-stage "$stop_stage" \
    --mixtures "$mixtures" --exp "$exp" --models "$models" --baselines "$baselines" \
    --train-set "features.sample_rate=${rate%k}000 data.loading=$loading $train_set" --sweeps "$sweeps" \
    --sweep-seeds "$sweep_seeds" --title "Female+male separation on Libri2Mix ($test_subsets, $rate $mode $mixture)"
fi
log "Done."
