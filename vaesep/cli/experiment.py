"""CLI commands for models: ``train``, ``separate`` and ``run`` (train and score over seeds)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from vaesep.cli._common import BACKEND, JOBS_HELP, PRECISION, fail, user_errors


def register(app: typer.Typer) -> None:
    """Add the model commands to ``app``."""
    app.command("train")(train)
    app.command("separate")(separate)
    app.command("run")(run)


@user_errors
def train(
    config: Path = typer.Option(
        None, "--config", "-c", help="A YAML file or a shipped config's name ('vaesep configs')."
    ),
    data: Path = typer.Option(
        ..., "--data", help="Training data dir (wav.scp, spk1.scp, spk2.scp)."
    ),
    exp_dir: Path = typer.Option(..., "--exp-dir", help="Experiment dir to write."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key, e.g. --set training.epochs=5 (repeatable)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted training."),
    force: bool = typer.Option(False, "--force", help="Train again over an existing experiment."),
) -> None:
    """Train one model per source (female, male, or those the data dir's sources file names)
    and write a self-contained experiment dir."""
    from vaesep.expdir import CONFIG_FILE
    from vaesep.registry import load_config
    from vaesep.training.distributed import ranks_from_env
    from vaesep.training.experiment import train as run_training

    if config is None:
        if not (resume and (exp_dir / CONFIG_FILE).is_file()):
            raise fail("--config: required unless --resume (e.g. --config vae: 'vaesep configs')")
        config = exp_dir / CONFIG_FILE
    cfg = load_config(config, overrides)
    command = ["vaesep", "train", "--config", str(config), "--data", str(data)]
    command += ["--exp-dir", str(exp_dir), *(a for o in overrides for a in ("--set", o))]
    command += ["--resume"] * resume + ["--force"] * force
    writer = ranks_from_env().writes  # under torchrun, rank 0 speaks for all
    if not writer:
        logging.getLogger("vaesep").setLevel(logging.WARNING)
    result = run_training(cfg, data, exp_dir, resume=resume, force=force, command=command)
    if writer:
        for source, summary in result["sources"].items():
            typer.echo(f"{source}: {summary['outcome']}")
        typer.echo(f"wrote {exp_dir} in {result['seconds']:.1f} s")


@user_errors
def separate(
    inputs: list[str] = typer.Argument(
        ..., help="Audio files, folders, glob patterns or a wav.scp to separate."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="A bundled model's name ('vaesep models'; default: the default one) or an "
        "experiment dir written by 'train'.",
    ),
    out_dir: Path = typer.Option(Path("separated"), "--out-dir", "-o", help="Where to write."),
    name: str = typer.Option(
        "{stem}_{source}.{ext}",
        "--name",
        help="Output names inside --out-dir from {stem} (the input's), {relpath} (its path "
        "under the folder given, e.g. spk1/0001), {source}, {ext}, {model}; e.g. "
        "'{stem}/{source}.{ext}', '{relpath}_{source}.{ext}' (the folders' tree).",
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="wav or flac (default: the input's where possible, else wav)."
    ),
    subtype: str | None = typer.Option(
        None,
        "--subtype",
        help="PCM_16, PCM_24 or FLOAT (WAV only) (default: the input's where possible, else "
        "FLOAT for WAV, PCM_24 for FLAC).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
    device: str = typer.Option(
        "auto", "--device", help="auto (CUDA when present, else the CPU), cpu, cuda, cuda:N or mps."
    ),
    overrides: list[str] = typer.Option(
        [],
        "--set",
        help="Another separation setting than trained, e.g. --set model.type=fast_mvae on an "
        "mvae experiment (the same network), --set model.iterations=80, --set "
        "features.input_level_db=-23 (each mixture scaled to -23 dBFS RMS for the networks), "
        "--set features.shifts=4 (estimates averaged over 4 STFT frame grids).",
    ),
    precision: str = PRECISION,
    backend: str | None = BACKEND,
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar and no line per file (errors still)."
    ),
) -> None:
    """Write <stem>_female.<ext> and <stem>_male.<ext> (the model's sources) for every input,
    at its rate and length.

    A mono model downmixes multichannel inputs; a multichannel model (auxiva, ilrma, mvae,
    fast_mvae) demixes their channels and writes each source's image at its reference mic.
    Mono-model inputs are streamed, so memory stays bounded however long a recording is.
    An input that cannot be read is reported (one line each) and the others are still
    separated. The progress bar (seconds of audio) shows only on a terminal.
    """
    from vaesep.errors import VaesepError
    from vaesep.io.progress import audio_seconds, progress_bar
    from vaesep.separation.inputs import expand_inputs
    from vaesep.separation.loading import load_separator
    from vaesep.separation.outputs import check_choices, check_template, plan_outputs
    from vaesep.zoo.pretrained import resolve_model

    check_choices(fmt, subtype)
    check_template(name)
    files = expand_inputs(inputs)
    if out_dir.exists() and not out_dir.is_dir():
        raise fail(f"{out_dir}: exists and is not a directory; choose another --out-dir")
    source = resolve_model(model)
    separator = load_separator(
        source,
        device=device,
        separating=True,
        overrides=overrides,
        precision=precision,
        backend=backend,
    )
    plans = plan_outputs(files, separator.sources, out_dir, name, fmt, subtype, source.name)
    existing = [p for outs, _ in plans.values() for p in outs.values() if p.exists()]
    if existing and not force:
        raise fail(
            f"{existing[0]}: exists ({len(existing)} outputs would be overwritten); use --force"
        )
    failed = []
    with progress_bar(audio_seconds(item.path for item in files), quiet) as bar:
        for item in files:
            path, (targets, form) = item.path, plans[item]
            try:
                separator.separate_file(path, targets, form.format, form.subtype, bar.update)
            except VaesepError as exc:
                failed.append(str(exc))
                continue
            if not quiet:
                bar.write(f"{path} -> {', '.join(str(p) for p in targets.values())}")
    errors = [fail(message) for message in failed]  # one line each on stderr
    if errors:
        raise errors[-1]


@user_errors
def run(
    config: Path = typer.Option(
        ..., "--config", "-c", help="A YAML file or a shipped config's name ('vaesep configs')."
    ),
    train_data: Path = typer.Option(..., "--train", help="Training data dir."),
    test_data: Path = typer.Option(..., "--test", help="Test data dir to separate and score."),
    exp_dir: Path = typer.Option(..., "--exp-dir", help="Run dir: one seed<N>/ dir per seed."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Training seeds, e.g. 0,1,2 or 0-4."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key, e.g. --set training.epochs=5 (repeatable)."
    ),
    force: bool = typer.Option(False, "--force", help="Train and score every seed again."),
    device: str = typer.Option(
        "auto",
        "--device",
        help="Separation device: auto (CUDA when present), cpu, cuda, cuda:N or mps.",
    ),
    jobs: int = typer.Option(0, "--jobs", min=0, help=JOBS_HELP),
) -> None:
    """Train and score a config for several seeds: EXP/seed<N>/ and EXP/seed<N>/eval/.

    Seeds already scored are skipped, interrupted ones resume; 'vaesep report EXP' pools them
    with 95 % confidence intervals. A failing seed is reported and the others still run.
    """
    from vaesep.scoring.runs import parse_seeds, run_seeds

    outcomes = run_seeds(
        config,
        train_data,
        test_data,
        exp_dir,
        parse_seeds(seeds),
        overrides,
        force,
        device,
        jobs or None,
    )
    failed = [message for message in outcomes.values() if isinstance(message, str)]
    for seed, summary in outcomes.items():
        if isinstance(summary, dict):
            typer.echo(
                f"seed {seed}: SDR {summary['sdr']:.2f} dB, SIR {summary['sir']:.2f}, "
                f"SAR {summary['sar']:.2f} ({summary['seconds_total']:.1f} s)"
            )
    if failed:
        errors = [fail(message) for message in failed]
        raise errors[-1]
    typer.echo(f"wrote {exp_dir}")
