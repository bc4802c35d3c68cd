#!/usr/bin/env bash
# Multichannel female+male separation in reverberant rooms: the mono mixtures of a corpus are
# played in simulated shoebox rooms (pyroomacoustics) at each RT60 and recorded by a small
# linear array; blind demixing (AuxIVA, ILRMA) and the multichannel VAE (MVAE, FastMVAE: a
# conditional VAE of the reverberant source images of the same RT60's training rooms;
# FastMVAE runs on MVAE's trained CVAE) separate the test rooms, for every training seed. The references are the reverberant source images
# at the reference mic (mic 0), the mixture baseline that mic's channel; blind outputs are
# matched to them by the best permutation. One RESULTS.md per RT60 with 95 % intervals and
# the claims MVAE > ILRMA and FastMVAE > ILRMA, and exp/RESULTS.md over them all.
#   ./run.sh                                     # built-in synthesized corpus, stages 0-4
#   ./run.sh --timit /data/TIMIT                 # your LDC TIMIT
#   ./run.sh --librispeech ../../../shared/data/LibriSpeech-subset   # a LibriSpeech layout
#   ./run.sh --models "auxiva ilrma" --rt60s "0.15 0.3 0.6"          # blind only, more rooms
#   launcher=slurm ./run.sh                      # one SLURM array task per (RT60, model)
# Paths are relative to this dir. Stages: 0 corpus, 1 mono mixtures, 2 reverberant rooms per
# RT60, 3 train + separate + score every (RT60, model) for every seed, 4 RESULTS.md per RT60
# and over them. Every stage skips work already done.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=4
timit=""                 # path to an LDC TIMIT
librispeech=""           # path to a LibriSpeech-layout corpus (SPEAKERS.TXT, train-clean-100/...)
                         # neither: synthesize the built-in TIMIT-layout corpus
train_subsets=train-clean-100   # LibriSpeech: training speakers' subsets, as librispeech_mf
test_subsets=test-other         # and the speaker-disjoint test speakers'
crop=2-4                 # LibriSpeech: utterances cropped to 2-4 s segments, as librispeech_mf
data=data                # corpora, mixtures and rooms
exp=exp                  # experiments, results
models="auxiva ilrma mvae fast_mvae"   # conf/<model>.yaml each
rt60s="0.15 0.3"         # reverberation times (s): one room set and one report each
mics=2                   # microphones of the linear array (the demixers need one per source)
spacing=0.05             # between neighbouring mics (m)
seeds=0,1,2              # training seeds per model (the blind ones: their random start)
speakers_per_gender=8    # built-in corpus size
utterances=10
num_train=80
num_test=20
seed=0                   # corpus, mixtures and training rooms; the test rooms use seed + 1000
train_set=""             # extra config overrides for the trained models (not auxiva/ilrma),
                         # e.g. "training.epochs=5 model.iterations=20"
__options="stage stop_stage timit librispeech train_subsets test_subsets crop data exp models rt60s
mics spacing seeds speakers_per_gender utterances num_train num_test seed train_set"
command_line="./run.sh$(printf ' %q' "$@")"

. ./path.sh
. ./cmd.sh
. utils/log.sh
. utils/parse_options.sh "$@"
log "$0 $*"
mixtures="$data/mixtures"
blind="auxiva ilrma"     # model types that learn nothing: --train-set does not apply to them

if [ -n "$timit" ] && [ -n "$librispeech" ]; then
  echo "$0: error: give --timit or --librispeech, not both" >&2; exit 2
fi
if [ -z "$rt60s" ] || [ -z "$models" ]; then
  echo "$0: error: --rt60s and --models need at least one value each" >&2; exit 2
fi
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  for m in $models; do  # before any work: a missing config would only fail at stage 3
    if [ ! -f "conf/$m.yaml" ]; then
      available=$(for f in conf/*.yaml; do [ ! -f "$f" ] || basename "$f" .yaml; done | xargs)
      echo "$0: error: conf/$m.yaml not found (a copy or link of ../../configs/$m.yaml);" \
        "choose --models among: $available" >&2
      exit 2
    fi
  done
fi
model_type() { sed -n '/^  type: */{s/^  type: *\([A-Za-z0-9_]*\).*/\1/p;q;}' "conf/$1.yaml"; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -n "$timit" ]; then
    log "Stage 0: using the TIMIT corpus at $timit"
  elif [ -n "$librispeech" ]; then
    log "Stage 0: using the LibriSpeech corpus at $librispeech"
  elif [ -f "$data/corpus/corpus.json" ]; then
    log "Stage 0: built-in corpus already in $data/corpus"
  else
    log "Stage 0: synthesizing the built-in TIMIT-layout corpus into $data/corpus"
    vaesep synth-corpus "$data/corpus" --speakers-per-gender "$speakers_per_gender" \
      --utterances "$utterances" --seed "$seed" --force
  fi
fi
if [ -n "$librispeech" ]; then
  corpus_name="LibriSpeech, $test_subsets"
elif [ -n "$timit" ]; then
  corpus_name="TIMIT"
else
  corpus_name="the built-in synthesized corpus"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -f "$mixtures/prepare.json" ]; then
    log "Stage 1: mixtures already in $mixtures"
  elif [ -n "$librispeech" ]; then
    log "Stage 1: mixing LibriSpeech female+male segments ($crop s) into $mixtures"
    vaesep prepare librispeech "$librispeech" "$mixtures" --train-subsets "$train_subsets" \
      --test-subsets "$test_subsets" --num-train "$num_train" --num-test "$num_test" \
      --crop "$crop" --seed "$seed" --force
  else
    log "Stage 1: mixing female+male utterances at 0 dB into $mixtures"
    vaesep prepare timit "${timit:-$data/corpus}" "$mixtures" --num-train "$num_train" \
      --num-test "$num_test" --seed "$seed" --force
  fi
