"""Speaker pools: a corpus's female and male utterances as a pool dir, the data of
``data.loading: pools`` (dynamic mixing: no fixed mixtures are made).

A pool dir holds ``female.scp`` and ``male.scp`` (utterance id → audio path, absolute),
``utt2spk``, ``spk2utt`` and ``pool.json`` (what was read). Nothing is copied or mixed.
"""

from __future__ import annotations

import json
from pathlib import Path

from vaesep.data.corpora import Corpus
from vaesep.data.datadir import check_replaceable, replacing, write_scp, write_speakers
from vaesep.errors import VaesepError
from vaesep.version import __version__

POOL_SCP = {"female": "female.scp", "male": "male.scp"}
POOL_JSON = "pool.json"
_GENDERS = {"female": "F", "male": "M"}


def prepare_pool(
    corpus: Corpus, out_dir: str | Path, split: str | None = "train", force: bool = False
) -> dict:
    """Write the pool dir of ``corpus``'s utterances of ``split`` (None: all of them);
    returns the summary written to ``pool.json``."""
    out_dir = Path(out_dir)
    check_replaceable(out_dir, POOL_JSON, "vaesep prepare pool", force)
    chosen = [u for u in corpus.utterances if split is None or u.split in (split, None)]
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
    with replacing(out_dir) as tmp:
        for source, utts in pools.items():
            write_scp(tmp / POOL_SCP[source], utts)
        write_speakers(tmp, {u: speakers[u] for utts in pools.values() for u in utts})
        (tmp / POOL_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
