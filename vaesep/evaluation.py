"""Separation metrics (BSS Eval SDR/SIR/SAR, SI-SDR), their aggregation and result files.

``evaluate`` separates every mixture of a data dir serially, scores the estimates in worker
processes, and writes ``metrics.csv`` (a row per utterance and source), ``summary.json`` and a
few example wavs. The unprocessed mixture is scored next to the estimates (``mix_*`` columns),
so improvements (``sdri``, ``si_sdri``) are explicit. Wide-band PESQ (``pesq``) and STOI
(``stoi``) are added where their packages import (``pip install vaesep[perceptual]``).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from vaesep import workers
from vaesep.audio import load_audio, resample, save_audio
from vaesep.datadir import DataDir, load_datadir
from vaesep.errors import VaesepError, log

METRICS = ("sdr", "sir", "sar", "si_sdr")
SUMMARY_METRICS = (*METRICS, "sdri", "si_sdri")
COLUMNS = (
    "utt_id",
    "source",
    *SUMMARY_METRICS,
    *(f"mix_{m}" for m in METRICS),
)
# Optional perceptual metrics (scored when their package imports) and their packages.
PERCEPTUAL = {"pesq": "pesq", "stoi": "pystoi"}
PESQ_RATE = 16000  # wide-band PESQ (ITU-T P.862.2)
METRICS_CSV = "metrics.csv"
SUMMARY_JSON = "summary.json"
EXAMPLES_DIR = "examples"
# Above this, a value in dB measures numerical precision rather than quality: e.g. the SAR of
# a mixture that is the exact sum of its references (BSS Eval finds no artifacts in it).
EXACT_DB = 100.0


class SeparatorLike(Protocol):
    """What ``evaluate`` needs of a separator (``vaesep.separation.Separator`` is one).

    A separator with a true ``needs_references`` attribute (an oracle) is also given the
    utterance's true sources: ``separate(signal, sample_rate, references={source: signal})``.
    """

    sample_rate: int
    sources: tuple[str, ...]

    def separate(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ScoreItem:
    """One utterance to score: per-source references and estimates plus the mixture."""

    utt_id: str
    references: dict[str, np.ndarray]
    estimates: dict[str, np.ndarray]
    mixture: np.ndarray
    sample_rate: int | None = None
    perceptual: tuple[str, ...] = ()


# --- metrics -------------------------------------------------------------------------------


def columns(perceptual: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The columns of a metrics row: ``COLUMNS``, then the perceptual ones and their ``mix_``."""
    return (*COLUMNS, *perceptual, *(f"mix_{m}" for m in perceptual))


def perceptual_metrics() -> tuple[str, ...]:
    """The perceptual metrics whose packages import here: ``pesq``, ``stoi``, both or none."""
    found = []
    for metric, package in PERCEPTUAL.items():
        try:
            importlib.import_module(package)
        except ImportError:
            continue
        found.append(metric)
    return tuple(found)


def pesq_score(reference: np.ndarray, estimate: np.ndarray, rate: int, label: str) -> float:
    """Wide-band PESQ at 16 kHz (both signals resampled); NaN, with a warning, where undefined."""
    from pesq import pesq

    ref, est = (
        resample(np.asarray(x, dtype=np.float32), rate, PESQ_RATE) for x in (reference, estimate)
    )
    try:
        return float(pesq(PESQ_RATE, ref, est, "wb"))
    except Exception as exc:  # noqa: BLE001 - e.g. "No utterances detected" in a quiet signal
        reason = exc.args[0] if exc.args else type(exc).__name__
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        log.warning("%s: PESQ undefined (%s); its value is NaN", label, reason)
        return math.nan


def stoi_score(reference: np.ndarray, estimate: np.ndarray, rate: int, label: str) -> float:
    """STOI (Taal et al., 2011); NaN, with a warning, when too little is left after silences."""
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(
            stoi(np.asarray(reference, np.float64), np.asarray(estimate, np.float64), rate)
        )
    if caught or not math.isfinite(value):
        reason = str(caught[0].message).split(".")[0] if caught else "not finite"
        log.warning("%s: STOI undefined (%s); its value is NaN", label, reason)
        return math.nan
    return value


