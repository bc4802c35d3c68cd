"""Speaker pools: a corpus's female and male utterances as a pool dir, the data of
``data.loading: pools`` (dynamic mixing: no fixed mixtures are made).

A pool dir holds ``female.scp`` and ``male.scp`` (utterance id → audio path, absolute),
``utt2spk``, ``spk2utt`` and ``pool.json`` (what was read; for a merge of several pool dirs,
its parts and their weights). Nothing is copied or mixed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from vaesep.data.corpora import Corpus, Utterance
from vaesep.data.datadir import (
    check_replaceable,
    read_scp,
    read_utt2spk,
    replacing,
    write_scp,
    write_speakers,
)
from vaesep.errors import VaesepError
from vaesep.version import __version__

POOL_SCP = {"female": "female.scp", "male": "male.scp"}
POOL_JSON = "pool.json"
HELD_OUT_CSV = "held_out.csv"
_GENDERS = {"female": "F", "male": "M"}


def prepare_pool(
    corpus: Corpus, out_dir: str | Path, split: str | None = "train", force: bool = False,
    hold_out: int = 0, seed: int = 0,
) -> dict:  # fmt: skip
    """Write the pool dir of ``corpus``'s utterances of ``split`` (None: all of them);
    returns the summary written to ``pool.json``.

    ``hold_out`` female and as many male speakers (a seeded draw) are left out of the pool
    and listed in ``held_out.csv``, a manifest of test utterances: a dev set of unseen
    speakers (``vaesep prepare manifest OUT/held_out.csv DEV --num-train 0``) that stays the
    same whatever else a model is trained on.
    """
    out_dir = Path(out_dir)
    check_replaceable(out_dir, POOL_JSON, "vaesep prepare pool", force)
    chosen = [u for u in corpus.utterances if split is None or u.split in (split, None)]
    held = _held_out_speakers(corpus, chosen, hold_out, seed)
    held_utts = [u for u in chosen if u.speaker in held]
    chosen = [u for u in chosen if u.speaker not in held]
    pools = {
        s: {u.utt_id: str(Path(u.path).resolve()) for u in chosen if u.gender == g}
        for s, g in _GENDERS.items()
    }
    for source, utts in pools.items():
        if not utts:
            which = f"the {split} split of " if split else ""
            raise VaesepError(
                f"{corpus.root}: no {source} utterances in {which}the corpus; a pool needs "
                "female and male speech (check the genders, or pass --split all)"
            )
    speakers = {u.utt_id: u.speaker for u in chosen}
    summary = {
        "corpus": corpus.kind,
        "root": str(corpus.root),
        "split": split or "all",
        **{
            source: {"utterances": len(utts), "speakers": len({speakers[u] for u in utts})}
            for source, utts in pools.items()
        },
        "skipped": len(corpus.skipped),
        "vaesep_version": __version__,
    }
    if held:
        summary |= {"held_out": {"speakers": sorted(held), "seed": seed, "file": HELD_OUT_CSV}}
    with replacing(out_dir) as tmp:
        for source, utts in pools.items():
            write_scp(tmp / POOL_SCP[source], utts)
        write_speakers(tmp, {u: speakers[u] for utts in pools.values() for u in utts})
        (tmp / POOL_JSON).write_text(json.dumps(summary, indent=2) + "\n")
        if held:
            _write_manifest(tmp / HELD_OUT_CSV, held_utts)
    return summary


def _held_out_speakers(
    corpus: Corpus, utterances: list[Utterance], count: int, seed: int
) -> set[str]:
    """``count`` female and ``count`` male speakers of ``utterances``, drawn with ``seed``;
    each gender keeps at least one speaker for the pool."""
    if count < 0:
        raise VaesepError(f"--hold-out {count}: give a number of speakers per gender, 0 or more")
    held: set[str] = set()
    if count == 0:
        return held
    rng = np.random.default_rng([seed, 11])
    for source, gender in _GENDERS.items():
        speakers = sorted({u.speaker for u in utterances if u.gender == gender})
        if count >= len(speakers):
            raise VaesepError(
                f"{corpus.root}: --hold-out {count} leaves no {source} speaker for the pool "
                f"(it has {len(speakers)}); hold out fewer"
            )
        held.update(rng.permutation(speakers)[:count].tolist())
    return held


def _write_manifest(path: Path, utterances: list[Utterance]) -> None:
    """A vaesep manifest (path, speaker, gender, split: test) of ``utterances``."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "speaker", "gender", "split"])
        for u in sorted(utterances, key=lambda u: u.utt_id):
            writer.writerow([str(Path(u.path).resolve()), u.speaker, u.gender, "test"])


def read_pool_json(pool_dir: str | Path) -> dict:
    """A pool dir's ``pool.json`` (a one-line error when the dir is not a pool dir)."""
    path = Path(pool_dir) / POOL_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise VaesepError(
            f"{path}: missing or unreadable; give pool dirs made by 'vaesep prepare pool'"
        ) from None


def merge_pools(
    pool_dirs: list[Path], out_dir: str | Path, weights: list[float] | None = None,
    force: bool = False,
) -> dict:  # fmt: skip
    """One pool dir of several (e.g. two corpora), each a *part* whose utterance and speaker
    ids get the prefix ``c<k>-`` (so two corpora's ids never collide). With ``weights`` every
    drawn utterance first draws its part in those proportions (then, within the part, an
    utterance or a speaker as ``data.draw`` says); without, the parts are one pool."""
    out_dir = Path(out_dir)
    if len(pool_dirs) < 2:
        raise VaesepError("give two or more pool dirs to merge (made by 'vaesep prepare pool')")
    if len({Path(p).resolve() for p in pool_dirs}) < len(pool_dirs):
        raise VaesepError("a pool dir is given twice; give each once (weights weigh them)")
    if weights is not None and (
        len(weights) != len(pool_dirs) or min(weights) < 0 or sum(weights) <= 0
    ):
        raise VaesepError(
            f"--weights: give {len(pool_dirs)} non-negative numbers, not all 0, one per pool dir"
        )
    check_replaceable(out_dir, POOL_JSON, "vaesep prepare pool", force)
    pools: dict[str, dict[str, str]] = {s: {} for s in POOL_SCP}
    speakers: dict[str, str] = {}
    parts = []
    for k, pool_dir in enumerate(pool_dirs, 1):
        summary, prefix = read_pool_json(pool_dir), f"c{k}-"
        utts = {s: read_scp(Path(pool_dir) / scp) for s, scp in POOL_SCP.items()}
        spk = read_utt2spk(Path(pool_dir), [u for us in utts.values() for u in us])
        for source, entries in utts.items():
            pools[source].update({prefix + u: p for u, p in entries.items()})
        speakers.update({prefix + u: prefix + s for u, s in spk.items()})
        part = {"dir": str(Path(pool_dir).resolve()), "corpus": summary.get("corpus"),
                "prefix": prefix}  # fmt: skip
        part |= {s: summary.get(s) for s in POOL_SCP}
        if weights is not None:
            part["weight"] = weights[k - 1]
        parts.append(part)
    summary = {
        "corpus": "merged",
        "parts": parts,
        **{
            s: {"utterances": len(u), "speakers": len({speakers[i] for i in u})}
            for s, u in pools.items()
        },
        "vaesep_version": __version__,
    }
    with replacing(out_dir) as tmp:
        for source, utts in pools.items():
            write_scp(tmp / POOL_SCP[source], utts)
        write_speakers(tmp, speakers)
        (tmp / POOL_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
