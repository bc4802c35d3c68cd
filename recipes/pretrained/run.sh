#!/usr/bin/env bash
# The bundled pretrained models (vaesep/zoo/bundled/<name>/): trained on real read speech that may
# be redistributed: LibriSpeech train-clean-100 (CC BY 4.0; 251 speakers, one utterance each
# in ../shared/data/LibriSpeech-subset), every utterance at full length, female+male pairs
# mixed anew every epoch (dynamic mixing); the default (conf/rnn_mask.yaml, data.loading:
# pools) on speaker pools of those and speechocean762-adults (Apache-2.0; 128 speakers), minus
# the dev speakers. Never TIMIT (LDC licence) and never the test-other speakers: they are the
# test set.
#   ./run.sh                                    # every model of $models, stages 0-4
#   ./run.sh --models rnn_mask                  # one model again (a better config: one rerun)
#   ./run.sh --bundled /tmp/bundled             # write the bundles elsewhere
# Stages: 0 built-in corpus (for its test sets), 1 mixtures: LibriSpeech train + test-other
# at 0, +5 and -5 dB (and speed-perturbed training copies for $perturbed), built-in test sets
# at the same ratios; speaker pools of both corpora (LibriSpeech train-clean-100 and
# speechocean762-adults), each holding out $hold_out female and $hold_out male speakers whose
# mixtures are the dev sets, and their merge; 2 train conf/<name>.yaml (a bag, a conf listing
# 'members:', the members' confs; on the merged pools
# when it sets data.loading: pools, else on the LibriSpeech mixtures), then score each model
# trained on the pools on both dev sets, each by its best permutation of outputs (so that
# speaker-independent, PIT candidates and female/male ones compare alike):
# exp/dev_<corpus>/RESULTS.md, what candidates are chosen by (a conf whose first line is
# '# continues: <model>' goes on from that model's last epoch, trained first if need be: its
# experiment copied and resumed with this conf, in which only training.* may differ);
# 3 export each model (float16 weights, $export_set) into $bundled/<name>, evaluate that
# export on the six test sets and write its card (conf/<name>.about.yaml + the metrics + sha256
# of every file);
# 4 exp/RESULTS.md over the models on LibriSpeech test-other at 0 dB. Every stage skips work
# already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=4
librispeech=../../../shared/data/LibriSpeech-subset
speechocean=../../../shared/data/speechocean762-adults  # its manifest.csv lists the utterances
models="rnn_bag rnn_mask vae beta_vae itl_ae"  # conf/<name>.yaml and conf/<name>.about.yaml
                         # (a conf listing 'members:' is a bag: its members are trained, not
                         # bundled, unless listed too)
perturbed=""             # these train on speed-perturbed mixtures (0.9, 1.0, 1.1), the others
                         # on the mixtures as made
on_pools="vae beta_vae itl_ae"  # the study's published configs (conf/<name>.yaml links to
                         # them) trained on the pools: data.* below, set on the command line
pool_data="loading=pools draw=speaker pairs=1000 crop_seconds=4.0"  # conf/rnn_mask_pools.yaml's
train_set=""             # extra config overrides for every model stage 2 trains (an ablation,
                         # with --exp elsewhere), e.g. "training.mixing_gain_db=5"
bundled=../../vaesep/zoo/bundled
export_set="features.input_level_db=-23 features.shifts=4"  # separation settings of every
                         # export (bundle export --set): each mixture scaled to -23 dBFS RMS
                         # before the networks, the level of vaesep's prepared mixtures, and
                         # the estimates averaged over 4 STFT frame grids a quarter hop apart
                         # (both chosen on the dev sets)
data=data
exp=exp
num_test=50              # LibriSpeech test-other mixtures (10 speakers, 5 female + 5 male)
builtin_test=20          # built-in corpus test mixtures
hold_out=8               # dev speakers per gender and corpus, never in a pool (LibriSpeech
                         # has one utterance each: 8 x 8 pairs for $num_dev mixtures)
