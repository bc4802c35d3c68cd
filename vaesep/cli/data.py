"""CLI commands for corpora and mixtures: ``synth-corpus`` and ``prepare`` (incl. ``pairs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaesep.cli._common import Force, OutDir, user_errors
from vaesep.cli._help import Typer
from vaesep.cli.background import register as register_background
from vaesep.cli.corpora import register as register_corpora

Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed, the same output.")]
NumTrain = Annotated[int, typer.Option("--num-train", help="Training mixtures to make.")]
NumTest = Annotated[int, typer.Option("--num-test", help="Test mixtures to make.")]
Snr = Annotated[float, typer.Option("--snr", help="Female-to-male level ratio in dB.")]
SnrRange = Annotated[
    tuple[float, float] | None,
    typer.Option(
        "--snr-range",
        metavar="LOW HIGH",
        help="Draw each mixture's ratio uniformly from LOW..HIGH dB (instead of --snr).",
    ),
]
Level = Annotated[
    str, typer.Option("--level", help="What to equalize before the ratio: rms or peak.")
]
Length = Annotated[
    str,
    typer.Option("--length", help="min: cut both sources to the shorter; max: zero-pad it."),
]
Crop = Annotated[
    str,
    typer.Option(
        "--crop",
        metavar="MIN-MAX",
        help="Crop each utterance to a random segment of MIN to MAX seconds, or 'off'.",
    ),
]
SampleRate = Annotated[int, typer.Option("--sample-rate", help="Sample rate of the output (Hz).")]
Split = Annotated[
    str,
    typer.Option(
        "--split",
        help="corpus: use the corpus's train/test split when it has one; random: split "
        "speakers at random (seeded).",
    ),
]
Overlap = Annotated[
    bool,
    typer.Option(
        "--allow-speaker-overlap",
        help="For a random split, split utterances instead of speakers (speakers may then be "
        "in both train and test).",
    ),
]
MaxUses = Annotated[
    int | None,
    typer.Option(
        "--max-uses",
        help="Most mixtures one utterance may appear in (default: as many as the counts need).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the corpus commands to ``app``."""
    app.command("synth-corpus")(synth_corpus)
    prepare = Typer(
        help="Mix female and male utterances of a corpus into train/ and test/ data dirs.",
        no_args_is_help=True,
    )
    prepare.command("timit")(prepare_timit)
    prepare.command("librispeech")(prepare_librispeech)
    prepare.command("manifest")(prepare_manifest)
    prepare.command("pairs")(prepare_pairs)
    prepare.command("weak")(prepare_weak)
    prepare.command("rooms")(prepare_rooms)
    prepare.command("perturb")(prepare_perturb)
    register_corpora(prepare)
    register_background(prepare)
    app.add_typer(prepare, name="prepare")


@user_errors
def synth_corpus(
    out_dir: OutDir,
    speakers_per_gender: Annotated[
        int, typer.Option("--speakers-per-gender", help="Speakers of each gender (2 to 100).")
    ] = 8,
    utterances: Annotated[
        int, typer.Option("--utterances", help="Utterances per speaker (1 to 50).")
    ] = 10,
    seed: Seed = 0,
    force: Force = False,
) -> None:
    """Synthesize a small TIMIT-layout corpus with espeak-ng and flite."""
    from vaesep.data.corpora.synth import synth_corpus as run

    info = run(out_dir, speakers_per_gender, utterances, seed, force)
    test = sum(s["split"] == "test" for s in info["speakers"])
    typer.echo(
        f"wrote {out_dir}: {len(info['speakers'])} speakers ({test} in TEST), "
        f"{info['utterances']} utterances, {info['seconds']:.0f} s of speech"
    )


@user_errors
def prepare_timit(
    source: Annotated[
        Path, typer.Argument(metavar="TIMIT_ROOT", help="TIMIT folder (holding TRAIN/, TEST/).")
    ],
    out_dir: OutDir,
    include_sa: Annotated[
        bool, typer.Option("--include-sa", help="Use the SA sentences too (left out by default).")
    ] = False,
    num_train: NumTrain = 80,
    num_test: NumTest = 10,
    seed: Seed = 0,
    snr: Snr = 0.0,
    snr_range: SnrRange = None,
    level: Level = "rms",
    length: Length = "min",
    crop: Crop = "off",
    sample_rate: SampleRate = 16000,
    split: Split = "corpus",
    allow_speaker_overlap: Overlap = False,
    max_uses: MaxUses = None,
    force: Force = False,
) -> None:
    """Mix TIMIT (or a 'synth-corpus') female and male utterances."""
    _prepare("timit", source, out_dir, locals(), include_sa=include_sa)


