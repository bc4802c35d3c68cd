"""Separation metrics of one utterance and the names of the columns they fill.

BSS Eval SDR/SIR/SAR (mir_eval), SI-SDR, and wide-band PESQ (``pesq``) and STOI (``stoi``)
where their packages import (``pip install vaesep[perceptual]``). :func:`score_utterance`
scores the estimates and, as the baseline, the unprocessed mixture (``mix_*`` columns).
"""

from __future__ import annotations

import csv
import importlib
import io
import math
import warnings
from itertools import permutations
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from vaesep.errors import VaesepError, log, optional
from vaesep.io.audio import resample

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
# Above this, a value in dB measures numerical precision rather than quality: e.g. the SAR of
# a mixture that is the exact sum of its references (BSS Eval finds no artifacts in it).
EXACT_DB = 100.0


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


def best_permutation(references: list[np.ndarray], estimates: list[np.ndarray]) -> tuple[int, ...]:
    """The estimate for each reference: the permutation of best mean SI-SDR (signals trimmed
    to the shortest), for separators whose outputs come in no order (blind demixing)."""
    length = min(len(x) for x in (*references, *estimates))
    refs = [np.asarray(r, dtype=np.float64)[:length] for r in references]
    ests = [np.asarray(e, dtype=np.float64)[:length] for e in estimates]
    gain = np.array([[si_sdr(r, e) for e in ests] for r in refs])
    gain = np.nan_to_num(gain, nan=-np.inf)
    n = len(refs)
    return max(permutations(range(n)), key=lambda p: sum(gain[k, p[k]] for k in range(n)))


def bss_eval(
    references: np.ndarray, estimates: np.ndarray, label: str = "utterance"
) -> dict[str, np.ndarray]:
    """BSS Eval SDR/SIR/SAR per source (mir_eval, sources matched by index, no permutation).

    ``references`` and ``estimates`` are ``(n_src, T)``. Where the metrics are undefined (a
    silent reference or estimate) all values are NaN and a warning names ``label``.
    """
    mir_eval = optional("mir_eval", "eval", "BSS Eval scores")
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


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text with the rows' columns; floats with 4 decimals, NaN as ``nan``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]) if rows else COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()