pool=all                 # what models with data.loading: pools train on: all (both corpora's
                         # pools merged), librispeech or speechocean
num_dev=40               # dev mixtures per corpus
seed=0
__options="stage stop_stage librispeech speechocean models perturbed on_pools bundled data exp
  num_test builtin_test hold_out pool num_dev seed train_set export_set"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"
ratios="0 5 -5"          # female-to-male level ratios of the test sets (dB)

pooled() {  # whether model $1 trains on speaker pools (data.loading: pools; a bag: counted)
  [[ " $on_pools " == *" $1 "* ]] || grep -Eq "^  loading: *pools|^members:" "conf/$1.yaml"
}
continues() {  # the model conf/$1.yaml goes on from ('# continues: <model>'), or nothing
  sed -n 's/^# continues: \([A-Za-z0-9_]*\).*/\1/p' "conf/$1.yaml"
}
is_bag() {  # whether conf/$1.yaml is a bag (vaesep.Bag: 'members:' with '- path: ../<model>')
  grep -q "^members:" "conf/$1.yaml"
}
members() {  # a bag's member models (exp dirs beside it)
  sed -n 's|^ *- *path: *\.\./\([A-Za-z0-9_]*\).*|\1|p' "conf/$1.yaml"
}
trained() {  # the file whose age says when model $1 was last trained (a bag: its newest member)
  if is_bag "$1"; then
    ls -t $(for x in $(members "$1"); do echo "$exp/$x/male.pt"; done) 2>/dev/null | head -n 1
  else
    echo "$exp/$1/male.pt"
  fi
}

case $pool in all | librispeech | speechocean) ;; *)
  echo "$0: error: --pool $pool: use all, librispeech or speechocean" >&2; exit 2 ;;
esac
train_models=""  # what stage 2 trains: $models, a bag's members in its place
for m in $models; do  # before any work: a missing file would only fail at stage 2 or 3
  for f in "conf/$m.yaml" "conf/$m.about.yaml"; do
    if [ ! -f "$f" ]; then
      echo "$0: error: $f not found; --models takes names with conf/NAME.yaml and" \
        "conf/NAME.about.yaml" >&2
      exit 2
    fi
  done
  listed=$m
  if is_bag "$m"; then
    listed=$(members "$m")
    if [ -z "$listed" ]; then
      echo "$0: error: conf/$m.yaml lists no members; give them as '  - path: ../<model>'" >&2
      exit 2
    fi
  fi
  for x in $listed; do [[ " $train_models " == *" $x "* ]] || train_models+=" $x"; done
done
for m in $train_models; do
  if [ ! -f "conf/$m.yaml" ] || is_bag "$m"; then
    echo "$0: error: conf/$m.yaml: a bag's member needs a conf of one model to train" >&2
    exit 2
  fi
  from=$(continues "$m")
  if [ -n "$from" ] && { [ ! -f "conf/$from.yaml" ] || [ -n "$(continues "$from")" ]; }; then
    echo "$0: error: conf/$m.yaml continues $from, which has no conf/$from.yaml or continues" \
      "another model itself; name a model trained from scratch" >&2
    exit 2
  fi
