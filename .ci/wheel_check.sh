#!/usr/bin/env bash
# The wheel as a user gets it: build it, install it with the core only (no extras) into a
# fresh venv (torch==2.13.0 first: the CPU build, so pip never pulls a CUDA one), and from a
# folder outside the checkout run what the core promises: vaesep --version, models, configs,
# separate (and Separator.pretrained(...).separate_file, load_config by a shipped name). A
# command whose extra is missing must say which in one line, exit code 2.
# Usage: .ci/wheel_check.sh (PYTHON: the interpreter that builds, default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TORCH=torch==2.13.0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS
fail() { echo "wheel check: $*" >&2; exit 1; }

"$PYTHON" -m pip wheel -qq . --no-deps -w "$TMP/dist"
wheel=$(ls "$TMP"/dist/vaesep-*.whl)
"$PYTHON" -m venv "$TMP/venv"
BIN=$TMP/venv/bin
"$BIN/python" -m pip install -qq $TORCH
"$BIN/python" -m pip install -qq "$wheel"
packages=$("$BIN/python" -m pip list --format=freeze | wc -l)

mkdir "$TMP/work" && cd "$TMP/work"  # outside the checkout: only the installed wheel is seen
shows() {  # shows PATTERN COMMAND...: the command succeeds and prints a line matching PATTERN
    local pattern=$1 out
    shift
    out=$("$BIN/vaesep" "$@") || fail "vaesep $*: exit $?"
    grep -q -- "$pattern" <<<"$out" || fail "vaesep $*: no line matches '$pattern'"
}
shows '^vaesep [0-9]' --version
shows '(default)' models
shows '^vae  *vae  ' configs
shows '^model:' configs vae
"$BIN/python" - <<'PY'
import numpy as np
import soundfile as sf
import vaesep
from vaesep.data.datadir import write_datadir

assert "/venv/" in vaesep.__file__, vaesep.__file__  # the wheel, not the checkout
rate, t = 16000, np.arange(3 * 16000) / 16000
female = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
male = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
for name, signal in (("mix", female + male), ("female", female), ("male", male)):
    sf.write(f"{name}.wav", signal.astype(np.float32), rate)
write_datadir("data", {"mix": "mix.wav"}, {"female": {"mix": "female.wav"}, "male": {"mix": "male.wav"}})
separator = vaesep.Separator.pretrained()
separator.separate_file("mix.wav", {s: f"api_{s}.wav" for s in separator.sources})
assert vaesep.load_config("vae").model.type == "vae"
PY
"$BIN/vaesep" separate mix.wav --out-dir out --quiet
for f in out/mix_female.wav out/mix_male.wav api_female.wav api_male.wav; do
    [ -s "$f" ] || fail "$f: not written"
done

needs() {  # needs 'EXPECTED LINE' COMMAND...: exit code 2 and exactly that line on stderr
    local expected=$1 rc=0
    shift
    "$BIN/vaesep" "$@" >/dev/null 2>err.txt || rc=$?
    [ "$rc" = 2 ] && [ "$(cat err.txt)" = "vaesep: error: $expected" ] \
        || fail "vaesep $*: exit $rc, stderr: $(cat err.txt)"
}
needs "vaesep evaluate needs mir_eval: pip install 'vaesep[eval]'" \
    evaluate --separated out --data data --out-dir eval
[ ! -e eval ] || fail "evaluate without mir_eval wrote eval/"
needs "vaesep prepare rooms needs pyroomacoustics: pip install 'vaesep[rooms]'" \
    prepare rooms data rooms
echo "wheel check: $(basename "$wheel") with the core only ($packages packages): version," \
    "models, configs, separate, the API and the missing-extra errors pass in $((SECONDS - start)) s"