fi

# The settings a rooms dir was made with, checked against these (a dir made with other mics
# would be reported under the wrong title).
rooms_match() {  # dir rt60 mics spacing seed
  python - "$@" <<'EOF'
import json, sys
path, rt60, mics, spacing, seed = sys.argv[1:]
made = json.load(open(f"{path}/rooms.json"))
wanted = {"rt60": float(rt60), "mics": int(mics), "spacing": float(spacing), "seed": int(seed)}
other = {k: made.get(k) for k, v in wanted.items() if made.get(k) != v}
if other:
    print(", ".join(f"{k} {v}" for k, v in other.items()))
    sys.exit(1)
EOF
}

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  for rt in $rt60s; do
    for split in train test; do
      room_seed=$seed; [ "$split" = train ] || room_seed=$((seed + 1000))
      out="$data/rooms/rt$rt/$split"
      if [ -f "$out/rooms.json" ]; then
        if ! other=$(rooms_match "$out" "$rt" "$mics" "$spacing" "$room_seed"); then
          echo "$0: error: $out was made with $other, not --rt60 $rt --mics $mics" \
            "--spacing $spacing --seed $room_seed; remove it or use another --data" >&2
          exit 2
        fi
        log "Stage 2: rooms already in $out"; continue
      fi
      log "Stage 2: $mics-mic recordings of $mixtures/$split in RT60 $rt s rooms into $out"
      vaesep prepare rooms "$mixtures/$split" "$out" --rt60 "$rt" --mics "$mics" \
        --spacing "$spacing" --seed "$room_seed" --force
    done
  done
fi

