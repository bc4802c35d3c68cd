"""Female + male mixtures from a corpus, written as ``train/`` and ``test/`` data dirs.

``prepare_mixtures`` checks the corpus, plans the mixtures (pairing again without the files
that cannot be read), makes them on a few threads and writes each split's Kaldi-style data dir
and ``mixtures.csv``, the audio under ``wav/`` and a summary in ``prepare.json``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import numpy as np

from vaesep.data.corpora import SPLITS, Corpus, Utterance
from vaesep.data.datadir import write_datadir
from vaesep.data.mixing import MixOptions, MixturePlan, make_mixture
from vaesep.data.splits import plan_mixtures, split_utterances
from vaesep.errors import VaesepError, log
from vaesep.io.atomic import remove_if_empty, write_text_atomic
from vaesep.io.audio import load_audio
from vaesep.version import __version__

OUTPUT_FILES = ("wav.scp", "spk1.scp", "spk2.scp", "utt2spk", "spk2utt", "mixtures.csv")
_WORKERS = min(4, os.cpu_count() or 1)

T = TypeVar("T")
R = TypeVar("R")


def prepare_mixtures(
    corpus: Corpus, out_dir: str | Path, options: MixOptions | None = None
) -> dict:
    """Write ``out_dir/{train,test}/`` data dirs, ``out_dir/wav/`` and ``out_dir/prepare.json``.

    Returns the summary written to prepare.json. Unreadable or silent files are skipped (with
    a warning) and other utterances take their place.
    """
    started = time.perf_counter()
    options = options or MixOptions()
    options.validate()
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, options.force)
    _check_corpus(corpus)
    pools, split_from = split_utterances(corpus, options)
    skipped = list(corpus.skipped)
    plans, rates = _plan_readable(pools, options, skipped)
    _note_resampling(rates, options.sample_rate)
    if options.force:
        _clear_previous(out_dir)
    summary_splits = {}
    try:
        for split in SPLITS:
            if plans[split]:
                records = _run(lambda p: make_mixture(p, out_dir, options), plans[split])
                _write_split(out_dir / split, plans[split], records)
                summary_splits[split] = _split_summary(plans[split], records)
    except BaseException:  # a full disk, Ctrl-C: nothing half-written is left
        _clear_previous(out_dir)
        raise
    summary = {
        "vaesep_version": __version__,
        "corpus": {
            "type": corpus.kind,
            "root": str(corpus.root.resolve()),
            "utterances": len(corpus.utterances),
            "female_speakers": len(corpus.speakers("F")),
            "male_speakers": len(corpus.speakers("M")),
        },
        "seed": options.seed,
        "options": {k: v for k, v in asdict(options).items() if k != "force"},
        "split_from": split_from,
        "splits": summary_splits,
        "skipped": skipped,
        "num_skipped": len(skipped),
        "seconds": round(sum(s["seconds"] for s in summary_splits.values()), 3),
        "time_taken_s": round(time.perf_counter() - started, 3),
    }
    write_text_atomic(out_dir / "prepare.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _plan_readable(
    pools: dict[str, list[Utterance]], options: MixOptions, skipped: list[dict[str, str]]
) -> tuple[dict[str, list[MixturePlan]], dict[Path, int]]:
    """Pair utterances, read the chosen ones, drop unreadable ones and pair again until clean."""
    rates: dict[Path, int] = {}
    bad: set[Path] = set()
    while True:
        plans = plan_mixtures(pools, options, bad)
        needed = sorted({u.path for ps in plans.values() for p in ps for u in (p.female, p.male)})
        fresh = [p for p in needed if p not in rates]
        if not fresh:
            return plans, rates
        for path, result in zip(fresh, _run(_probe, fresh), strict=True):
            if isinstance(result, int):
                rates[path] = result
            else:
                log.warning("skipping %s: %s", path, result)
                skipped.append({"path": str(path), "reason": result})
                bad.add(path)


def _probe(path: Path) -> int | str:
    """The file's sample rate, or why it cannot be used."""
    try:
        signal, rate = load_audio(path)
    except VaesepError as exc:
        return str(exc).removeprefix(f"{path}: ")
    if not np.any(signal):
        return "silent (all samples are zero)"
    return rate


def _note_resampling(rates: dict[Path, int], sample_rate: int) -> None:
    other = sorted({r for r in rates.values() if r != sample_rate})
    if other:
        count = sum(r != sample_rate for r in rates.values())
        log.info(
            "%d of %d files are at %s Hz; resampling them to %d Hz",
            count,
            len(rates),
            "/".join(map(str, other)),
            sample_rate,
        )


def _run(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(func, items))


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise VaesepError(f"{out_dir}: exists and is not a directory; choose another OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise VaesepError(f"{out_dir}: exists and is not empty; pass --force to write into it")


def _check_corpus(corpus: Corpus) -> None:
    for gender, word in (("F", "female"), ("M", "male")):
        if not corpus.speakers(gender):
            raise VaesepError(
                f"{corpus.root}: no {word} speakers found among {len(corpus.utterances)} "
                "utterances; mixtures need both genders"
            )
    seen: dict[str, Path] = {}
    for u in corpus.utterances:
        if u.utt_id in seen:
            raise VaesepError(
                f"{corpus.root}: utterance id {u.utt_id!r} is used by {seen[u.utt_id]} and "
                f"{u.path}; ids must be unique"
            )
        seen[u.utt_id] = u.path


def _clear_previous(out_dir: Path) -> None:
    """Remove the files an earlier run wrote here (and nothing else), then the folders it
    made if they are left empty."""
    (out_dir / "prepare.json").unlink(missing_ok=True)
    for split in SPLITS:
        for name in OUTPUT_FILES:
            (out_dir / split / name).unlink(missing_ok=True)
        for kind in ("mix", "female", "male"):
            for path in (out_dir / "wav" / split).glob(f"*_{kind}.wav"):
                path.unlink()
    splits = (f for split in SPLITS for f in (out_dir / split, out_dir / "wav" / split))
    remove_if_empty(*splits, out_dir / "wav", out_dir)


def _write_split(folder: Path, plans: list[MixturePlan], records: list[dict]) -> None:
    write_datadir(
        folder,
        mixtures={r["utt_id"]: r["mix_wav"] for r in records},
        sources={
            "female": {r["utt_id"]: r["female_wav"] for r in records},
            "male": {r["utt_id"]: r["male_wav"] for r in records},
        },
        utt2spk={p.utt_id: p.female.speaker for p in plans},
    )
    columns = [k for k in records[0] if not k.endswith("_wav")]
    with (folder / "mixtures.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted(records, key=lambda r: r["utt_id"]))


def _split_summary(plans: list[MixturePlan], records: list[dict]) -> dict:
    females = [p.female for p in plans]
    males = [p.male for p in plans]
    uses = Counter(u.utt_id for u in females) + Counter(u.utt_id for u in males)
    return {
        "mixtures": len(plans),
        "seconds": round(sum(r["seconds"] for r in records), 3),
        "female_speakers": sorted({u.speaker for u in females}),
        "male_speakers": sorted({u.speaker for u in males}),
        "female_utterances": len({u.utt_id for u in females}),
        "male_utterances": len({u.utt_id for u in males}),
        "max_uses": max(uses.values()),
    }
