"""Results of ``evaluate``: one eval dir, or the eval dirs below a dir pooled; claims on them.

An eval dir holds ``metrics.csv`` and ``summary.json``. A dir without ``metrics.csv`` but with
eval dirs somewhere below it (e.g. ``exp/wgan/p01/seed0/eval``) is one result named by the dir
("wgan"): each row gets its ``seed`` (the summary's ``"seed"``, else from a ``seed<N>`` path
component, else 0) and its ``group`` (the path below the dir without the seed component and
the final ``eval``, e.g. ``p01``); an utt id found in two groups is prefixed ``group/``.
A claim such as ``wgan>nmf:sdr`` is judged on the paired differences per mixture.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vaesep.errors import VaesepError
from vaesep.scoring.evaluation import EVAL_DIR, METRICS_CSV, SUMMARY_JSON
from vaesep.scoring.metrics import COLUMNS, METRICS, PERCEPTUAL, columns
from vaesep.scoring.stats import (
    RELATIONS,
    finite_or_none,
    mean_ci,
    mixture_means,
    paired_differences,
    verdict,
)

MIXTURE = "mixture"
SEED_DIR = re.compile(r"seed(\d+)")


class Result(NamedTuple):
    """One result: display name, metrics rows (with ``seed`` and ``group``), summary, path.

    A pooled result's summary has ``model``, ``data`` (its distinct data dirs, joined),
    ``num_utterances``, ``seeds`` and ``eval_dirs``.
    """

    name: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    path: Path
    pooled: bool = False


def collect_results(result_dirs: Sequence[str | Path], by_dir: bool = False) -> list[Result]:
    """Read each result (an eval dir, or a dir of eval dirs to pool), in the order given.

    An eval dir is named by its summary's ``model``, a pooled result by its dir; with
    ``by_dir`` (the settings of a sweep) each is named by the path component in which the
    dirs differ. Clashing names get the directory appended.
    """
    if not result_dirs:
        raise VaesepError("no result dirs given; pass the output dirs of 'vaesep evaluate'")
    paths = [Path(d) for d in result_dirs]
    results = [load_result(p) for p in paths]
    labels = _distinct_parts(paths) if by_dir else [None] * len(paths)
    names = [label or r.name for label, r in zip(labels, results)]
    counts = Counter(names)
    names = [f"{n} ({p})" if counts[n] > 1 else n for n, p in zip(names, paths)]
    return [r._replace(name=n) for r, n in zip(results, names)]


def load_result(path: Path) -> Result:
    """The result of an eval dir, or the pooled result of the eval dirs below ``path``."""
    if not (path / METRICS_CSV).is_file() and path.is_dir():
        eval_dirs = sorted(
            p.parent for p in path.rglob(METRICS_CSV) if (p.parent / SUMMARY_JSON).is_file()
        )
        if eval_dirs:
            return _pool(path, eval_dirs)
    rows, summary = _read_rows(path), _read_summary(path)
    seed = _summary_seed(summary, path)
    for row in rows:
        row.update(seed=0 if seed is None else seed, group="")
    return Result(summary.get("model") or path.name, rows, summary, path)


def _pool(path: Path, eval_dirs: list[Path]) -> Result:
    runs: dict[tuple[str, int], Path] = {}
    rows: list[dict[str, Any]] = []
    data: dict[str, None] = {}
    in_order: list[tuple[float, int]] = []  # each permuted run's share in order, utterances
    for eval_dir in eval_dirs:
        parts = eval_dir.relative_to(path).parts
        summary = _read_summary(eval_dir)
        if "in_order" in summary:
            in_order.append((summary["in_order"], summary.get("num_utterances", 1)))
        seed = _summary_seed(summary, eval_dir)
        if seed is None:
            seed = next((int(m[1]) for p in parts[::-1] if (m := SEED_DIR.fullmatch(p))), 0)
        kept = [p for p in parts if not SEED_DIR.fullmatch(p)]
        group = "/".join(kept[:-1] if kept and kept[-1] == EVAL_DIR else kept)
        if (group, seed) in runs:
            raise VaesepError(
                f"{eval_dir}: same group {group!r} and seed {seed} as {runs[group, seed]}; "
                'pool distinct runs (a seed<N> dir per seed, or "seed" in summary.json)'
            )
        runs[group, seed] = eval_dir
        data[str(summary.get("data", "?"))] = None
        rows += [{**r, "seed": seed, "group": group} for r in _read_rows(eval_dir)]
    groups_of: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows:
        groups_of[row["utt_id"]].add(row["group"])
    for row in rows:
        if len(groups_of[row["utt_id"]]) > 1 and row["group"]:
            row["utt_id"] = f"{row['group']}/{row['utt_id']}"
    summary = {
        "model": path.resolve().name,
        "data": _data_dirs(list(data)),
        "num_utterances": len({r["utt_id"] for r in rows}),
        "seeds": sorted({seed for _, seed in runs}),
        "eval_dirs": [str(d) for d in eval_dirs],
    }
    if in_order and len(in_order) == len(eval_dirs):
        summary["in_order"] = sum(f * n for f, n in in_order) / sum(n for _, n in in_order)
    return Result(summary["model"], rows, summary, path, pooled=True)


# --- per mixture and claims ---------------------------------------------------------------


def per_mixture(rows: list[dict[str, Any]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The utt ids (sorted) and each mixture's ``metric``: mean over its sources, then seeds."""
    return mixture_means(
        [r["utt_id"] for r in rows], [r["seed"] for r in rows], [r[metric] for r in rows]
    )


