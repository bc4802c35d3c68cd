"""Reports over ``evaluate`` results: a table (RESULTS.md, results.csv), violins, claims.

A result is an eval dir (``metrics.csv``, ``summary.json``) or a dir of eval dirs pooled over
seeds and groups (:mod:`vaesep.scoring.pooling`). The table has one row per model, after a first row
"mixture" (the unprocessed mixture used as the estimate), with 95 % Student-t intervals over
mixtures (:mod:`vaesep.scoring.stats`); the plot shows SDR, SIR and SAR with one violin per model,
like figure 22 of the study, or one violin per setting for a sweep. Claims such as
``wgan>nmf:sdr`` get a verdict from the paired per-mixture differences.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vaesep.errors import VaesepError, log, optional
from vaesep.io.atomic import atomic_path, write_text_atomic
from vaesep.scoring.metrics import EXACT_DB
from vaesep.scoring.pooling import (
    MIXTURE,
    Result,
    collect_results,
    evaluate_claims,
    mixture_rows,
    parse_claim,
    per_mixture,
)
from vaesep.scoring.stats import EQUIVALENCE_MARGIN, finite_or_none, mean_ci, seed_spread

RESULTS_MD = "RESULTS.md"
RESULTS_CSV = "results.csv"
CLAIMS_CSV = "claims.csv"
VIOLINS_PNG = "violins.png"
TABLE_METRICS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR", "si_sdr": "SI-SDR", "sdri": "SDRi"}
# Shown when every result has them (scored with the ``perceptual`` extra installed).
PERCEPTUAL_METRICS = {"pesq": "PESQ", "stoi": "STOI"}
PLOT_METRICS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR"}
UNITS = {"pesq": "", "stoi": ""}  # the rest in dB
SYMBOLS = {">": ">", "<": "<", "=": "≈"}
CI_NOTE = [
    "± is the half-width of the 95 % Student-t confidence interval over mixtures, each mixture",
    "averaged over its sources and seeds (seeds: the training runs pooled into each result);",
    "the interval over seeds (of the seeds' mean SDRs) is `sdr_seed_ci95` in results.csv.",
]


# --- table ---------------------------------------------------------------------------------


def table_metrics(results: list[Result]) -> dict[str, str]:
    """The table's metrics and their headings: PESQ and STOI where every result has them."""
    shown = dict(TABLE_METRICS)
    for metric, heading in PERCEPTUAL_METRICS.items():
        if all(r.rows and metric in r.rows[0] for r in results):
            shown[metric] = heading
    return shown


def results_table(results: list[Result]) -> list[dict[str, Any]]:
    """Per model, after "mixture": mean, median and 95 % CI half-width of each table metric.

    Mean and median are over the rows (utterance × source, all seeds); the interval is the
    Student-t one over mixtures, each averaged over its sources and seeds. Also the number
    of seeds, the SD of the seeds' SDR means and their 95 % interval's half-width. The
    mixture row comes from the first result's ``mix_*`` columns. Values in dB (PESQ in
    MOS-LQO, STOI in 0-1); NaN and infinite values are left out, as in ``summary.json``.
    """
    metrics = table_metrics(results)
    entries = [(MIXTURE, mixture_rows(results[0].rows))] + [(r.name, r.rows) for r in results]
    return [_table_row(name, rows, metrics) for name, rows in entries]


