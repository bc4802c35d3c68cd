#!/usr/bin/env bash
# VAE / beta-VAE / ITL-AE on real free speech: LibriSpeech female+male mixtures, train speakers
# from train-clean-100, speaker-disjoint test speakers from test-other, utterances cropped to
# 2-4 s segments.
#   ./run.sh --librispeech /path/to/LibriSpeech      # holds SPEAKERS.TXT, train-clean-100/, ...
# Stages: 1 mixtures, then (sep.sh) 2 train, 3 separate, 4 score + RESULTS.md, 5 sweeps.
set -euo pipefail
cd "$(dirname "$0")"

stage=1
stop_stage=4
librispeech=../../../shared/data/LibriSpeech-subset
train_subsets=train-clean-100
test_subsets=test-other
data=data
exp=exp
models="vae beta_vae itl_ae vae_tuned rnn_mask vrnn vae_joint class_vae class_vae_weak cdae cdae_joint"
baselines="nmf oracle_irm oracle_wiener oracle_ibm"   # scored beside the models
num_train=80
num_test=10
crop=2-4
seed=0
train_set=""
sweeps="stft"
sweep_seeds=0,1,2        # training seeds of every sweep setting
__options="baselines stage stop_stage librispeech train_subsets test_subsets data exp models num_train
num_test crop seed train_set sweeps sweep_seeds"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"
mixtures="$data/mixtures"

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -f "$mixtures/prepare.json" ]; then
    log "Stage 1: mixtures already in $mixtures"
  else
    log "Stage 1: mixing LibriSpeech female+male segments ($crop s) into $mixtures"
    vaesep prepare librispeech "$librispeech" "$mixtures" --train-subsets "$train_subsets" \
      --test-subsets "$test_subsets" --num-train "$num_train" --num-test "$num_test" \
      --crop "$crop" --seed "$seed" --force
  fi
fi

if [ "$stop_stage" -ge 2 ]; then
  ./sep.sh --stage "$(( stage > 2 ? stage : 2 ))" --stop-stage "$stop_stage" \
    --mixtures "$mixtures" --exp "$exp" --models "$models" --baselines "$baselines" --train-set "$train_set" \
    --sweeps "$sweeps" --sweep-seeds "$sweep_seeds" --title "Female+male separation on LibriSpeech ($test_subsets)"
fi
log "Done."