PERCEPTUAL_SCORES = {"pesq": pesq_score, "stoi": stoi_score}


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019), computed in float64.

    The signals are used as given: no mean is removed (speech is close to zero-mean; remove
    the means first if you want the paper's zero-mean variant). NaN when the reference or the
    estimate is silent; a perfect estimate gives a very large finite value.
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    ref_energy = np.dot(ref, ref)
    if ref_energy == 0.0 or not np.any(est):
        return math.nan
    target = (np.dot(est, ref) / ref_energy) * ref
    noise = est - target
    eps = np.finfo(np.float64).eps
    return float(10.0 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def bss_eval(
    references: np.ndarray, estimates: np.ndarray, label: str = "utterance"
) -> dict[str, np.ndarray]:
    """BSS Eval SDR/SIR/SAR per source (mir_eval, sources matched by index, no permutation).

    ``references`` and ``estimates`` are ``(n_src, T)``. Where the metrics are undefined (a
    silent reference or estimate) all values are NaN and a warning names ``label``.
    """
    import mir_eval

    n_src = references.shape[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # deprecated in 0.8, pinned < 0.9
            sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
                np.asarray(references, dtype=np.float64),
                np.asarray(estimates, dtype=np.float64),
                compute_permutation=False,
            )
    except (ValueError, np.linalg.LinAlgError) as exc:
        reason = str(exc).split(",")[0].split(".")[0]
        log.warning("%s: BSS Eval undefined (%s); its metrics are NaN", label, reason)
        nan = np.full(n_src, np.nan)
        return {"sdr": nan, "sir": nan.copy(), "sar": nan.copy()}
    return {"sdr": sdr, "sir": sir, "sar": sar}


def score_utterance(
    utt_id: str,
    references: dict[str, np.ndarray],
    estimates: dict[str, np.ndarray],
    mixture: np.ndarray,
    sample_rate: int | None = None,
    perceptual: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Score one utterance: a row per source (in ``references`` order) with ``columns()``.

    ``mix_*`` use the unprocessed mixture as the estimate of every source; ``sdri`` and
    ``si_sdri`` are the differences to them. All signals are trimmed to the shortest. BLAS
    runs on one thread here, so that the numbers do not depend on how many threads or worker
    processes score (its sums would be ordered differently). The ``perceptual`` metrics
    (see :func:`perceptual_metrics`) need the ``sample_rate``.
    """
    if perceptual and not sample_rate:
        raise ValueError("perceptual metrics need the sample rate")
    names = list(references)
    missing = [name for name in names if name not in estimates]
    if missing:
        raise VaesepError(f"{utt_id}: no estimate for source(s) {', '.join(missing)}")
    signals = [mixture, *(references[n] for n in names), *(estimates[n] for n in names)]
    length = min(len(x) for x in signals)
    refs = np.stack([np.asarray(references[n], dtype=np.float64)[:length] for n in names])
    ests = np.stack([np.asarray(estimates[n], dtype=np.float64)[:length] for n in names])
    mixes = np.tile(np.asarray(mixture, dtype=np.float64)[:length], (len(names), 1))
    with threadpool_limits(1, user_api="blas"):
        ours = _metrics(refs, ests, utt_id, names, sample_rate, perceptual)
        base = _metrics(refs, mixes, f"{utt_id} (mixture)", names, sample_rate, perceptual)
    rows = []
    for i, name in enumerate(names):
        row = {"utt_id": utt_id, "source": name, **{m: v[i] for m, v in ours.items()}}
        row.update({f"mix_{m}": v[i] for m, v in base.items()})
        row["sdri"] = row["sdr"] - row["mix_sdr"]
        row["si_sdri"] = row["si_sdr"] - row["mix_si_sdr"]
        rows.append({col: row[col] for col in columns(perceptual)})
    return rows


def _metrics(
    references: np.ndarray,
    estimates: np.ndarray,
    label: str,
    names: list[str],
    rate: int | None,
    perceptual: tuple[str, ...],
) -> dict[str, list[float]]:
    """BSS Eval, SI-SDR and the ``perceptual`` metrics of each source: ``{metric: [values]}``."""
    bss = bss_eval(references, estimates, label=label)
    metrics = {m: [float(v) for v in bss[m]] for m in ("sdr", "sir", "sar")}
    metrics["si_sdr"] = [si_sdr(r, e) for r, e in zip(references, estimates)]
    for metric in perceptual:
        score = PERCEPTUAL_SCORES[metric]
        metrics[metric] = [
            score(r, e, rate, f"{label} {name}") for r, e, name in zip(references, estimates, names)
        ]
    return metrics


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


# --- evaluation of a separator on a data dir -----------------------------------------------


def evaluate(
    separator: SeparatorLike,
    datadir_path: str | Path,
    out_dir: str | Path,
    jobs: int | None = None,
    force: bool = False,
    keep_examples: int = 3,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Separate and score every utterance of a data dir; write the result files; return the summary.

    Writes ``metrics.csv``, ``summary.json`` and ``examples/<utt>_<source>.wav`` (the first
    ``keep_examples`` utterances) into ``out_dir``; refuses an ``out_dir`` that already holds
    results unless ``force``. An utterance whose separation fails is skipped and listed in the
    summary's ``failed``. ``model_name`` defaults to the separator's ``name`` attribute. PESQ
    and STOI are scored when their packages are installed.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    data = load_datadir(datadir_path, require_references=True)
    unknown = [s for s in separator.sources if s not in data.sources]
    if unknown:
        raise VaesepError(f"{data.root}: no references for source(s) {', '.join(unknown)}")
    _prepare_out_dir(out_dir, tuple(separator.sources), force)
    jobs = min(jobs or workers.cpu_count(), len(data.utt_ids))
    failed: dict[str, str] = {}
    perceptual = perceptual_metrics()
    items = _separated(separator, data, failed, out_dir / EXAMPLES_DIR, keep_examples, perceptual)
    rows = score_all(items, jobs)
    if not rows:
        first = next(iter(failed.items()))
        raise VaesepError(
            f"{data.root}: every utterance failed to separate ({first[0]}: {first[1]})"
        )
    summary = summarize(rows)
    summary.update(
        model=model_name or getattr(separator, "name", None) or type(separator).__name__,
        data=str(data.root.resolve()),
        sample_rate=int(separator.sample_rate),
        failed=failed,
        jobs=jobs,
        seconds=round(time.perf_counter() - start, 2),
    )
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


def _separated(
    separator: SeparatorLike,
    data: DataDir,
    failed: dict[str, str],
    examples_dir: Path,
    keep_examples: int,
    perceptual: tuple[str, ...],
) -> Iterator[ScoreItem]:
    """Separate the utterances one by one; record failures in ``failed``; keep a few examples."""
    rate = int(separator.sample_rate)
    kept = 0
    for utt in data.utt_ids:
        try:
            item = _separate_one(separator, data, utt, rate, perceptual)
        except Exception as exc:  # noqa: BLE001 - one bad utterance must not stop the others
            failed[utt] = (
                str(exc) if isinstance(exc, VaesepError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning("%s: separation failed, skipped (%s)", utt, failed[utt])
            continue
        if kept < keep_examples:
            for source, estimate in item.estimates.items():
                save_audio(examples_dir / f"{utt}_{source}.wav", estimate, rate)
            kept += 1
        yield item


def _separate_one(
    separator: SeparatorLike, data: DataDir, utt: str, rate: int, perceptual: tuple[str, ...]
) -> ScoreItem:
    mixture, _ = load_audio(data.mixtures[utt], rate)
    references = {s: load_audio(data.sources[s][utt], rate)[0] for s in separator.sources}
    if getattr(separator, "needs_references", False):
        output = separator.separate(mixture, rate, references=references)
    else:
        output = separator.separate(mixture, rate)
    estimates = {}
    for source in separator.sources:
        if source not in output:
            raise ValueError(f"the separator returned no {source!r} estimate")
        estimate = np.asarray(output[source], dtype=np.float32).reshape(-1)
        if not np.isfinite(estimate).all():
            raise ValueError(f"the {source!r} estimate has NaN or infinite samples")
        estimates[source] = estimate
    return ScoreItem(utt, references, estimates, mixture, rate, perceptual)


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


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text with the rows' columns; floats with 4 decimals, NaN as ``nan``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]) if rows else COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
