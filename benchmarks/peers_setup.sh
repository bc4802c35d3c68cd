#!/usr/bin/env bash
# The benchmark-only venv of the open-unmix peer (python -m benchmarks.peers): the CPU torch of
# these machines, then open-unmix 1.3.0 and torchaudio without their dependencies (PyPI's
# torchaudio wheels are CUDA builds that pull a CUDA torch and whose compiled libraries do not
# load next to the CPU torch: they are removed; open-unmix's model, transforms and Wiener
# filter need only torchaudio's pure-Python import).
#   bash benchmarks/peers_setup.sh [VENV]     # default .venv-peers
set -euo pipefail
venv=${1:-.venv-peers}
python3 -m venv "$venv"
"$venv/bin/pip" install -q torch==2.13.0 numpy soundfile
"$venv/bin/pip" install -q --no-deps openunmix==1.3.0 torchaudio==2.11.1
rm -f "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
"$venv/bin/python" -c "import openunmix.model, openunmix.transforms, openunmix.filtering"
echo "$venv: open-unmix 1.3.0 ready"