@user_errors
def prepare_librispeech(
    source: Annotated[
        Path,
        typer.Argument(metavar="LIBRISPEECH_ROOT", help="LibriSpeech folder (with SPEAKERS.TXT)."),
    ],
    out_dir: OutDir,
    train_subsets: Annotated[
        str | None,
        typer.Option(
            "--train-subsets", help="Comma-separated training subsets (default: all train-*)."
        ),
    ] = None,
    test_subsets: Annotated[
        str | None,
        typer.Option("--test-subsets", help="Comma-separated test subsets (default: all test-*)."),
    ] = None,
    num_train: NumTrain = 80,
    num_test: NumTest = 10,
    seed: Seed = 0,
    snr: Snr = 0.0,
    snr_range: SnrRange = None,
    level: Level = "rms",
    length: Length = "min",
    crop: Crop = "2-4",
    sample_rate: SampleRate = 16000,
    split: Split = "corpus",
    allow_speaker_overlap: Overlap = False,
    max_uses: MaxUses = None,
    force: Force = False,
) -> None:
    """Mix LibriSpeech female and male utterances (cropped to 2-4 s by default)."""
    _prepare(
        "librispeech",
        source,
        out_dir,
        locals(),
        train_subsets=_names(train_subsets),
        test_subsets=_names(test_subsets),
    )


@user_errors
def prepare_manifest(
    source: Annotated[
        Path,
        typer.Argument(metavar="MANIFEST", help="CSV with columns path,speaker,gender[,split]."),
    ],
    out_dir: OutDir,
    num_train: NumTrain = 80,
    num_test: NumTest = 10,
    seed: Seed = 0,
    snr: Snr = 0.0,
    snr_range: SnrRange = None,
    level: Level = "rms",
    length: Length = "min",
    crop: Crop = "off",
    sample_rate: SampleRate = 16000,
    split: Split = "corpus",
    allow_speaker_overlap: Overlap = False,
    max_uses: MaxUses = None,
    force: Force = False,
) -> None:
    """Mix the female and male utterances listed in a CSV manifest."""
    _prepare("manifest", source, out_dir, locals())


@user_errors
def prepare_pairs(
    source: Annotated[
        Path, typer.Argument(metavar="SOURCE", help="Corpus folder (or manifest CSV) to read.")
    ],
    out_dir: OutDir,
    kind: Annotated[
        str, typer.Option("--kind", help="Corpus layout: timit, librispeech or manifest.")
    ] = "timit",
    pairs: Annotated[int, typer.Option("--pairs", help="Speaker pairs to draw.")] = 25,
    seed: Seed = 0,
    split: Annotated[
        str,
        typer.Option(
            "--split", help="train: draw speakers from the corpus's train split; all: from all."
        ),
    ] = "train",
    min_utterances: Annotated[
        int,
        typer.Option("--min-utterances", help="Leave out speakers with fewer readable utterances."),
    ] = 3,
    include_sa: Annotated[
        bool,
        typer.Option(
            "--include-sa/--no-include-sa",
            help="TIMIT: use the SA sentences too (the paper's 10 utterances per speaker).",
        ),
    ] = True,
    sample_rate: SampleRate = 16000,
    force: Force = False,
) -> None:
    """One data dir pair per female + male speaker pair (Subakan & Smaragdis, ICASSP 2018):
    the closest-length utterance pair to test, all the others to train, at 0 dB."""
    from vaesep.data.corpora import CORPUS_KINDS, load_corpus
    from vaesep.data.speaker_pairs import PairOptions
    from vaesep.data.speaker_pairs import prepare_pairs as run
    from vaesep.errors import VaesepError

    if kind not in CORPUS_KINDS:
        raise VaesepError(f"--kind {kind!r}: use one of {', '.join(CORPUS_KINDS)}")
    options = PairOptions(
        num_pairs=pairs,
        seed=seed,
        split=split,
        min_utterances=min_utterances,
        sample_rate=sample_rate,
        force=force,
    )
    options.validate()
    corpus = load_corpus(kind, source, **({"include_sa": include_sa} if kind == "timit" else {}))
    summary = run(corpus, out_dir, options)
    for pair in summary["pairs"]:
        typer.echo(
            f"{pair['id']}: {len(pair['train'])} training mixtures "
            f"({pair['seconds']['train']:.1f} s), test {pair['test']} "
            f"({pair['seconds']['test']:.1f} s)"
        )
    typer.echo(f"wrote {out_dir} ({len(summary['pairs'])} pairs)")


