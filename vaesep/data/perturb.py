"""Kaldi-style speed perturbation of a source-supervised data dir (``perturb_data_dir_speed``).

``prepare_perturb`` keeps every utterance (its scp entries point to the input's audio) and adds
a copy ``sp{f}-{utt}`` (speaker ``sp{f}-{speaker}``) per factor ``f``, whose sources are each
resampled as if recorded at ``rate · f`` and played at ``rate`` (sox ``speed f``: ``1/f`` times
as long, pitch times ``f``); its mixture is their sum, so mixture = female + male holds as in the
input (a residual beyond the sources, e.g. noise, is perturbed and added too). It writes the scp
files, ``utt2spk``/``spk2utt``, ``perturb.json`` and ``wav/sp{f}-{utt}_{mix,female,male}.wav``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr

from vaesep.data.datadir import (
    DataDir,
    check_outside,
    check_replaceable,
    load_datadir,
    read_utt2spk,
    replacing,
    write_datadir,
)
from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio, load_channels, save_audio
from vaesep.version import __version__

SUMMARY_FILE = "perturb.json"
RESIDUAL_TOLERANCE = 1e-4  # above 16-bit rounding: the mixture is not the sum of its sources
_EXAMPLE = "expected comma-separated positive factors such as 0.9,1.1"


def parse_speeds(text: str) -> list[float]:
    """The factors of a ``--speeds`` value such as ``0.9,1.1``."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise VaesepError(f"--speeds {text}: {_EXAMPLE}") from None


def _check_speeds(speeds: Sequence[float]) -> list[str]:
    """The labels (``0.9`` of ``sp0.9``) of valid, distinct factors other than 1."""
    labels = [f"{f:g}" for f in speeds]
    given = ",".join(labels)
    bad = next((f for f in speeds if not (math.isfinite(f) and f > 0)), None)
    if not speeds or bad is not None:
        why = "" if bad is None else f"{bad:g} is not a positive factor; "
        raise VaesepError(f"--speeds {given}: {why}{_EXAMPLE}")
    if "1" in labels:
        raise VaesepError(f"--speeds {given}: drop 1 (the original is always kept)")
    if repeated := next((label for label in labels if labels.count(label) > 1), None):
        raise VaesepError(f"--speeds {given}: {repeated} repeats; list each factor once")
    return labels


def prepare_perturb(
    source_dir: str | Path, out_dir: str | Path, speeds: Sequence[float], force: bool = False
) -> dict:
    """Write ``source_dir`` and its speed-perturbed copies into ``out_dir``; the summary."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    labels = _check_speeds(speeds)
    data = load_datadir(source_dir, require_references=False)
    if not data.has_references:
        raise VaesepError(
            f"{source_dir}: no spk1.scp/spk2.scp (a weakly labelled dir?); perturb needs the "
            "references, so pass a source-supervised data dir"
        )
    audio = [p for scp in (data.mixtures, *data.sources.values()) for p in scp.values()]
    check_outside(out_dir, audio, "audio", source_dir)
    clash = next((c for u in data.utt_ids for c in _copies(u, labels) if c in data.mixtures), 0)
    if clash:
        raise VaesepError(f"{source_dir}: already holds {clash}; perturb the unperturbed data dir")
    check_replaceable(out_dir, SUMMARY_FILE, "vaesep prepare perturb", force)
    with replacing(out_dir) as tmp:
        return _perturb(data, tmp, out_dir.resolve(), [float(f) for f in speeds], labels)


def _perturb(data: DataDir, tmp: Path, final: Path, speeds: list[float], labels: list[str]) -> dict:
    """Write the copies' audio into ``tmp`` and the scp files (naming ``final``); the summary."""
    mixtures = dict(data.mixtures)
    names = data.names
    sources = {s: dict(data.sources[s]) for s in names}
    utt2spk = dict(speakers := read_utt2spk(data.root, data.utt_ids))
    seconds, with_residual = 0.0, 0
    for utt in data.utt_ids:
        signals, rate = _read(data, utt)
        seconds += len(signals[names[0]]) / rate
        with_residual += "residual" in signals
        for f, label, copy in zip(speeds, labels, _copies(utt, labels)):
            out = {k: soxr.resample(x, rate * f, rate) for k, x in signals.items()}
            length = min(len(x) for x in out.values())
            out = {k: x[:length].astype(np.float32) for k, x in out.items()}
            out["mix"] = out[names[0]] + out[names[1]] + out.pop("residual", 0)
            for name in ("mix", *names):
                save_audio(tmp / "wav" / f"{copy}_{name}.wav", out[name], rate)
            mixtures[copy] = str(final / "wav" / f"{copy}_mix.wav")
            for s in names:
                sources[s][copy] = str(final / "wav" / f"{copy}_{s}.wav")
            utt2spk[copy] = f"sp{label}-{speakers[utt]}"
            seconds += length / rate
    write_datadir(tmp, mixtures, sources, utt2spk, names)
    n = len(data.utt_ids)
    summary = {
        "source": str(data.root.resolve()),
        "speeds": speeds,
        "utterances": {"original": n, "perturbed": len(mixtures) - n, "total": len(mixtures)},
        "seconds": seconds,
        "mixtures_not_sum_of_sources": with_residual,
        "vaesep_version": __version__,
    }
    (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _copies(utt: str, labels: list[str]) -> list[str]:
    return [f"sp{label}-{utt}" for label in labels]  # Kaldi's names: sp0.9-utt1


def _read(data: DataDir, utt: str) -> tuple[dict[str, np.ndarray], int]:
    """An utterance's sources and, where its mixture is not their sum, the ``residual``
    (mixture - female - male), all cut to the shortest; and their common rate."""
    mixture, rate = load_channels(data.mixtures[utt])
    if mixture.shape[0] > 1:
        raise VaesepError(
            f"{data.mixtures[utt]}: {mixture.shape[0]} channels; perturb writes mono mixtures, "
            "so perturb the mono data dir (e.g. before 'vaesep prepare rooms')"
        )
    signals = {"mix": mixture[0]}
    for s in data.names:
        signals[s], source_rate = load_audio(data.sources[s][utt])
        if source_rate != rate:
            raise VaesepError(
                f"{data.sources[s][utt]}: {source_rate} Hz, its mixture {rate} Hz; "
                "make the data dir with one --sample-rate"
            )
    length = min(len(x) for x in signals.values())
    signals = {k: x[:length] for k, x in signals.items()}
    residual = signals.pop("mix") - sum(signals[s] for s in data.names)
    if np.abs(residual).max() > RESIDUAL_TOLERANCE:  # e.g. noise: perturbed with the rest
        signals["residual"] = residual
    return signals, rate
