"""Weakly labelled training data: a data dir without references, only mixtures and classes.

Weak class supervision (Karamatlı et al. 2019; :mod:`vaesep.training.joint`) learns from recordings
and which classes (here: female, male) each holds. When every recording holds both classes
nothing tells the two apart (the loss is symmetric in them), so the weak data must also hold
single-class recordings. ``prepare_weak`` makes such a dir from a source-supervised one: a
seeded ``single_fraction`` of its mixtures is replaced by their two sources as two separate
one-class recordings; the other mixtures stay, labelled with both. Every utterance is used
once, so the weak dir holds the same speech as the source-supervised one, and no mixture comes
with its sources. It writes ``wav.scp``, ``classes``, ``utt2spk``/``spk2utt`` and
``weak.json``, and no ``spk*.scp``; the audio is not copied (the scp points to the files).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vaesep.data.datadir import (
    CLASSES_FILE,
    check_replaceable,
    load_datadir,
    replacing,
    write_classes,
    write_datadir,
)
from vaesep.errors import VaesepError

SUMMARY_FILE = "weak.json"


def prepare_weak(
    source_dir: str | Path,
    out_dir: str | Path,
    single_fraction: float = 0.5,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Write the weakly labelled data dir of ``source_dir`` into ``out_dir``; its summary."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not 0 <= single_fraction <= 1:
        raise VaesepError(f"--single-fraction {single_fraction}: must be in [0, 1]")
    data = load_datadir(source_dir)
    check_replaceable(out_dir, SUMMARY_FILE, "vaesep prepare weak", force)
    utts = data.utt_ids
    order = np.random.default_rng(seed).permutation(len(utts))
    single = {utts[i] for i in order[: int(round(single_fraction * len(utts)))]}
    recordings: dict[str, str] = {}
    classes: dict[str, tuple[str, ...]] = {}
    for utt in utts:
        if utt not in single:
            recordings[utt], classes[utt] = data.mixtures[utt], data.classes[utt]
            continue
        for source in data.names:
            recordings[f"{utt}-{source}"] = data.sources[source][utt]
            classes[f"{utt}-{source}"] = (source,)
    summary = {
        "source": str(source_dir.resolve()),
        "single_fraction": single_fraction,
        "seed": seed,
        "mixtures": len(utts) - len(single),
        "single_class": {s: len(single) for s in data.names},
    }
    with replacing(out_dir) as tmp:
        write_datadir(tmp, recordings, {}, names=data.names)
        write_classes(tmp / CLASSES_FILE, classes)
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
