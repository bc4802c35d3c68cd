#!/usr/bin/env bash
# The speaker-dependent protocol of Subakan & Smaragdis (ICASSP 2018), the review's [114]:
# per random (dialect region, female, male) speaker pair of a TIMIT-layout corpus's train
# split, the closest-length female/male utterance pair is the test mixture and the other
# utterances of each speaker train that speaker's source model. Every method is trained and
# scored per pair and seed; the report pools the pairs and seeds with 95 % intervals and
# checks the review's claims (WGAN > NMF ~ VAE in SDR and SIR, MLAE best SAR).
#   ./run.sh                         # built-in synthesized corpus (24 speakers per gender)
#   ./run.sh --timit /data/TIMIT     # your LDC TIMIT (its train split, SA sentences included)
#   ./run.sh --manifest corpus.csv --data data_so --exp exp_so   # any corpus with speakers and
#                                    # genders (path,speaker,gender), e.g. speechocean762's
#   launcher=slurm ./run.sh          # one SLURM array task per (method, pair)
# Stages: 0 corpus, 1 speaker pairs, 2 train + separate + score every (method, pair) for
#         every seed, 3 RESULTS.md, violins and claims. Every stage skips work already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=3
timit=""                 # path to an LDC TIMIT; empty = synthesize the built-in corpus
manifest=""              # or a manifest CSV of a corpus (pairs of any female and male speaker)
data=data
exp=exp
pairs=25                 # speaker pairs, as in the paper
seeds=0,1,2              # training seeds per method and pair
# The paper's six methods (nmf_1024: NMF at its settings; gen_vae: the VAE as a prior; wgan:
# weight clipping as in the paper), a WGAN with a gradient penalty instead (wgan_gp), the
# study's discriminative VAE on the same pairs (the other reading of "a VAE per source"), and
# wgan_paper and gan_paper: the WGAN and GAN trained as the authors' code does (about 4.5 min
# per run on one core, 15x the shipped configs: 11 of the recipe's 14 core-hours, about 7 h on
# 2 cores in all; drop them from --methods for a run of about 80 min on 2 cores).
methods="nmf_1024 mlae gen_vae gan wgan wgan_gp ae_wgan vae gan_paper wgan_paper"
speakers_per_gender=24   # built-in corpus size (18 train speakers per gender)
utterances=10            # per speaker, as in TIMIT
seed=0                   # corpus and pair draw
train_set=""             # extra config overrides, e.g. "training.epochs=5"; a model.* key goes
                         # to the methods whose config has it
__options="stage stop_stage timit manifest data exp pairs seeds methods speakers_per_gender utterances
seed train_set"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -n "$timit$manifest" ]; then
    log "Stage 0: using the corpus at $timit$manifest"
  elif [ -f "$data/corpus/corpus.json" ]; then
    log "Stage 0: built-in corpus already in $data/corpus"
  else
    log "Stage 0: synthesizing the built-in TIMIT-layout corpus into $data/corpus"
    vaesep synth-corpus "$data/corpus" --speakers-per-gender "$speakers_per_gender" \
      --utterances "$utterances" --seed "$seed" --force
  fi
fi
corpus="${timit:-$data/corpus}"; kind=timit; split=train
corpus_name="TIMIT"; [ -n "$timit" ] || corpus_name="the built-in synthesized corpus"
if [ -n "$manifest" ]; then
  corpus=$manifest; kind=manifest; split=all; corpus_name=$(basename "$(dirname "$manifest")")
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -f "$data/pairs/pairs.json" ]; then
    log "Stage 1: speaker pairs already in $data/pairs"
  else
    log "Stage 1: drawing $pairs (dialect, female, male) speaker pairs into $data/pairs"
    vaesep prepare pairs "$corpus" "$data/pairs" --kind "$kind" --split "$split" \
      --pairs "$pairs" --seed "$seed" --force
  fi
fi
pair_ids=$(cd "$data/pairs" && for d in */; do [ -f "$d/test/wav.scp" ] && echo "${d%/}"; done)

mkdir -p "$exp/log"
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  : > "$exp/log/run.jobs"
  for m in $methods; do
    sets=""  # model.* overrides go to the methods whose config has that key
    for kv in $train_set; do
      key=${kv%%=*}
      if [[ $key != model.* ]] || grep -q "^  ${key#model.}:" "conf/$m.yaml"; then
        sets+=" --set $kv"
      fi
    done
    for p in $pair_ids; do
      done_all=true
      for s in ${seeds//,/ }; do
        [ -f "$exp/$m/$p/seed$s/eval/summary.json" ] || done_all=false
      done
      if $done_all; then continue; fi
      # One core per task: the launcher runs as many tasks as there are cores.
      echo "$m.$p vaesep run --config conf/$m.yaml --train $data/pairs/$p/train" \
        "--test $data/pairs/$p/test --exp-dir $exp/$m/$p --seeds $seeds --jobs 1" \
        "--set training.num_threads=1 --set training.parallel_sources=false" \
        "--set training.progress=false$sets" >> "$exp/log/run.jobs"
    done
  done
  log "Stage 2: $(wc -l < "$exp/log/run.jobs") (method, pair) task(s) to run ($launcher launcher)"
  # A failed task (a diverged prior, a pair too short) is named with its log; the others
  # still finish and are reported.
  utils/launch.sh --name run --jobs-file "$exp/log/run.jobs" --log-dir "$exp/log" --gpu true \
    || log "Stage 2: some tasks failed (listed above); the report pools the others"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  results=(); names=()
  for m in $methods; do
    if [ -d "$exp/$m" ] && [ -n "$(find "$exp/$m" -name summary.json -print -quit)" ]; then
      results+=("$exp/$m"); names+=("$m")
    else
      log "Stage 3: no results for $m yet"
    fi
  done
  has() { [[ " ${names[*]} " == *" $1 "* ]]; }
  claims=()
  for m in "${names[@]}"; do claims+=(--claim "$m>mixture:sdr"); done
  for pair in wgan{,_gp,_paper}">"{nmf_1024,gen_vae}:{sdr,sir} "nmf_1024=gen_vae:sdr" \
    wgan_paper">"wgan:sdr gan_paper">"gan:sdr; do
    a=${pair%%[>=]*}; rest=${pair#*[>=]}; b=${rest%%:*}
    if has "$a" && has "$b"; then claims+=(--claim "$pair"); fi
  done
  if has mlae; then
    for m in "${names[@]}"; do
      if [ "$m" != mlae ]; then claims+=(--claim "mlae>$m:sar"); fi
    done
  fi
  vaesep report "${results[@]}" --out-dir "$exp" --force "${claims[@]}" \
    --title "Speaker-dependent female+male pairs on $corpus_name ($pairs pairs, seeds $seeds)"
  log "Stage 3: wrote $exp/RESULTS.md, $exp/claims.csv and $exp/violins.png"
fi
log "Done."