def mixture_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unprocessed mixture as if it were a model (``sdri`` 0, seed 0): one row per
    utterance and source (a pooled result has them once per seed)."""
    ids = ("utt_id", "source")
    mixed = [m for m in (*METRICS, *PERCEPTUAL) if rows and f"mix_{m}" in rows[0]]
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        first.setdefault((r["utt_id"], r["source"]), r)
    return [
        {**{k: r[k] for k in ids}, **{m: r[f"mix_{m}"] for m in mixed}, "sdri": 0.0, "seed": 0}
        for r in first.values()
    ]


class Claim(NamedTuple):
    """A claim "A relation B" on a metric; relation ``>``, ``<`` or ``=`` (no difference);
    ``source``: of that source's estimates only (empty: the mean over the sources)."""

    a: str
    relation: str
    b: str
    metric: str
    source: str = ""


def parse_claim(text: str, names: Sequence[str], metrics: Sequence[str]) -> Claim:
    """``A>B:metric``, ``A<B:metric`` or ``A=B:metric``, with ``@source`` for one source's
    estimates (e.g. ``A>B:sdr@speech``); A and B among ``names``."""
    pair, colon, metric = text.rpartition(":")
    metric, _, source = metric.partition("@")
    splits = [
        (pair[:i].strip(), c, pair[i + 1 :].strip()) for i, c in enumerate(pair) if c in RELATIONS
    ]
    if not colon or not splits:
        raise VaesepError(
            f"--claim {text!r}: expected A>B:METRIC, A<B:METRIC or A=B:METRIC (e.g. 'wgan>nmf:sdr')"
        )
    metric = metric.strip().lower().replace("-", "_")
    if metric not in metrics:
        raise VaesepError(
            f"--claim {text!r}: unknown metric {metric!r}; use one of {', '.join(metrics)}"
        )
    a, relation, b = next((s for s in splits if s[0] in names and s[2] in names), splits[0])
    unknown = next((n for n in (a, b) if n not in names), None)
    if unknown is not None:
        raise VaesepError(
            f"--claim {text!r}: unknown result {unknown!r}; use one of {', '.join(names)}"
        )
    return Claim(a, relation, b, metric, source.strip())


