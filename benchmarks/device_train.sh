#!/usr/bin/env bash
# Train candidates of the default's recipe on a GPU, side by side, each for a time budget, from
# the packed pools (.device/, made here by benchmarks/device_setup.sh), and hand back each as a
# float16 bundle in one tar, to score on the dev sets on the CPU afterwards:
#   bash benchmarks/device_train.sh [MINUTES]          # on the GPU machine, $OUT collects
#   DEVICE=cpu OUT=/tmp/out EXTRA="--set data.pairs=16" bash benchmarks/device_train.sh 0.01
#                                                    # a dry run of the plumbing, here
# MINUTES (default 7) is each candidate's training time: a candidate of two networks trains
# them one after the other on a GPU, each for half of it (training.max_minutes), a joint one
# for all of it. Back in $OUT: <name>.tar (the bundle: config, stats, weights, per-source
# training records) and <name>.log for each candidate, and gpu.txt. Then here:
#   tar -xf <name>.tar -C /tmp/gpu && vaesep evaluate -m /tmp/gpu/<name> \
#     --data recipes/pretrained/data/dev_<corpus>/test --out-dir ...
# (the bundles separate as the shipped ones: the recipe's export settings, level -23 dBFS and
# four frame grids) and vaesep report --claim against the default, as docs/results.md's
# candidates were chosen.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-7}
device=${DEVICE:-cuda}
out=${OUT:?set OUT: the folder that collects the results}
python=${PYTHON:-python3}
if [ -d .device/wheels ] && ! "$python" -c "import soundfile, soxr" 2> /dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .device/wheels/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2> /dev/null || echo "no GPU"
  echo "$(nproc) CPUs"; } > "$out/gpu.txt"
conf=recipes/pretrained/conf
half=$(awk "BEGIN {print $minutes / 2}")
# shellcheck disable=SC2206  # EXTRA's settings are words
common=(--data .device/pool_all --set "training.device=$device" --set training.progress=false
  --set data.workers=4 ${EXTRA:-})
# name | conf | its settings: the default's recipe from scratch (its rate halved on plateaus
# from the start) at a GPU's pace, twice its width, and one speaker-independent network of
# that width trained from scratch with permutation-invariant training on pairs of any two voices.
scratch="--set training.init_from= --set training.learning_rate=0.003 --set training.epochs=400"
candidates=(
  "w128|rnn_mask|--set training.max_minutes=$half"
  "w256|rnn_mask|--set training.max_minutes=$half --set model.hidden_size=256"
  "upit256|rnn_upit|--set training.max_minutes=$minutes --set model.hidden_size=256 $scratch"
)
for c in "${candidates[@]}"; do
  IFS='|' read -r name base settings <<< "$c"
  # shellcheck disable=SC2086  # the settings are words
  "$python" -m vaesep train --config "$conf/$base.yaml" --exp-dir "/tmp/device_exp/$name" \
    --force "${common[@]}" $settings > "$out/$name.log" 2>&1 &
done
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
for c in "${candidates[@]}"; do
  name=${c%%|*}
  if "$python" -m vaesep bundle export "/tmp/device_exp/$name" "/tmp/device_bundle/$name" \
    --force --set features.input_level_db=-23 --set features.shifts=4 >> "$out/$name.log" 2>&1
  then
    cp "/tmp/device_exp/$name/train.log" "/tmp/device_bundle/$name/"
    tar -C /tmp/device_bundle -cf "$out/$name.tar" "$name"
  else
    failed=1
  fi
done
ls -la "$out"
exit $failed