done

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -f "$data/corpus/corpus.json" ]; then
    log "Stage 0: built-in corpus already in $data/corpus"
  else
    log "Stage 0: synthesizing the built-in TIMIT-layout corpus into $data/corpus"
    vaesep synth-corpus "$data/corpus" --seed "$seed" --force
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  for r in $ratios; do
    out="$data/librispeech_snr$r"
    if [ -f "$out/prepare.json" ]; then log "Stage 1: $out already mixed"; continue; fi
    log "Stage 1: LibriSpeech mixtures at $r dB (full-length utterances) into $out"
    # --max-uses 1: every training utterance in one mixture; training re-pairs them anyway.
    vaesep prepare librispeech "$librispeech" "$out" --train-subsets train-clean-100 \
      --test-subsets test-other --num-train 125 --num-test "$num_test" --crop off \
      --max-uses 1 --snr "$r" --seed "$seed" --force
  done
  out="$data/librispeech_sp/train"
  if [ -z "$perturbed" ]; then
    :
  elif [ -f "$out/perturb.json" ]; then
    log "Stage 1: $out already perturbed"
  else
    log "Stage 1: speed-perturbed copies (0.9, 1.1) of the LibriSpeech training mixtures into $out"
    vaesep prepare perturb "$data/librispeech_snr0/train" "$out" --speeds 0.9,1.1 --force
  fi
  for r in $ratios; do
    out="$data/builtin_snr$r"
    if [ -f "$out/prepare.json" ]; then log "Stage 1: $out already mixed"; continue; fi
    log "Stage 1: built-in corpus mixtures at $r dB into $out"
    vaesep prepare timit "$data/corpus" "$out" --num-train 80 --num-test "$builtin_test" \
      --snr "$r" --seed "$seed" --force
  done
  for corpus in librispeech speechocean; do
    out="$data/pool_$corpus"
    if [ -f "$out/pool.json" ]; then log "Stage 1: $out already pooled"; else
      log "Stage 1: $corpus speaker pools into $out ($hold_out + $hold_out speakers held out)"
      if [ $corpus = librispeech ]; then
        vaesep prepare pool librispeech "$librispeech" "$out" --split train \
          --hold-out "$hold_out" --seed "$seed" --force
      else
        vaesep prepare pool manifest "$speechocean/manifest.csv" "$out" --split all \
          --hold-out "$hold_out" --seed "$seed" --force
      fi
    fi
    out="$data/dev_$corpus"
    if [ -f "$out/prepare.json" ]; then log "Stage 1: $out already mixed"; continue; fi
    log "Stage 1: $corpus dev mixtures of the held-out speakers at 0 dB into $out"
    vaesep prepare manifest "$data/pool_$corpus/held_out.csv" "$out" --num-train 0 \
      --num-test "$num_dev" --seed "$seed" --force
  done
  out="$data/pool_all"
  if [ -f "$out/pool.json" ]; then log "Stage 1: $out already merged"; else
    log "Stage 1: both corpora's pools as one into $out"
    vaesep prepare pool-merge "$data/pool_librispeech" "$data/pool_speechocean" "$out" --force
  fi
fi