def evaluate_claims(claims: Sequence[Claim], results: list[Result]) -> list[dict[str, Any]]:
    """Per claim: the paired A - B over the mixtures both have (each averaged over sources,
    or of the claim's source only, and seeds), its mean, 95 % Student-t interval, number of
    mixtures and verdict."""
    rows_of = {MIXTURE: mixture_rows(results[0].rows), **{r.name: r.rows for r in results}}
    evaluated = []
    for claim in claims:
        a, b = (_of_source(rows_of[n], claim) for n in (claim.a, claim.b))
        diff = paired_differences(*per_mixture(a, claim.metric), *per_mixture(b, claim.metric))
        mean, half = mean_ci(diff)
        low, high = mean - half, mean + half
        evaluated.append(
            {
                **claim._asdict(),
                "n": int(diff.size),
                "mean_diff": finite_or_none(mean),
                "ci95_low": finite_or_none(low),
                "ci95_high": finite_or_none(high),
                "verdict": verdict(claim.relation, low, high),
            }
        )
    return evaluated


def _of_source(rows: list[dict[str, Any]], claim: Claim) -> list[dict[str, Any]]:
    """The rows of the claim's source (all without one); an error where it has none."""
    if not claim.source:
        return rows
    kept = [r for r in rows if r["source"] == claim.source]
    if not kept:
        known = ", ".join(sorted({r["source"] for r in rows}))
        raise VaesepError(
            f"--claim {claim.a}{claim.relation}{claim.b}:{claim.metric}@{claim.source}: no "
            f"estimates of source {claim.source!r}; use one of {known}"
        )
    return kept


# --- reading -------------------------------------------------------------------------------


def _summary_seed(summary: dict[str, Any], eval_dir: Path) -> int | None:
    seed = summary.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise VaesepError(
            f'{eval_dir / SUMMARY_JSON}: "seed" must be an integer, not {seed!r}; fix or drop it'
        )
    return seed


def _distinct_parts(paths: list[Path]) -> list[str | None]:
    """The first path component in which the dirs differ (e.g. a sweep's setting label)."""
    parts = [p.resolve().parts for p in paths]
    for i in range(min(len(x) for x in parts)):
        if len({x[i] for x in parts}) > 1:
            return [x[i] for x in parts]
    return [p.name for p in paths]


def _read_rows(result_dir: Path) -> list[dict[str, Any]]:
    path = result_dir / METRICS_CSV
    if not path.is_file():
        raise VaesepError(
            f"{result_dir}: no {METRICS_CSV}, nor eval dirs (with {METRICS_CSV} and "
            f"{SUMMARY_JSON}) below it; pass output dirs of 'vaesep evaluate' or dirs holding them"
        )
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise VaesepError(
                f"{path}: missing column(s) {', '.join(missing)}; rerun 'vaesep evaluate'"
            )
        known = columns(tuple(PERCEPTUAL))
        try:
            return [
                {
                    k: v if k in ("utt_id", "source") else float(v)
                    for k, v in row.items()
                    if k in known
                }
                for row in reader
            ]
        except ValueError as exc:
            raise VaesepError(f"{path}: not a number ({exc}); rerun 'vaesep evaluate'") from None


def _read_summary(result_dir: Path) -> dict[str, Any]:
    path = result_dir / SUMMARY_JSON
    if not path.is_file():
        raise VaesepError(
            f"{result_dir}: no {SUMMARY_JSON}; is it an output dir of 'vaesep evaluate'?"
        )
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VaesepError(f"{path}: not valid JSON ({exc}); rerun 'vaesep evaluate'") from None
    if not isinstance(summary, dict):
        raise VaesepError(f"{path}: expected a JSON object; rerun 'vaesep evaluate'")
    return summary


def _data_dirs(dirs: list[str]) -> str:
    """The data dirs of a pooled result: listed when a few, else counted under their parent."""
    if len(dirs) <= 3:
        return ", ".join(dirs)
    return f"{len(dirs)} data dirs under {os.path.commonpath(dirs)}"
