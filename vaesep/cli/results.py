"""CLI commands for results: ``evaluate`` (metrics of a model or its separations), ``report``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from vaesep.cli._common import BACKEND, JOBS_HELP, PRECISION, fail, user_errors

IMPROVED = ("sdr", "si_sdr")  # the metrics whose improvement over the mixture evaluate prints


@user_errors
def evaluate_command(
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Experiment dir written by 'vaesep train', or a bundled model's name: separate "
        "and score.",
    ),
    separated: Path | None = typer.Option(
        None,
        "--separated",
        help="Output dir of 'vaesep separate TEST/wav.scp': score these separations instead.",
    ),
    data: Path = typer.Option(
        ..., "--data", help="Test data dir with wav.scp, spk1.scp and spk2.scp (references)."
    ),
    out_dir: Path = typer.Option(
        ..., "--out-dir", "-o", help="Where metrics.csv, summary.json and examples/ are written."
    ),
    jobs: int = typer.Option(0, "--jobs", min=0, help=JOBS_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite results already in --out-dir."),
    examples: int = typer.Option(
        3, "--examples", min=0, help="Keep the separated wavs of this many utterances."
    ),
    label: str | None = typer.Option(
        None,
        "--label",
        help="The model's name in the results (default: the model's, or the experiment dir's "
        "name).",
    ),
    deprecated_name: str | None = typer.Option(
        None, "--name", hidden=True, help="Deprecated spelling of --label."
    ),
    overrides: list[str] = typer.Option(
        [],
        "--set",
        help="With --model: another separation setting than trained, e.g. "
        "--set model.type=fast_mvae on an mvae experiment, --set model.iterations=80, "
        "--set features.input_level_db=-23, --set features.shifts=4.",
    ),
    device: str = typer.Option(
        "auto",
        "--device",
        help="With --model: auto (CUDA when present, else the CPU), cpu, cuda, cuda:N or mps.",
    ),
    best_permutation: bool = typer.Option(
        False,
        "--best-permutation",
        help="Match the outputs to the sources by the best SI-SDR permutation (demixers such "
        "as auxiva/ilrma and permutation-invariant models do it without; with --model it "
        "scores any model so, e.g. to compare one with those).",
    ),
    precision: str = PRECISION,
    backend: str | None = BACKEND,
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar (it shows only on a terminal anyway)."
    ),
) -> None:
    """Score the separations of a test data dir with BSS Eval and SI-SDR.

    With --model, every mixture is separated first; with --separated, the files that
    'vaesep separate' wrote (<utt_id>_female.wav, <utt_id>_male.wav: one per source) are
    scored. A multichannel data dir (vaesep prepare rooms) is scored against the source
    images at the reference mic, with that mic's channel as the mixture baseline.
    """
    from vaesep.errors import log
    from vaesep.scoring.evaluation import Reading, evaluate, evaluate_separated

    if deprecated_name is not None:
        log.warning("evaluate --name is deprecated (and will go): use --label")
        label = label or deprecated_name
    jobs = jobs or None  # 0: one per core
    if (model is None) == (separated is None):
        raise fail("give exactly one of --model (separate and score) or --separated DIR")
    if separated is not None and (overrides or precision != "fp32" or backend):
        what = "--set" if overrides else "--precision" if precision != "fp32" else "--backend"
        raise fail(f"{what}: only with --model (the separations are already written)")
    if separated is not None:
        summary = evaluate_separated(
            separated,
            data,
            out_dir,
            jobs=jobs,
            force=force,
            keep_examples=examples,
            model_name=label,
            reading=Reading(permute=best_permutation),
            progress=not quiet,
        )
        typer.echo(_summary_text(summary, out_dir))
        return
    from vaesep.separation.loading import load_separator
    from vaesep.zoo.pretrained import resolve_model

    separator = load_separator(
        resolve_model(model),
        device=device,
        overrides=overrides,
        precision=precision,
        backend=backend,
    )
    label = label or separator.name
    summary = evaluate(
        separator, data, out_dir, jobs, force, examples, label, not quiet, best_permutation
    )
    typer.echo(_summary_text(summary, out_dir))


def _summary_text(summary: dict[str, Any], out_dir: Path) -> str:
    from vaesep.scoring.metrics import EXACT_DB

    lines = [
        f"{summary['model']}: {summary['num_utterances']} utterances, "
        f"{summary['seconds']:.1f} s with {summary['jobs']} job(s)",
        f"{'':8}{'model':>8}{'mixture':>9}{'improvement':>13}",
    ]
    labels = {"sdr": "SDR", "sir": "SIR", "sar": "SAR", "si_sdr": "SI-SDR"}
    labels.update({k: v for k, v in (("pesq", "PESQ"), ("stoi", "STOI")) if k in summary})
    for key, label in labels.items():
        ours, mix = summary[key], summary["mixture"][key]
        # An improvement of SDR and SI-SDR only (summary.json's sdri, si_sdri): the mixture's
        # SIR and SAR are no baseline (its SAR only measures numerical precision).
        gain = ""
        if key in IMPROVED:
            missing = ours is None or mix is None or mix > EXACT_DB
            gain = _db(None if missing else ours - mix, sign=True)
        lines.append(f"{label:8}{_db(ours):>8}{_db(mix):>9}{gain:>13}".rstrip())
    if summary["failed"]:
        lines.append(f"failed: {len(summary['failed'])} utterance(s), listed in summary.json")
    lines.append(f"results: {out_dir / 'metrics.csv'}, {out_dir / 'summary.json'}")
    return "\n".join(lines)


def _db(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}" if sign else f"{value:.2f}"


@user_errors
def report_command(
    result_dirs: list[Path] = typer.Argument(
        ...,
        help="Output dirs of 'vaesep evaluate', one per model (or per sweep setting), or dirs "
        "holding several (e.g. exp/wgan with p01/seed0/eval, p01/seed1/eval, ...): pooled "
        "into one result named by the dir.",
    ),
    out_dir: Path | None = typer.Option(
        None,
        "--out-dir",
        "-o",
        help="Where RESULTS.md, results.csv and violins.png go (default: the dirs' common parent).",
    ),
    title: str | None = typer.Option(None, "--title", help="Title of RESULTS.md and the plot."),
    sweep: str | None = typer.Option(
        None,
        "--sweep",
        metavar="LABEL",
        help="The dirs are settings of one sweep of LABEL (e.g. 'STFT window/overlap'): "
        "name each by its dir, one violin per setting.",
    ),
    claims: list[str] | None = typer.Option(
        None,
        "--claim",
        metavar="A>B:METRIC",
        help="A claim to judge on the paired per-mixture differences (repeatable): A>B, A<B or "
        "A=B (no difference) on a table metric, e.g. 'wgan>nmf:sdr', or on one source's "
        "estimates with @SOURCE, e.g. 'complex_vae>bandpass:sdr@speech'; verdicts in "
        "RESULTS.md and claims.csv.",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing RESULTS.md."),
) -> None:
    """Tabulate and plot (SDR/SIR/SAR violins) the results of one or more evaluations, with
    95 % confidence intervals over mixtures, and judge claims on them."""
    from vaesep.scoring.reports import report

    target = out_dir or _common_parent(result_dirs)
    markdown = report(
        result_dirs, target, force=force, title=title, sweep=sweep, claims=claims or ()
    )
    typer.echo(markdown, nl=False)
    written = ["results.csv", "violins.png", *(["claims.csv"] if claims else [])]
    typer.echo(f"written: {target / 'RESULTS.md'}, {', '.join(written)}")


def _common_parent(dirs: list[Path]) -> Path:
    return Path(os.path.commonpath([str(d.resolve().parent) for d in dirs]))


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``report`` to ``app``."""
    app.command("evaluate")(evaluate_command)
    app.command("report")(report_command)
