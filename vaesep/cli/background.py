"""CLI command ``prepare background``: the speech of a data dir against noise or recordings,
as a data dir whose sources are speech (``spk1.scp``) and background (``spk2.scp``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaesep.cli._common import Force, OutDir, fail, user_errors


def register(prepare: typer.Typer) -> None:
    """Add the command to the ``prepare`` group."""
    prepare.command("background")(prepare_background)


@user_errors
def prepare_background(
    speech: Annotated[
        Path,
        typer.Argument(
            metavar="SPEECH",
            help="Source-supervised data dir (with spk*.scp): each mixture's two sources are "
            "two speech utterances.",
        ),
    ],
    out_dir: OutDir,
    noise: Annotated[
        list[str] | None,
        typer.Option(
            "--noise",
            metavar="KIND|DIR|MANIFEST",
            help="white, pink, brown, speech-shaped, babble, a recording, a folder of them "
            "or a manifest (one path per line); repeat to take them in turn (default: white).",
        ),
    ] = None,
    snr: Annotated[
        str | None,
        typer.Option(
            "--snr",
            metavar="DB",
            help="Speech-to-background ratio in dB, RMS over each utterance (default: 0).",
        ),
    ] = None,
    snr_range: Annotated[
        str | None,
        typer.Option(
            "--snr-range",
            metavar="LOW,HIGH",
            help="Draw each mixture's ratio uniformly from LOW..HIGH dB (instead of --snr).",
        ),
    ] = None,
    part: Annotated[
        str,
        typer.Option(
            "--part",
            help="train: 80% of a folder's recordings (by a hash of their path), test: the "
            "other 20%, or all; the built-in kinds are seeded apart.",
        ),
    ] = "all",
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed; the same seed, the same output.")
    ] = 0,
    force: Force = False,
) -> None:
    """Speech against background: every speech utterance of a data dir mixed with one
    background at a speech-to-background ratio; spk1 is the speech, spk2 the background (see
    vaesep.data.background)."""
    from vaesep.data.background import parse_snr, parse_snr_range
    from vaesep.data.background import prepare_background as run

    if snr is not None and snr_range is not None:
        raise fail(f"--snr {snr} --snr-range {snr_range}: pass one of them")
    ratio = 0.0 if snr is None else parse_snr(snr)
    span = None if snr_range is None else parse_snr_range(snr_range)
    summary = run(speech, out_dir, noise or ["white"], ratio, span, seed, part, force)
    low, high = summary["snr_db"]["min"], summary["snr_db"]["max"]
    level = f"{low:g} dB" if span is None else f"{low:.1f} to {high:.1f} dB"
    typer.echo(
        f"wrote {out_dir}: {summary['mixtures']} speech + background mixtures "
        f"({summary['source_mixtures']} mixtures x 2 speech utterances) against "
        f"{', '.join(summary['backgrounds'])} at {level} SNR, {summary['seconds']:.0f} s"
    )