mkdir -p "$exp/log"
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # Two waves: every model that starts from scratch (and every model another one still to
  # train continues, listed or not), then those that continue one: a copy of its experiment,
  # resumed.
  parents=""
  for m in $train_models; do
    from=$(continues "$m")
    { [ -n "$from" ] && [ ! -f "$exp/$m/male.pt" ]; } || continue  # trained: no parent needed
    [[ " $train_models $parents " == *" $from "* ]] || parents+=" $from"
  done
  for wave in 1 2; do
    : > "$exp/log/train.jobs"
    for m in $parents $train_models; do
      from=$(continues "$m")
      want=1; [ -z "$from" ] || want=2
      [ "$wave" = "$want" ] || continue
      if [ -f "$exp/$m/female.pt" ] && [ -f "$exp/$m/male.pt" ]; then
        log "Stage 2: $exp/$m already trained"; continue
      fi
      if [ -n "$from" ] && [ ! -f "$exp/$m/config.yaml" ]; then  # from $from's last epoch
        mkdir -p "$exp/$m"
        cp -r "$exp/$from"/{config.yaml,stats.npz,train.log,checkpoints} "$exp/$m/"
      fi
      resume=""; [ -f "$exp/$m/config.yaml" ] && resume=" --resume"
      train=$data/librispeech_snr0/train
      [[ " $perturbed " != *" $m "* ]] || train=$data/librispeech_sp/train
      ! pooled "$m" || train=$data/pool_$pool
      sets_m=""
      if [[ " $on_pools " == *" $m "* ]]; then
        for kv in $pool_data; do sets_m+=" --set data.$kv"; done
      fi
      for kv in $train_set; do sets_m+=" --set $kv"; done
      echo "$m utils/train.sh --config conf/$m.yaml --data $train --exp-dir $exp/$m" \
        "--set training.progress=false$sets_m$resume" >> "$exp/log/train.jobs"
    done
    [ -s "$exp/log/train.jobs" ] || continue
    log "Stage 2: training $(wc -l < "$exp/log/train.jobs") model(s) ($launcher launcher)"
    utils/launch.sh --name train --jobs-file "$exp/log/train.jobs" --log-dir "$exp/log" \
      --gpu true --nodes "${train_nodes:-1}"
  done
  for m in $models; do  # a bag: its members, as exp/<bag>/bag.yaml
    ! is_bag "$m" || { mkdir -p "$exp/$m" && cp "conf/$m.yaml" "$exp/$m/bag.yaml"; }
  done
  for corpus in librispeech speechocean; do
    dirs=()
    for m in $models; do
      pooled "$m" || continue  # the others trained on speakers of the LibriSpeech dev set
      dir="$exp/$m/eval_dev_$corpus"
      [ "$(trained "$m")" -ot "$dir/summary.json" ] ||
        vaesep evaluate --model "$exp/$m" --data "$data/dev_$corpus/test" --out-dir "$dir" \
          --label "$m" --examples 0 --force --best-permutation > /dev/null
      dirs+=("$dir")
    done
    [ ${#dirs[@]} -gt 0 ] || continue
    vaesep report "${dirs[@]}" --out-dir "$exp/dev_$corpus" --force \
      --title "Candidates on the $corpus dev set (held-out training speakers, 0 dB)"
    log "Stage 2: wrote $exp/dev_$corpus/RESULTS.md (choose candidates there, never on test-other)"
  done
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  # Bags last: a member bundled on its own is then exported already, and the bag references
  # it (--reuse) instead of storing the same weights twice.
  for m in $(for x in $models; do is_bag "$x" || echo "$x"; done) \
    $(for x in $models; do is_bag "$x" && echo "$x"; done); do
    out="$bundled/$m"
    if [ "$(trained "$m")" -ot "$out/card.json" ]; then
      log "Stage 3: $out already exported and carded"; continue
    fi
    log "Stage 3: exporting $exp/$m into $out, evaluating it, writing its card"
    opts=(); for kv in $export_set; do opts+=(--set "$kv"); done
    if is_bag "$m"; then
      for x in $(members "$m"); do
        [ ! -f "$bundled/$x/export.json" ] || opts+=(--reuse "$bundled/$x")
      done
    fi
    vaesep bundle export "$exp/$m" "$out" --force "${opts[@]}"
    evals=()
    for corpus in librispeech builtin; do
      for r in $ratios; do
        db=$r; [ "$r" -le 0 ] || db="+$r"
        label="librispeech test-other, $db dB"
        [ "$corpus" = librispeech ] || label="built-in test, $db dB"
        dir="$exp/$m/eval_${corpus}_snr$r"
        vaesep evaluate --model "$out" --data "$data/${corpus}_snr$r/test" --out-dir "$dir" \
          --label "$m" --examples 0 --force > /dev/null
        evals+=(--eval "$label=$dir")
      done
    done
    vaesep bundle card "$out" --about "conf/$m.about.yaml" "${evals[@]}"
  done
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  dirs=(); for m in $models; do dirs+=("$exp/$m/eval_librispeech_snr0"); done
  vaesep report "${dirs[@]}" --out-dir "$exp" --force \
    --title "Bundled models on LibriSpeech test-other, female+male at 0 dB (unseen speakers)"
  log "Stage 4: wrote $exp/RESULTS.md"
fi