@user_errors
def prepare_weak(
    source: Annotated[
        Path,
        typer.Argument(metavar="DATA_DIR", help="Source-supervised data dir (with spk*.scp)."),
    ],
    out_dir: OutDir,
    single_fraction: Annotated[
        float,
        typer.Option(
            "--single-fraction",
            help="Share of the mixtures replaced by their two sources as one-class recordings.",
        ),
    ] = 0.5,
    seed: Seed = 0,
    force: Force = False,
) -> None:
    """A weakly labelled data dir for training.supervision: class: recordings and the classes
    each holds (classes), no references (see vaesep.data.weak)."""
    from vaesep.data.weak import prepare_weak as run

    summary = run(source, out_dir, single_fraction, seed, force)
    singles = ", ".join(f"{n} {s}" for s, n in summary["single_class"].items())
    typer.echo(
        f"wrote {out_dir}: {summary['mixtures']} mixtures of both classes, "
        f"one-class recordings: {singles}"
    )


@user_errors
def prepare_rooms(
    source: Annotated[
        Path,
        typer.Argument(metavar="DATA_DIR", help="Source-supervised data dir (with spk*.scp)."),
    ],
    out_dir: OutDir,
    rt60: Annotated[
        float, typer.Option("--rt60", help="Reverberation time of the simulated rooms (s).")
    ] = 0.15,
    mics: Annotated[int, typer.Option("--mics", help="Microphones of the linear array.")] = 2,
    spacing: Annotated[
        float, typer.Option("--spacing", help="Distance between neighbouring microphones (m).")
    ] = 0.05,
    min_distance: Annotated[
        float,
        typer.Option(
            "--min-distance",
            help="Nearest source-to-array distance (m); sources lie up to 1 m farther.",
        ),
    ] = 1.0,
    seed: Seed = 0,
    force: Force = False,
) -> None:
    """Reverberant multichannel mixtures of a data dir in simulated rooms (pyroomacoustics);
    the references are the source images at mic 0 (see vaesep.data.rooms)."""
    from vaesep.data.rooms import prepare_rooms as run

    summary = run(source, out_dir, rt60, mics, spacing, min_distance, seed, force)
    typer.echo(
        f"wrote {out_dir}: {summary['mixtures']} mixtures, {summary['mics']} mics, "
        f"RT60 {summary['rt60']:g} s (measured {summary['measured_rt60']:.2f} s)"
    )


@user_errors
def prepare_perturb(
    source: Annotated[
        Path,
        typer.Argument(metavar="DATA_DIR", help="Source-supervised data dir (with spk*.scp)."),
    ],
    out_dir: OutDir,
    speeds: Annotated[
        str,
        typer.Option(
            "--speeds",
            help="Comma-separated speed factors; each adds a copy sp<f>-<utt> of every utterance.",
        ),
    ] = "0.9,1.1",
    force: Force = False,
) -> None:
    """Kaldi-style speed perturbation: the utterances of a data dir plus, per factor, a copy
    whose sources are resampled (sox speed: tempo and pitch) and summed (see
    vaesep.data.perturb)."""
    from vaesep.data.perturb import parse_speeds
    from vaesep.data.perturb import prepare_perturb as run

    summary = run(source, out_dir, parse_speeds(speeds), force)
    counts, factors = summary["utterances"], summary["speeds"]
    typer.echo(
        f"wrote {out_dir}: {counts['total']} utterances ({counts['original']} original + "
        f"{len(factors)} x {counts['original']} perturbed at "
        f"{', '.join(f'{f:g}' for f in factors)}), {summary['seconds']:.0f} s"
    )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [s.strip() for s in text.split(",") if s.strip()]


def _prepare(kind: str, source: Path, out_dir: Path, params: dict, **reader) -> None:
    """Read the corpus, mix it with the MixOptions found in ``params`` (the command's
    arguments) and print a short summary."""
    from dataclasses import fields

    from vaesep.data.corpora import load_corpus
    from vaesep.data.mixing import MixOptions, parse_crop
    from vaesep.data.preparation import prepare_mixtures

    names = {f.name for f in fields(MixOptions)}
    options = MixOptions(**{k: v for k, v in params.items() if k in names})
    options.snr_db, options.crop = params["snr"], parse_crop(params["crop"])
    options.validate()
    corpus = load_corpus(kind, source, **reader)
    summary = prepare_mixtures(corpus, out_dir, options)
    for name, split in summary["splits"].items():
        typer.echo(
            f"{name}: {split['mixtures']} mixtures, {split['seconds']:.0f} s, from "
            f"{len(split['female_speakers'])} female and {len(split['male_speakers'])} "
            "male speakers"
        )
    if summary["num_skipped"]:
        typer.echo(f"skipped {summary['num_skipped']} files (listed in prepare.json)")
    typer.echo(f"wrote {out_dir} in {summary['time_taken_s']:.1f} s")