def _table_row(name: str, rows: list[dict[str, Any]], metrics: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": name, "num_utterances": len({r["utt_id"] for r in rows})}
    for metric in metrics:
        values = _finite(rows, metric)
        row[f"{metric}_mean"] = float(values.mean()) if values.size else None
        row[f"{metric}_median"] = float(np.median(values)) if values.size else None
    for metric in metrics:
        row[f"{metric}_ci95"] = finite_or_none(mean_ci(per_mixture(rows, metric)[1])[1])
    utts, seeds, sdr = ([r[k] for r in rows] for k in ("utt_id", "seed", "sdr"))
    num_seeds, spread, half = seed_spread(utts, seeds, sdr)
    row.update(num_seeds=num_seeds, sdr_seed_sd=finite_or_none(spread))
    row.update(sdr_seed_ci95=finite_or_none(half))
    return row


def _finite(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    values = np.array([r[key] for r in rows], dtype=np.float64)
    return values[np.isfinite(values)]


def markdown_table(table: list[dict[str, Any]]) -> str:
    """The table as Markdown; each metric cell is ``mean ± CI / median`` (``mean / median``
    without an interval)."""
    headings = {**TABLE_METRICS, **PERCEPTUAL_METRICS}
    metrics = [m for m in headings if f"{m}_mean" in table[0]]
    head = ["model", "utts", "seeds", *(headings[m] for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in table:
        cells = [row["model"], str(row["num_utterances"]), str(row["num_seeds"])]
        cells += [_cell(row, m) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, Any], metric: str) -> str:
    ci = row[f"{metric}_ci95"]
    spread = "" if ci is None else f" ± {ci:.2f}"
    return f"{_fmt(row[f'{metric}_mean'])}{spread} / {_fmt(row[f'{metric}_median'])}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table_csv(rows: list[dict[str, Any]]) -> str:
    """The results table (``model,num_utterances,<metric>_mean,<metric>_median,...,
    <metric>_ci95,...,num_seeds,sdr_seed_sd,sdr_seed_ci95``) or the claims as CSV; 4 decimals,
    empty for none."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


# --- claims --------------------------------------------------------------------------------


def claim_line(claim: dict[str, Any]) -> str:
    """E.g. ``wgan > nmf (SDR): +1.23 dB [0.45, 2.01], n = 25 mixtures: supported`` (``(SDR,
    speech)`` for a claim on one source)."""
    heading = {**TABLE_METRICS, **PERCEPTUAL_METRICS}[claim["metric"]]
    of = f", {claim['source']}" if claim.get("source") else ""
    unit = UNITS.get(claim["metric"], " dB")
    mean = "n/a" if claim["mean_diff"] is None else f"{claim['mean_diff']:+.2f}{unit}"
    low, high = claim["ci95_low"], claim["ci95_high"]
    interval = "[n/a]" if low is None else f"[{low:.2f}, {high:.2f}]"
    return (
        f"{claim['a']} {SYMBOLS[claim['relation']]} {claim['b']} ({heading}{of}): {mean} "
        f"{interval}, n = {claim['n']} mixtures: {claim['verdict']}"
    )


# --- plot ----------------------------------------------------------------------------------


def violin_plots(
    results: list[Result], path: str | Path, title: str | None = None, group: str | None = None
) -> None:
    """One PNG with SDR, SIR and SAR panels and a violin per model (and the mixture).

    A pooled result shows its mixtures (each averaged over sources and seeds), as does the
    mixture when any result is pooled; the others their rows. With a ``group`` label (a
    sweep) there is one violin per setting, no mixture, and the x axis is labelled ``group``.
    """
    Figure = optional("matplotlib.figure", "eval", "the plot of vaesep report").Figure
    per_mix = any(r.pooled for r in results)
    entries = [(r.name, _plot_values(r.rows, r.pooled), False) for r in results]
    if group is None:
        entries.insert(0, (MIXTURE, _plot_values(mixture_rows(results[0].rows), per_mix), True))
    width = max(3.2, 0.75 * len(entries) + 1.0)
    stacked = len(entries) > 5  # many violins: panels one above the other
    size = (width, 3 * 3.4) if stacked else (3 * width, 4.2)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(3, 1) if stacked else fig.subplots(1, 3)
    for ax, (metric, label) in zip(axes, PLOT_METRICS.items()):
        _panel(ax, entries, metric, label, group)
    if title:
        fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def _plot_values(rows: list[dict[str, Any]], mixtures: bool) -> dict[str, np.ndarray]:
    """Per plotted metric, the finite values of the rows or (``mixtures``) of the mixtures."""
    if not mixtures:
        return {m: _finite(rows, m) for m in PLOT_METRICS}
    values = {m: per_mixture(rows, m)[1] for m in PLOT_METRICS}
    return {m: v[np.isfinite(v)] for m, v in values.items()}


def _panel(
    ax: Any,
    entries: list[tuple[str, dict[str, np.ndarray], bool]],
    metric: str,
    label: str,
    group: str | None,
) -> None:
    for position, (_, by_metric, mixture) in enumerate(entries, start=1):
        values = by_metric[metric]
        if mixture and values.size and np.median(values) > EXACT_DB:
            text = f"exact\n({np.median(values):.0f} dB)"
            transform = ax.get_xaxis_transform()
            ax.text(position, 0.5, text, transform=transform, ha="center", color="0.4")
        else:
            _violin(ax, position, values, mixture)
    crowded = len(entries) > 3
    names = [name for name, _, _ in entries]
    ax.set_xticks(
        range(1, len(names) + 1),
        names,
        rotation=30 if crowded else 0,
        ha="right" if crowded else "center",
    )
    ax.set_xlim(0.4, len(names) + 0.6)
    ax.set_title(label)
    ax.set_ylabel(f"{label} (dB)")
    ax.grid(axis="y", alpha=0.3)
    if group is not None:
        ax.set_xlabel(group)


def _violin(ax: Any, position: int, values: np.ndarray, mixture: bool) -> None:
    """A violin with its median; a few points instead when a density cannot be drawn."""
    color = "0.6" if mixture else "C0"
    if np.unique(values).size < 2:
        ax.plot([position] * values.size, values, "o", color=color)
        return
    parts = ax.violinplot(values, positions=[position], showmedians=True, widths=0.8)
    for body in parts["bodies"]:
        body.set_facecolor(color)
        body.set_alpha(0.6)
    for lines in ("cmedians", "cmins", "cmaxes", "cbars"):
        parts[lines].set_color("0.25")


# --- report --------------------------------------------------------------------------------


def report(
    result_dirs: Sequence[str | Path],
    out_dir: str | Path,
    force: bool = False,
    title: str | None = None,
    sweep: str | None = None,
    claims: Sequence[str] = (),
) -> str:
    """Write RESULTS.md, results.csv, violins.png (and claims.csv) into ``out_dir``; return the
    Markdown table, then a line per claim.

    ``sweep`` (the swept setting's label, e.g. "STFT window/overlap") treats the dirs as the
    settings of one sweep: each is named by its directory and plotted without the mixture.
    ``claims`` (e.g. "wgan>nmf:sdr") are judged on the paired differences per mixture.
    """
    out_dir = Path(out_dir)
    if (out_dir / RESULTS_MD).exists() and not force:
        raise VaesepError(
            f"{out_dir}: already holds {RESULTS_MD}; choose another dir or overwrite with --force"
        )
    results = collect_results(result_dirs, by_dir=sweep is not None)
    names, metrics = [MIXTURE, *(r.name for r in results)], list(table_metrics(results))
    judged = evaluate_claims([parse_claim(c, names, metrics) for c in claims], results)
    table = results_table(results)
    lines = [claim_line(c) for c in judged]
    out_dir.mkdir(parents=True, exist_ok=True)
    violin_plots(results, out_dir / VIOLINS_PNG, title=title, group=sweep)
    write_text_atomic(out_dir / RESULTS_CSV, table_csv(table))
    if judged:
        write_text_atomic(out_dir / CLAIMS_CSV, table_csv(judged))
    else:  # not an earlier report's claims beside this one
        (out_dir / CLAIMS_CSV).unlink(missing_ok=True)
    write_text_atomic(out_dir / RESULTS_MD, _results_md(results, table, title, lines))
    return markdown_table(table) + "".join(f"{line}\n" for line in lines)


def _results_md(
    results: list[Result], table: list[dict[str, Any]], title: str | None, claims: list[str]
) -> str:
    data = list(dict.fromkeys(str(r.summary.get("data", "?")) for r in results))
    if len(data) > 1:
        log.warning(
            "the results come from different data dirs (%s); compare with care", ", ".join(data)
        )
    utts = results[0].summary.get("num_utterances", len({r["utt_id"] for r in results[0].rows}))
    lines = [
        f"# {title or 'Separation results'}",
        "",
        f"Data: {', '.join(f'`{d}`' for d in data)}; {utts} utterances.",
        "Metrics in dB, each cell mean ± CI / median over the rows (utterance × source): BSS",
        f"Eval SDR, SIR, SAR (mir_eval `bss_eval_sources`, {_matching(results)}) and SI-SDR;",
        "SDRi = SDR − SDR of the unprocessed mixture (first row, the mixture as the estimate).",
        *CI_NOTE,
        *_permutation_note(results),
        *_perceptual_note(table[0]),
        *_exact_note(table[0]),
        "",
        markdown_table(table),
        f"![SDR, SIR and SAR]({VIOLINS_PNG})",
        "",
        *_claims_section(claims),
        "Result dirs:",
        "",
        *(_result_dir_line(r) for r in results),
        "",
        *_provenance_section(results),
    ]
    return "\n".join(lines)


def _provenance_section(results: list[Result]) -> list[str]:
    """When, with what and on what each result was scored (its summary's ``provenance``)."""
    known = [(r.name, r.summary["provenance"]) for r in results if "provenance" in r.summary]
    if not known:
        return []
    lines = ["Provenance (date UTC, software, device, command, test data):", ""]
    for name, p in known:
        data = p["data"]
        lines.append(
            f"- {name} scored {p['date']}, vaesep {p['vaesep']} (git {p['git_commit'] or '?'}), "
            f"torch {p['torch']}, Python {p['python']}, {p['device']}; `{p['command']}`; "
            f"{data['mixtures']} mixtures, {data['speakers']} speakers, {data['seconds']} s"
        )
    return [*lines, ""]


def _claims_section(claims: list[str]) -> list[str]:
    if not claims:
        return []
    margin = EQUIVALENCE_MARGIN
    return [
        "## Claims",
        "",
        "A − B per mixture (the mixtures both have, each averaged over sources and seeds; over",
        "one source's estimates where the claim names it, e.g. (SDR, speech)): its mean and",
        "95 % Student-t interval. A > B is supported when the interval lies above 0,",
        "contradicted when below; A ≈ B (given as A=B) is supported when it lies within",
        f"±{margin} dB (equivalence margin {margin} dB), contradicted when it excludes 0;",
        "otherwise not resolved.",
        "",
        *(f"- {line}" for line in claims),
        "",
    ]


def _result_dir_line(result: Result) -> str:
    line = f"- {result.name}: `{result.path}`"
    if not result.pooled:
        return line
    seeds = ", ".join(map(str, result.summary["seeds"]))
    return f"{line} ({len(result.summary['eval_dirs'])} eval dirs, seeds {seeds})"


def _matching(results: list[Result]) -> str:
    """How estimates were matched to the sources."""
    if any("in_order" in r.summary for r in results):
        return "sources matched by name; demixers' by permutation, below"
    return "sources matched by name"


def _permutation_note(results: list[Result]) -> list[str]:
    """Which models were scored by the best permutation, and how often theirs was right."""
    permuted = [r for r in results if "in_order" in r.summary]
    if not permuted:
        return []
    shares = ", ".join(f"{r.name} {100 * r.summary['in_order']:.0f} %" for r in permuted)
    return [
        "Demixers' outputs are matched to the sources by the permutation of best SI-SDR, not",
        f"by name; their outputs already in order (a blind one's by chance): {shares}.",
    ]


def _perceptual_note(row: dict[str, Any]) -> list[str]:
    """How to read PESQ and STOI, when the table has them."""
    notes = {
        "pesq": "PESQ: wide-band ITU-T P.862.2 MOS-LQO (1.04-4.64)",
        "stoi": "STOI: intelligibility index (0-1)",
    }
    shown = [text for metric, text in notes.items() if f"{metric}_mean" in row]
    return [f"{'; '.join(shown)}; both against the reference."] if shown else []


def _exact_note(mixture: dict[str, Any]) -> list[str]:
    """A note on mixture metrics that only measure numerical precision, if there are any."""
    exact = [m for m in PLOT_METRICS if (mixture[f"{m}_median"] or 0.0) > EXACT_DB]
    if not exact:
        return []
    names = "/".join(PLOT_METRICS[m] for m in exact)
    return [
        f"The mixture's {names} (> {EXACT_DB:.0f} dB) only measures numerical precision: it is",
        "the exact sum of the references, so BSS Eval finds no artifacts in it; not plotted.",
    ]
