#!/usr/bin/env bash
# VAE / beta-VAE / ITL-AE on wsj0-2mix (Hershey et al. 2016), its female+male mixtures only
# (same-gender ones left out): training mixtures from tr, every female+male mixture of tt
# scored (cv becomes data/mixtures/dev), at 8 kHz, min mode (the published protocol's
# setting; the models work at the corpus's rate). The data dirs point at the corpus: no
# audio is copied. Speaker genders come from WSJ0's doc/spkrinfo.txt; where it lacks the
# training speakers, add Kaldi's wsj0-train-spkrinfo.txt: --genders "a.txt b.txt".
#   ./run.sh --wsj0-2mix /data/wsj0-mix/2speakers --genders /data/wsj0/doc/spkrinfo.txt
# Stages: 1 data dirs, then (sep.sh) 2 train, 3 separate, 4 score + RESULTS.md, 5 sweeps.
set -euo pipefail
cd "$(dirname "$0")"

stage=1
stop_stage=4
wsj0_2mix=""             # the wsj0-2mix folder holding wav8k/ or wav16k/
genders=""               # space-separated gender files; empty = spkrinfo.txt in $wsj0_2mix (or wsj0/doc/)
lists=""                 # folder of mix_2_spk_{tr,cv,tt}.txt; empty = $wsj0_2mix
rate=8k                  # 8k or 16k
mode=min                 # min or max
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
__options="stage stop_stage loading wsj0_2mix genders lists rate mode num_train seed data exp models
baselines train_set sweeps sweep_seeds"

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
    [ -n "$wsj0_2mix" ] || { echo "$0: error: pass --wsj0-2mix (the folder holding wav8k/)" >&2; exit 2; }
    gender_args=(); for f in $genders; do gender_args+=(--genders "$f"); done
    log "Stage 1: wsj0-2mix's female+male mixtures ($rate $mode) as data dirs in $mixtures"
    vaesep prepare wsj0-2mix "$wsj0_2mix" "$mixtures" --rate "$rate" --mode "$mode" \
      "${gender_args[@]}" ${lists:+--lists "$lists"} ${num_train:+--num-train "$num_train"} \
      --seed "$seed" --force
  fi
fi

if [ "$stop_stage" -ge 2 ]; then
  # The models work at the corpus's rate (the configs say 16 kHz).
  ./sep.sh --stage "$(( stage > 2 ? stage : 2 ))" --stop-stage "$stop_stage" \
    --mixtures "$mixtures" --exp "$exp" --models "$models" --baselines "$baselines" \
    --train-set "features.sample_rate=${rate%k}000 data.loading=$loading $train_set" --sweeps "$sweeps" \
    --sweep-seeds "$sweep_seeds" --title "Female+male separation on wsj0-2mix (tt, $rate $mode)"
fi
log "Done."
