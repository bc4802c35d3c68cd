#!/usr/bin/env bash
# Prepare, on this machine, what benchmarks/device_train.sh needs on a GPU machine that has no
# corpora, no network and no soundfile: the recipe's merged speaker pools packed as Ogg Opus
# (benchmarks/device_pack.py; 2.78 h in 28.8 MiB at 24 kbit/s) and the wheels vaesep's training
# needs beyond that machine's PyTorch image (soundfile, soxr, cffi, pycparser; CPython 3.12,
# x86-64). Everything goes to .device/ (git-ignored here; about 31 MiB), which the GPU call
# carries with the repo (64 MiB in all).
#   bash benchmarks/device_setup.sh            # after recipes/pretrained/run.sh --stop-stage 1
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
pool=${POOL:-recipes/pretrained/data/pool_all}
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx "/.device/" "$exclude" 2>/dev/null || echo "/.device/" >> "$exclude"
if [ ! -f .device/pool_all/packed.json ]; then
  "$python" -m benchmarks.device_pack "$pool" .device/pool_all
fi
rm -rf .device/wheels
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .device/wheels \
  soundfile==0.14.0 soxr==1.1.0 cffi==2.1.1 pycparser==3.12
du -sh .device
