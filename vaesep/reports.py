"""Reports over ``evaluate`` result dirs: a results table (RESULTS.md, results.csv) and violins.

Each result dir holds ``metrics.csv`` and ``summary.json``. The table has one row per model,
after a first row "mixture" (the unprocessed mixture used as the estimate); the plot shows
SDR, SIR and SAR with one violin per model, like figure 22 of the study, or one violin per
setting for a sweep.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vaesep.errors import VaesepError, log
from vaesep.evaluation import METRICS_CSV, SUMMARY_JSON, write_text_atomic
from vaesep.metrics import COLUMNS, EXACT_DB, METRICS, PERCEPTUAL, columns

RESULTS_MD = "RESULTS.md"
RESULTS_CSV = "results.csv"
VIOLINS_PNG = "violins.png"
MIXTURE = "mixture"
TABLE_METRICS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR", "si_sdr": "SI-SDR", "sdri": "SDRi"}
# Shown when every result has them (scored with the ``perceptual`` extra installed).
PERCEPTUAL_METRICS = {"pesq": "PESQ", "stoi": "STOI"}
PLOT_METRICS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR"}


class Result(NamedTuple):
    """One result dir: its display name, its metrics rows and its summary."""

    name: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    path: Path


# --- reading -------------------------------------------------------------------------------


def collect_results(result_dirs: Sequence[str | Path], by_dir: bool = False) -> list[Result]:
    """Read ``metrics.csv`` and ``summary.json`` of each dir, in the order given.

    A result is named by its summary's ``model`` (or by its directory name with ``by_dir``,
    as for the settings of a sweep); clashing names get the directory appended.
    """
    if not result_dirs:
        raise VaesepError("no result dirs given; pass the output dirs of 'vaesep evaluate'")
    paths = [Path(d) for d in result_dirs]
    loaded = [(_read_rows(p), _read_summary(p)) for p in paths]
    labels = _distinct_parts(paths) if by_dir else [None] * len(paths)
    names = [label or s.get("model") or p.name for label, p, (_, s) in zip(labels, paths, loaded)]
    counts = Counter(names)
    names = [f"{n} ({p})" if counts[n] > 1 else n for n, p in zip(names, paths)]
    return [Result(n, rows, s, p) for n, p, (rows, s) in zip(names, paths, loaded)]


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
            f"{result_dir}: no {METRICS_CSV}; is it an output dir of 'vaesep evaluate'?"
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


# --- table ---------------------------------------------------------------------------------


def mixture_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the unprocessed mixture as if it were a model (its ``sdri`` is 0)."""
    ids = ("utt_id", "source")
    mixed = [m for m in (*METRICS, *PERCEPTUAL) if rows and f"mix_{m}" in rows[0]]
    return [
        {**{k: r[k] for k in ids}, **{m: r[f"mix_{m}"] for m in mixed}, "sdri": 0.0} for r in rows
    ]


def table_metrics(results: list[Result]) -> dict[str, str]:
    """The table's metrics and their headings: PESQ and STOI where every result has them."""
    shown = dict(TABLE_METRICS)
    for metric, heading in PERCEPTUAL_METRICS.items():
        if all(r.rows and metric in r.rows[0] for r in results):
            shown[metric] = heading
    return shown


def results_table(results: list[Result]) -> list[dict[str, Any]]:
    """Mean and median of SDR, SIR, SAR, SI-SDR, SDRi (PESQ, STOI) per model, after "mixture".

    The mixture row comes from the first result's ``mix_*`` columns. Values in dB (PESQ in
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
    return row


def _finite(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    values = np.array([r[key] for r in rows], dtype=np.float64)
    return values[np.isfinite(values)]


def markdown_table(table: list[dict[str, Any]]) -> str:
    """The table as Markdown; each metric cell is ``mean / median``."""
    headings = {**TABLE_METRICS, **PERCEPTUAL_METRICS}
    metrics = [m for m in headings if f"{m}_mean" in table[0]]
    head = ["model", "utts", *(headings[m] for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in table:
        cells = [row["model"], str(row["num_utterances"])]
        cells += [f"{_fmt(row[f'{m}_mean'])} / {_fmt(row[f'{m}_median'])}" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table_csv(table: list[dict[str, Any]]) -> str:
    """The table as CSV: ``model,num_utterances,<metric>_mean,<metric>_median,...``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(table[0]), lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


