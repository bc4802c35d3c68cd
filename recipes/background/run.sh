#!/usr/bin/env bash
# Speech against background, the task of Do et al. ([116], IEEE Access 2020): one talker's
# speech mixed with a background sound, separated into speech and background. Every method is
# trained and scored per seed; the report pools them with 95 % intervals and checks the
# claims of the review's Table 2: VAE + band-pass > VAE alone > band-pass alone (ICA needs two
# microphones: docs/models.md).
#   ./run.sh                                # built-in corpus, Gaussian white noise (as [116])
#   ./run.sh --noise "white pink babble"    # several built-in backgrounds, cycled
#   ./run.sh --noise-dir /data/noises       # your recordings (train and test files disjoint)
#   ./run.sh --timit /data/TIMIT            # your LDC TIMIT as the speech
# Stages: 0 corpus, 1 female+male mixtures (their sources are the speech), 2 speech +
#         background data dirs, 3 train + separate + score every method for every seed (and
#         complex_vae without its band-pass), 4 RESULTS.md, violins and claims. Every stage
#         skips work already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=4
timit=""                 # path to an LDC TIMIT; empty = synthesize the built-in corpus
noise="white"            # built-in backgrounds: white pink brown speech-shaped babble
noise_dir=""             # a folder of background recordings instead (split train/test by file)
snr=0                    # speech-to-background ratio of every mixture, dB
data=data
exp=exp
seeds=0,1,2
# complex_vae: [116]'s VAE + band-pass (complex_vae_alone: the same networks scored without
# the band-pass); bandpass: the filter alone; nmf: supervised NMF; vae, rnn_mask: our
# magnitude-mask models trained on the same data; oracle_irm: the upper bound.
methods="bandpass nmf vae rnn_mask complex_vae oracle_irm"
speakers_per_gender=8    # built-in corpus size
utterances=10
num_train=80             # female+male mixtures; each gives two speech items
num_test=10
seed=0
train_set=""             # extra config overrides for the learned methods, e.g. "training.epochs=5"
__options="stage stop_stage timit noise noise_dir snr data exp seeds methods speakers_per_gender
utterances num_train num_test seed train_set"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"
mixtures="$data/mixtures"
background="$data/background"

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
    log "Stage 1: female+male mixtures into $mixtures (their sources are the speech)"
    vaesep prepare timit "$corpus" "$mixtures" --num-train "$num_train" --num-test "$num_test" \
      --seed "$seed" --force
  fi
fi

noises=(); what="$noise"
if [ -n "$noise_dir" ]; then noises=(--noise "$noise_dir"); what="$noise_dir"; else
  for n in $noise; do noises+=(--noise "$n"); done
fi
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  for split in train test; do
    if [ -f "$background/$split/background.json" ]; then
      log "Stage 2: $background/$split already made"; continue
    fi
    log "Stage 2: speech + background ($what) at $snr dB into $background/$split"
    # --part: a folder's recordings split 80/20 by file; built-in noise drawn anew per part.
    vaesep prepare background "$mixtures/$split" "$background/$split" "${noises[@]}" \
      --snr "$snr" --part "$split" --seed "$seed" --force
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  mkdir -p "$exp/log"
  : > "$exp/log/run.jobs"
  for m in $methods; do
    sets=""  # train_set goes to the learned methods only
    if [[ $m != bandpass && $m != oracle* ]]; then for kv in $train_set; do sets+=" --set $kv"; done; fi
    these=$seeds; [[ $m == bandpass || $m == oracle* ]] && these=0  # nothing random to seed
    done_all=true
    for s in ${these//,/ }; do [ -f "$exp/$m/seed$s/eval/summary.json" ] || done_all=false; done
    if $done_all; then continue; fi
    echo "$m vaesep run --config conf/$m.yaml --train $background/train --test $background/test" \
      "--exp-dir $exp/$m --seeds $these --jobs 1 --set training.num_threads=1" \
      "--set training.parallel_sources=false --set training.progress=false$sets" >> "$exp/log/run.jobs"
  done
  log "Stage 3: $(wc -l < "$exp/log/run.jobs") method(s) to run ($launcher launcher)"
  utils/launch.sh --name run --jobs-file "$exp/log/run.jobs" --log-dir "$exp/log" --gpu true
  if [[ " $methods " == *" complex_vae "* ]]; then  # the VAE alone: the same trained networks
    for s in ${seeds//,/ }; do
      out="$exp/complex_vae_alone/seed$s/eval"
      [ -f "$out/summary.json" ] && continue
      log "Stage 3: scoring $exp/complex_vae/seed$s without its band-pass"
      vaesep evaluate --model "$exp/complex_vae/seed$s" --data "$background/test" --out-dir "$out" \
        --set model.bandpass=false --label complex_vae_alone --force
    done
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  results=(); names=()
  for m in $methods complex_vae_alone; do
    if [ -n "$(find "$exp/$m" -name summary.json -print -quit 2>/dev/null)" ]; then
      results+=("$exp/$m"); names+=("$m")
    fi
  done
  claims=()
  for m in "${names[@]}"; do claims+=(--claim "$m>mixture:sdr"); done
  has() { [[ " ${names[*]} " == *" $1 "* ]]; }
  # [116]'s order (Table 2 of the review: the speech estimate's SDR and SIR), on the speech
  # and on both sources; then the complex VAE against our mask models.
  for pair in complex_vae\>complex_vae_alone complex_vae_alone\>bandpass complex_vae\>vae \
      complex_vae\>rnn_mask; do
    a=${pair%%>*}; b=${pair#*>}
    if has "$a" && has "$b"; then
      for metric in sdr sir; do claims+=(--claim "$a>$b:$metric@speech" --claim "$a>$b:$metric"); done
    fi
  done
  vaesep report "${results[@]}" --out-dir "$exp" --force "${claims[@]}" \
    --title "Speech against background ($what, $snr dB; seeds $seeds)"
  log "Stage 4: wrote $exp/RESULTS.md, $exp/claims.csv and $exp/violins.png"
fi
log "Done."
