"""Evaluation of separations on a data dir: parallel scoring, summaries and result files.

``evaluate`` separates every mixture of a data dir serially; ``evaluate_separated`` reads
separations already written by ``vaesep separate``. Either way the estimates are scored in
worker processes (see :mod:`vaesep.scoring.metrics`), and ``metrics.csv`` (a row per utterance and
source), ``summary.json`` and a few example wavs are written.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vaesep.data.datadir import DataDir, load_datadir
from vaesep.errors import VaesepError, log, optional
from vaesep.io import workers
from vaesep.io.atomic import write_text_atomic
from vaesep.io.audio import audio_info, load_audio, load_channels, save_audio
from vaesep.io.progress import counted
from vaesep.scoring.metrics import (
    METRICS,
    PERCEPTUAL,
    SUMMARY_METRICS,
    best_permutation,
    metrics_csv,
    perceptual_metrics,
    score_utterance,
)
from vaesep.scoring.provenance import device_of, provenance, timed

METRICS_CSV = "metrics.csv"
SUMMARY_JSON = "summary.json"
EXAMPLES_DIR = "examples"
EVAL_DIR = "eval"  # where the recipes and `vaesep run` put an experiment's scores
SEPARATED_DIR = "separated"  # the recipes' 'vaesep separate --out-dir' inside an experiment

# The estimates of one utterance: (utt_id, mixture, references) -> {source: estimate}.
Estimator = Callable[[str, np.ndarray, dict[str, np.ndarray]], Mapping[str, np.ndarray]]


class SeparatorLike(Protocol):
    """What ``evaluate`` needs of a separator (``vaesep.separation.separator.Separator`` is one).

    A separator with a true ``needs_references`` attribute (an oracle) is also given the
    utterance's true sources: ``separate(signal, sample_rate, references={source: signal})``.
    One with a true ``multichannel`` attribute (``vaesep.separation.demixer.Demixer``) is given the
    recording's channels ``(channels, samples)``; its ``reference_mic`` is the mixture scored
    as the baseline, and a true ``permute`` lets the scoring match its outputs to the sources.
    """

    sample_rate: int
    sources: tuple[str, ...]

    def separate(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class Reading:
    """How the mixtures are read and the estimates matched to the references.

    A multichannel mixture is scored against the references (the source images at
    ``reference_mic``) with that channel as the baseline; the separator gets all channels
    when ``multichannel``, else their downmix. With ``permute`` the estimates are matched to
    the references by the permutation of best mean SI-SDR (the summary's ``in_order``: the
    share of utterances whose outputs were already in order).
    """

    multichannel: bool = False
    reference_mic: int = 0
    permute: bool = False


@dataclass(frozen=True)
class ScoreItem:
    """One utterance to score: per-source references and estimates plus the mixture."""

    utt_id: str
    references: dict[str, np.ndarray]
    estimates: dict[str, np.ndarray]
    mixture: np.ndarray
    sample_rate: int | None = None
    perceptual: tuple[str, ...] = ()
    in_order: bool = True  # False: the estimates were permuted to match (Reading.permute)


# --- parallel scoring ----------------------------------------------------------------------


def score_all(items: Iterable[ScoreItem], jobs: int | None = None) -> list[dict[str, Any]]:
    """Score many utterances with ``jobs`` worker processes (default: all CPUs; 1: in-process).

    Rows come back in the order of ``items``, identical to a serial run (every worker runs
    BLAS on one thread). ``items`` may be a generator: workers start scoring while it still
    produces items.
    """
    jobs = jobs or workers.cpu_count()
    if jobs < 1:
        raise VaesepError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1:
        return [row for item in items for row in _score_item(item)]
    with workers.pool(jobs) as pool, workers.threads_limited(1):  # for a generator's work
        return [row for rows in pool.map(_score_item, items) for row in rows]


def _score_item(item: ScoreItem) -> list[dict[str, Any]]:
    return score_utterance(
        item.utt_id,
        item.references,
        item.estimates,
        item.mixture,
        item.sample_rate,
        item.perceptual,
    )


# --- evaluation on a data dir --------------------------------------------------------------


def evaluate(
    separator: SeparatorLike,
    datadir_path: str | Path,
    out_dir: str | Path,
    jobs: int | None = None,
    force: bool = False,
    keep_examples: int = 3,
    model_name: str | None = None,
    progress: bool = False,
    best_permutation: bool = False,
) -> dict[str, Any]:
    """Separate and score every utterance of a data dir; write the result files; return the summary.

    Writes ``metrics.csv``, ``summary.json`` and ``examples/<utt>_<source>.wav`` (the first
    ``keep_examples`` utterances) into ``out_dir``; refuses an ``out_dir`` that already holds
    results unless ``force``. An utterance whose separation fails is skipped and listed in the
    summary's ``failed``. ``model_name`` defaults to the separator's ``name`` attribute. PESQ
    and STOI are scored when their packages are installed. ``progress``: a bar over the
    utterances on stderr when it is a terminal. ``best_permutation``: the outputs matched to
    the sources by the best permutation even where the separator names them itself.
    """
    rate = int(separator.sample_rate)
    oracle = getattr(separator, "needs_references", False)

    def estimate(
        utt: str, mixture: np.ndarray, references: dict[str, np.ndarray]
    ) -> Mapping[str, np.ndarray]:
        if oracle:
            return separator.separate(mixture, rate, references=references)
        return separator.separate(mixture, rate)

    name = model_name or getattr(separator, "name", None) or type(separator).__name__
    data = load_datadir(datadir_path, require_references=True)
    sources = tuple(separator.sources)
    reading = Reading(
        multichannel=getattr(separator, "multichannel", False),
        reference_mic=getattr(separator, "reference_mic", 0),
        permute=best_permutation or getattr(separator, "permute", False),
    )
    out = Path(out_dir)
    device = device_of(separator)
    return _evaluate(
        estimate, sources, rate, data, out, name, jobs, force, keep_examples, reading, device,
        progress,
    )  # fmt: skip


def evaluate_separated(
    separated_dir: str | Path,
    datadir_path: str | Path,
    out_dir: str | Path,
    jobs: int | None = None,
    force: bool = False,
    keep_examples: int = 3,
    model_name: str | None = None,
    reading: Reading = Reading(),
    progress: bool = False,
) -> dict[str, Any]:
    """Score the separations ``vaesep separate <data>/wav.scp`` wrote; as :func:`evaluate` does.

    The estimates are ``<separated_dir>/<utt_id>_<source>.wav`` (or ``.flac``). An utterance
    with a missing or unreadable file is skipped and listed in the summary's ``failed``; a file
    of another length than the mixture is trimmed with the other signals to the shortest.
    Everything is scored at the first mixture's rate (files at other rates are resampled to
    it), so the numbers equal those of :func:`evaluate` with the same model when the model runs
    at the data's rate.
    ``model_name`` defaults to the experiment's name: the parent dir's name when the dir is
    called ``separated`` (``exp/vae/separated``: ``vae``), else the dir's own name.
    """
    separated = Path(os.path.abspath(separated_dir))
    if not separated.is_dir():
        raise VaesepError(f"{separated_dir}: not a directory; pass the --out-dir of 'separate'")
    data = load_datadir(datadir_path, require_references=True)
    rate = audio_info(data.mixtures[data.utt_ids[0]]).samplerate
    sources = tuple(data.sources)

    def estimate(
        utt: str, mixture: np.ndarray, references: dict[str, np.ndarray]
    ) -> Mapping[str, np.ndarray]:
        found = {s: separated / f"{utt}_{s}.flac" for s in sources}
        paths = {s: p if p.exists() else p.with_suffix(".wav") for s, p in found.items()}
        return {s: load_audio(paths[s], rate)[0] for s in sources}

    name = model_name or (separated.parent if separated.name == SEPARATED_DIR else separated).name
    out = Path(out_dir)
    return _evaluate(
        estimate, sources, rate, data, out, name, jobs, force, keep_examples, reading,
        progress=progress,
    )  # fmt: skip


def _evaluate(
    estimate: Estimator,
    sources: tuple[str, ...],
    rate: int,
    data: DataDir,
    out_dir: Path,
    model_name: str,
    jobs: int | None,
    force: bool,
    keep_examples: int,
    reading: Reading = Reading(),
    device: str = "none (files scored)",
    progress: bool = False,
) -> dict[str, Any]:
    """The driver of both: estimate utterance by utterance, score in parallel, write files."""
    start = time.perf_counter()
    unknown = [s for s in sources if s not in data.sources]
    if unknown:
        raise VaesepError(
            f"{data.root}: holds the sources {', '.join(data.names)}, the model separates "
            f"{', '.join(sources)}; score it on a data dir of those (named by its sources file)"
        )
    optional("mir_eval", "eval", "vaesep evaluate")  # before any file is written
    _prepare_out_dir(out_dir, sources, force)
    jobs = min(jobs or workers.cpu_count(), len(data.utt_ids))
    failed: dict[str, str] = {}
    permuted: list[str] = []
    perceptual = perceptual_metrics()
    examples = out_dir / EXAMPLES_DIR
    items = _estimated(
        estimate,
        sources,
        rate,
        data,
        (failed, permuted),
        examples,
        keep_examples,
        perceptual,
        reading,
    )
    seconds = [0.0]
    items = counted(items, len(data.utt_ids), "utt", quiet=not progress)
    rows = score_all(timed(items, rate, seconds), jobs)
    if not rows:
        first = next(iter(failed.items()))
        raise VaesepError(
            f"{data.root}: every utterance failed to separate ({first[0]}: {first[1]})"
        )
    summary = summarize(rows)
    summary.update(
        model=model_name,
        data=str(data.root.resolve()),
        sample_rate=rate,
        failed=failed,
        jobs=jobs,
        seconds=round(time.perf_counter() - start, 2),
        provenance=provenance(device, data, round(seconds[0], 2)),
    )
    if reading.permute:  # how often the separator's own naming of its outputs was right
        summary.update(permuted=permuted, in_order=1 - len(permuted) / summary["num_utterances"])
    write_text_atomic(out_dir / METRICS_CSV, metrics_csv(rows))
    write_text_atomic(out_dir / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    return summary


def _prepare_out_dir(out_dir: Path, sources: tuple[str, ...], force: bool) -> None:
    """Refuse to overwrite results unless ``force``; with it, drop the old example wavs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise VaesepError(f"{out_dir}: exists and is not a directory; choose another output dir")
    if (out_dir / METRICS_CSV).exists() and not force:
        raise VaesepError(
            f"{out_dir}: already holds {METRICS_CSV}; choose another dir or overwrite with --force"
        )
    for source in sources:
        for old in (out_dir / EXAMPLES_DIR).glob(f"*_{source}.wav"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _estimated(
    estimate: Estimator,
    sources: tuple[str, ...],
    rate: int,
    data: DataDir,
    noted: tuple[dict[str, str], list[str]],
    examples_dir: Path,
    keep_examples: int,
    perceptual: tuple[str, ...],
    reading: Reading,
) -> Iterator[ScoreItem]:
    """Estimate the utterances one by one; note failures (``{utt: why}``) and permuted
    utterances in ``noted``; keep a few examples."""
    failed, permuted = noted
    kept = 0
    for utt in data.utt_ids:
        try:
            item = _estimate_one(estimate, sources, rate, data, utt, perceptual, reading)
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not stop the others
            failed[utt] = (
                str(exc) if isinstance(exc, VaesepError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning("%s: separation failed, skipped (%s)", utt, failed[utt])
            continue
        if not item.in_order:
            permuted.append(utt)
        if kept < keep_examples:
            for source, signal in item.estimates.items():
                save_audio(examples_dir / f"{utt}_{source}.wav", signal, rate)
            kept += 1
        yield item


def _estimate_one(
    estimate: Estimator,
    sources: tuple[str, ...],
    rate: int,
    data: DataDir,
    utt: str,
    perceptual: tuple[str, ...],
    reading: Reading,
) -> ScoreItem:
    path = data.mixtures[utt]
    channels, _ = load_channels(path, rate)  # read once; a mono file is one channel
    several = len(channels) > 1
    if (several or reading.multichannel) and reading.reference_mic >= len(channels):
        raise VaesepError(
            f"{path}: {len(channels)} channel(s), no reference mic {reading.reference_mic}"
        )
    mixture = channels[reading.reference_mic if several else 0]
    given = channels if reading.multichannel else channels.mean(axis=0)  # a mono model's
    references = {s: load_audio(data.sources[s][utt], rate)[0] for s in sources}
    output = estimate(utt, given, references)
    estimates = {}
    for source in sources:
        if source not in output:
            raise ValueError(f"the separator returned no {source!r} estimate")
        signal = np.asarray(output[source], dtype=np.float32).reshape(-1)
        if not np.isfinite(signal).all():
            raise ValueError(f"the {source!r} estimate has NaN or infinite samples")
        estimates[source] = signal
    order = tuple(range(len(sources)))
    if reading.permute:
        order = best_permutation([references[s] for s in sources], [estimates[s] for s in sources])
        estimates = {s: estimates[sources[k]] for s, k in zip(sources, order)}
    in_order = order == tuple(range(len(sources)))
    return ScoreItem(utt, references, estimates, mixture, rate, perceptual, in_order)


# --- aggregation and files -----------------------------------------------------------------


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means (and medians) of the metrics over rows, ignoring NaN and infinite values."""
    sources = list(dict.fromkeys(r["source"] for r in rows))
    perceptual = [m for m in PERCEPTUAL if rows and m in rows[0]]
    summarized = (*SUMMARY_METRICS, *perceptual)
    return {
        **{m: _mean(rows, m) for m in summarized},
        "median": {m: _median(rows, m) for m in summarized},
        "per_source": {
            s: {m: _mean([r for r in rows if r["source"] == s], m) for m in summarized}
            for s in sources
        },
        "mixture": {m: _mean(rows, f"mix_{m}") for m in (*METRICS, *perceptual)},
        "num_utterances": len({r["utt_id"] for r in rows}),
        "num_rows": len(rows),
        "skipped_rows": sum(any(math.isnan(r[m]) for m in METRICS) for r in rows),
    }


def _finite(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    values = np.array([r[key] for r in rows], dtype=np.float64)
    return values[np.isfinite(values)]


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = _finite(rows, key)
    return round(float(values.mean()), 4) if values.size else None


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = _finite(rows, key)
    return round(float(np.median(values)), 4) if values.size else None