# --- plot ----------------------------------------------------------------------------------


def violin_plots(
    results: list[Result], path: str | Path, title: str | None = None, group: str | None = None
) -> None:
    """One PNG with SDR, SIR and SAR panels and a violin per model (and the mixture).

    With a ``group`` label (a sweep) there is one violin per setting, no mixture, and the
    x axis is labelled ``group``.
    """
    from matplotlib.figure import Figure

    entries = [(r.name, r.rows, False) for r in results]
    if group is None:
        entries.insert(0, (MIXTURE, mixture_rows(results[0].rows), True))
    width = max(3.2, 0.75 * len(entries) + 1.0)
    stacked = len(entries) > 5  # many violins: panels one above the other
    size = (width, 3 * 3.4) if stacked else (3 * width, 4.2)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(3, 1) if stacked else fig.subplots(1, 3)
    for ax, (metric, label) in zip(axes, PLOT_METRICS.items()):
        _panel(ax, entries, metric, label, group)
    if title:
        fig.suptitle(title)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=120)
    os.replace(tmp, path)


def _panel(
    ax: Any, entries: list[tuple[str, list[dict], bool]], metric: str, label: str, group: str | None
) -> None:
    for position, (_, rows, mixture) in enumerate(entries, start=1):
        values = _finite(rows, metric)
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
) -> str:
    """Write RESULTS.md, results.csv and violins.png into ``out_dir``; return the Markdown table.

    ``sweep`` (the swept setting's label, e.g. "STFT window/overlap") treats the dirs as the
    settings of one sweep: each is named by its directory and plotted without the mixture.
    """
    out_dir = Path(out_dir)
    if (out_dir / RESULTS_MD).exists() and not force:
        raise VaesepError(
            f"{out_dir}: already holds {RESULTS_MD}; choose another dir or overwrite with --force"
        )
    results = collect_results(result_dirs, by_dir=sweep is not None)
    table = results_table(results)
    markdown = markdown_table(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    violin_plots(results, out_dir / VIOLINS_PNG, title=title, group=sweep)
    write_text_atomic(out_dir / RESULTS_CSV, table_csv(table))
    write_text_atomic(out_dir / RESULTS_MD, _results_md(results, table, title))
    return markdown


def _results_md(results: list[Result], table: list[dict[str, Any]], title: str | None) -> str:
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
        "Metrics in dB, each cell mean / median over the rows (utterance × source): BSS Eval",
        "SDR, SIR, SAR (mir_eval `bss_eval_sources`, sources matched by name) and SI-SDR;",
        "SDRi = SDR − SDR of the unprocessed mixture (first row, the mixture as the estimate).",
        *_perceptual_note(table[0]),
        *_exact_note(table[0]),
        "",
        markdown_table(table),
        f"![SDR, SIR and SAR]({VIOLINS_PNG})",
        "",
        "Result dirs:",
        "",
        *(f"- {r.name}: `{r.path}`" for r in results),
        "",
    ]
    return "\n".join(lines)


def _perceptual_note(row: dict[str, Any]) -> list[str]:
    """How to read PESQ and STOI, when the table has them."""
    notes = {
        "pesq": "PESQ: wide-band ITU-T P.862.2 MOS-LQO (1.04-4.64)",
        "stoi": "STOI: intelligibility index (0-1)",
    }
    shown = [text for metric, text in notes.items() if f"{metric}_mean" in row]
    return [f"{'; '.join(shown)}; both against the clean reference."] if shown else []


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
