#!/usr/bin/env bash
# Shared stages of the separation recipes (run from a recipe dir, after its own corpus and
# mixture stages 0-1): 2 train, 3 separate the test set, 4 score + RESULTS.md, 5 sweeps.
# Each stage skips finished work; jobs run through utils/launch.sh with the launcher of cmd.sh.
set -euo pipefail

stage=2
stop_stage=4
mixtures=data/mixtures   # data dirs train/ and test/ made by 'vaesep prepare'
exp=exp
models="vae beta_vae itl_ae vae_tuned rnn_mask vrnn"
baselines="nmf oracle_irm oracle_wiener oracle_ibm"   # trained and scored like the models
train_set=""             # extra config overrides, e.g. "training.epochs=5"; model.* keys go to
                         # the models only (a baseline's model section has other keys)
sweeps="stft latent batch beta itl_latent models"
sweep_seeds=0,1,2        # training seeds of every sweep setting (pooled with 95 % intervals)
title="Female+male separation (test set)"
__options="stage stop_stage mixtures exp models baselines train_set sweeps sweep_seeds title"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"

trainer=utils/train.sh  # data-parallel on train_procs x train_nodes processes (cmd.sh)
sets=""; baseline_sets=""
for kv in $train_set; do
  sets+=" --set $kv"
  if [[ $kv != model.* ]]; then baseline_sets+=" --set $kv"; fi
done
# Report order: mixture, learned baselines, the models, then the oracle masks (upper bounds).
all=""
for m in $baselines; do if [[ $m != oracle* ]]; then all+=" $m"; fi; done
all+=" $models"
for m in $baselines; do if [[ $m == oracle* ]]; then all+=" $m"; fi; done
mkdir -p "$exp/log"

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  : > "$exp/log/train.jobs"
  for m in $all; do
    if [ -f "$exp/$m/female.pt" ] && [ -f "$exp/$m/male.pt" ]; then
      log "Stage 2: $exp/$m already trained"; continue
    fi
    resume=""; [ -f "$exp/$m/config.yaml" ] && resume=" --resume"
    these=$sets; if [[ " $baselines " == *" $m "* ]]; then these=$baseline_sets; fi
    train_dir=$mixtures/train
    if grep -Eq '^ +supervision: +class' "conf/$m.yaml"; then
      # Weak class supervision: mixtures and one-class recordings, no references.
      train_dir=$mixtures/train_weak
      [ -f "$train_dir/weak.json" ] || vaesep prepare weak "$mixtures/train" "$train_dir" --force
    fi
    this=$trainer  # baselines that learn no gradient train in one process
    if [[ " $baselines " == *" $m "* ]]; then this="vaesep train"; fi
    echo "$m $this --config conf/$m.yaml --data $train_dir --exp-dir $exp/$m$these$resume" \
      >> "$exp/log/train.jobs"
  done
  log "Stage 2: training $(wc -l < "$exp/log/train.jobs") model(s) ($launcher launcher)"
  utils/launch.sh --name train --jobs-file "$exp/log/train.jobs" --log-dir "$exp/log" --gpu true \
    --nodes "${train_nodes:-1}"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  : > "$exp/log/separate.jobs"
  for m in $all; do
    if [[ $m == oracle* ]]; then continue; fi  # oracles need the references: stage 4 only
    if [ -f "$exp/$m/separated/.done" ]; then
      log "Stage 3: $exp/$m/separated already written"; continue
    fi
    echo "$m vaesep separate $mixtures/test/wav.scp --model $exp/$m --out-dir $exp/$m/separated --force && touch $exp/$m/separated/.done" \
      >> "$exp/log/separate.jobs"
  done
  log "Stage 3: separating the test set with $(wc -l < "$exp/log/separate.jobs") model(s)"
  utils/launch.sh --name separate --jobs-file "$exp/log/separate.jobs" --log-dir "$exp/log"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  : > "$exp/log/score.jobs"
  evals=()
  for m in $all; do
    evals+=("$exp/$m/eval")
    if [ -f "$exp/$m/eval/summary.json" ]; then
      log "Stage 4: $exp/$m/eval already scored"; continue
    fi
    # Stage 3 separated every model but the oracles: score its files, don't separate again.
    estimates="--separated $exp/$m/separated"
    if [[ $m == oracle* ]]; then estimates="--model $exp/$m"; fi
    echo "$m vaesep evaluate $estimates --data $mixtures/test --out-dir $exp/$m/eval --force" \
      >> "$exp/log/score.jobs"
  done
  log "Stage 4: scoring $(wc -l < "$exp/log/score.jobs") model(s) with BSS Eval"
  utils/launch.sh --name score --jobs-file "$exp/log/score.jobs" --log-dir "$exp/log"
  vaesep report "${evals[@]}" --out-dir "$exp" --force --title "$title"
  log "Stage 4: wrote $exp/RESULTS.md and $exp/violins.png"
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for sweep in $sweeps; do
    ./sweep.sh --sweep "$sweep" --mixtures "$mixtures" --exp "$exp/sweeps" --seeds "$sweep_seeds" \
      --train-set "$train_set"
  done
fi