mkdir -p "$exp/log"
tasks_failed=false
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  names=(); lines=()
  shares=false  # fast_mvae scores mvae's trained CVAEs (the same network) in mvae's task
  [[ " $models " == *" mvae "* && " $models " == *" fast_mvae "* ]] && shares=true
  for rt in $rt60s; do
    for m in $models; do
      dir="$exp/rt$rt/$m"
      done_all=true
      for s in ${seeds//,/ }; do
        [ -f "$dir/seed$s/eval/summary.json" ] || done_all=false
        if $shares && [ "$m" = mvae ]; then
          [ -f "$exp/rt$rt/fast_mvae/seed$s/eval/summary.json" ] || done_all=false
        fi
      done
      if $shares && [ "$m" = fast_mvae ]; then continue; fi  # in mvae's task
      if $done_all; then log "Stage 3: $dir already scored (seeds $seeds)"; continue; fi
      sets=" --set training.progress=false"
      train="$mixtures/train"
      if [[ " $blind " != *" $(model_type "$m") "* ]]; then
        for kv in $train_set; do sets+=" --set $kv"; done
        # The CVAE learns the reverberant source images of this RT60's training rooms.
        train="$data/rooms/rt$rt/train"
      fi
      test="$data/rooms/rt$rt/test"
      names+=("rt$rt.$m")
      line="vaesep run --config conf/$m.yaml --train $train --test $test --exp-dir $dir"
      line+=" --seeds $seeds$sets --jobs @JOBS@"
      if $shares && [ "$m" = mvae ]; then
        for s in ${seeds//,/ }; do
          out="$exp/rt$rt/fast_mvae/seed$s/eval"
          line+=" && { [ -f $out/summary.json ] || vaesep evaluate --model $dir/seed$s"
          line+=" --set model.type=fast_mvae --data $test --out-dir $out --label fast_mvae"
          line+=" --jobs @JOBS@ --force; }"
        done
      fi
      lines+=("$line")
    done
  done
  # Scoring processes per task: the cores shared among the tasks running at once.
  cores=$(nproc); at_once=${nj:-$cores}
  [ "${#names[@]}" -ge "$at_once" ] || at_once=${#names[@]}
  score_jobs=$(( at_once > 0 && cores > at_once ? cores / at_once : 1 ))
  : > "$exp/log/run.jobs"
  for i in "${!names[@]}"; do
    echo "${names[$i]} ${lines[$i]//@JOBS@/$score_jobs}" >> "$exp/log/run.jobs"
  done
  log "Stage 3: $(wc -l < "$exp/log/run.jobs") (RT60, model) task(s) to run ($launcher launcher)"
  # A failed task is named with its log; the others still finish and are reported.
  if ! utils/launch.sh --name run --jobs-file "$exp/log/run.jobs" --log-dir "$exp/log" --gpu true
  then
    tasks_failed=true
    log "Stage 3: some tasks failed (listed above); the reports pool the others"
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  q() {  # a shell word: bare when safe, else single-quoted
    if [[ $1 =~ ^[A-Za-z0-9_./,:=+@-]+$ ]]; then printf '%s' "$1"
    else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
  }
  # The command with every setting that shaped these results (none of another corpus's).
  unused="stage stop_stage"
  [ -n "$timit" ] || unused+=" timit"
  [ -n "$librispeech" ] || unused+=" librispeech train_subsets test_subsets crop"
  [ -z "$timit$librispeech" ] || unused+=" speakers_per_gender utterances"
  reproduce="./run.sh"
  for v in $__options; do
    if [[ " $unused " != *" $v "* ]]; then reproduce+=" --${v//_/-} $(q "${!v}")"; fi
  done
  sections=()
  for rt in $rt60s; do
    results=(); present=()
    for m in $models; do
      dir="$exp/rt$rt/$m"
      if [ -d "$dir" ] && [ -n "$(find "$dir" -path '*/eval/summary.json' -print -quit)" ]; then
        results+=("$dir"); present+=("$m")
      else
        log "Stage 4: no results for $dir yet"
      fi
    done
    if [ ${#results[@]} -eq 0 ]; then sections+=("$rt:"); continue; fi
    has() { [[ " ${present[*]} " == *" $1 "* ]]; }
    claims=()
    for m in mvae fast_mvae; do
      if has "$m" && has ilrma; then claims+=(--claim "$m>ilrma:sdr" --claim "$m>ilrma:sir"); fi
    done
    vaesep report "${results[@]}" --out-dir "$exp/rt$rt" --force "${claims[@]}" \
      --title "Female+male, $mics mics, RT60 $rt s ($corpus_name)" > /dev/null
    log "Stage 4: wrote $exp/rt$rt/RESULTS.md, results.csv and violins.png (${present[*]})"
    sections+=("$rt:${present[*]}")
  done

  # exp/RESULTS.md: what was scored against what, the command, then each RT60's report.
  top="$exp/RESULTS.md"
  {
    echo "# Multichannel female+male separation in reverberant rooms ($corpus_name)"
    echo
    echo "$mics-mic linear array ($spacing m spacing) in simulated shoebox rooms (pyroomacoustics"
    echo "image source method, walls set for each RT60); $num_test test mixtures of unseen"
    echo "speakers, training seeds $seeds. **References: the reverberant image of each source at"
    echo "the reference mic (mic 0)**, not the dry sources: the scores measure separation, not"
    echo "dereverberation; the mixture row is mic 0's channel. Blind outputs (auxiva, ilrma) come"
    echo "in no order, and mvae's are named by its classifier: every model is matched to the"
    echo "references by the best permutation (summary.json's in_order: how often mvae's naming"
    echo "was right). mvae's conditional VAE learns the reverberant source images of the same"
    echo "RT60's training rooms (\`$data/rooms/rt<RT60>/train\`: other speakers, other rooms);"
    echo "fast_mvae separates with mvae's trained CVAE. Test rooms: \`$data/rooms/rt<RT60>/test\`"
    echo "(rooms.json: geometry)."
    echo
    echo "Made with (from \`recipes/multichannel_mf\`):"
    echo
    echo '```'
    echo "$reproduce"
    echo '```'
    echo
    echo "Last run as \`$command_line\`."
    echo
    for section in "${sections[@]}"; do
      rt=${section%%:*}; present=${section#*:}
      measured=$(python -c 'import json, sys
print("%.2f" % json.load(open(sys.argv[1]))["measured_rt60"])' \
        "$data/rooms/rt$rt/test/rooms.json" 2>/dev/null || echo "?")
      echo "## RT60 $rt s (measured in the test rooms: $measured s)"
      echo
      if [ -z "$present" ]; then
        echo "No results yet."
        echo
        continue
      fi
      echo "[rt$rt/RESULTS.md](rt$rt/RESULTS.md): $present."
      echo
      # Its report one heading level down (its title as the first line), figure path fixed.
      sed -e '1s/^# /**/' -e '1s/$/**/' -e 's/^## /### /' \
        -e "s#](violins.png)#](rt$rt/violins.png)#" "$exp/rt$rt/RESULTS.md"
      echo
    done
  } > "$top.tmp"
  mv -f "$top.tmp" "$top"
  log "Stage 4: wrote $top"
fi
if $tasks_failed; then
  log "Done, but some (RT60, model) tasks failed; see the errors above"; exit 1
fi
log "Done."
