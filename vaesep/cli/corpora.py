"""CLI commands for corpora as they are: ``prepare libri2mix`` and ``prepare wsj0-2mix`` (the
standard two-speaker corpora's female+male mixtures as data dirs), ``prepare pool`` (any
corpus's female and male utterances as speaker pools) and ``prepare pool-merge`` (several pools
as one); no audio is copied or mixed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaesep.cli._common import Force, OutDir, fail, user_errors

Rate = Annotated[str, typer.Option("--rate", help="The corpus's sample rate folder: 8k or 16k.")]
Mode = Annotated[
    str, typer.Option("--mode", help="min (cut to the shorter source) or max (zero-padded).")
]
NumTrain = Annotated[
    int | None,
    typer.Option(
        "--num-train", help="Write this many female+male training mixtures (seeded; default all)."
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed of --num-train's choice.")]


def register(prepare: typer.Typer) -> None:
    """Add the commands to the ``prepare`` group."""
    prepare.command("libri2mix")(prepare_libri2mix)
    prepare.command("wsj0-2mix")(prepare_wsj0_2mix)
    prepare.command("pool")(prepare_pool)
    prepare.command("pool-merge")(prepare_pool_merge)


@user_errors
def prepare_libri2mix(
    root: Annotated[
        Path,
        typer.Argument(
            metavar="ROOT", help="Folder holding Libri2Mix/ (made by the LibriMix scripts)."
        ),
    ],
    out_dir: OutDir,
    speakers: Annotated[
        Path | None,
        typer.Option(
            "--speakers",
            help="LibriSpeech's SPEAKERS.TXT (default: ROOT/LibriSpeech/ or ROOT/SPEAKERS.TXT).",
        ),
    ] = None,
    rate: Rate = "8k",
    mode: Mode = "min",
    mixture: Annotated[
        str, typer.Option("--mixture", help="mix_clean, or mix_both (with WHAM! noise).")
    ] = "mix_clean",
    train_subsets: Annotated[
        str, typer.Option("--train-subsets", help="Comma-separated subsets for train/.")
    ] = "train-100",
    test_subsets: Annotated[
        str, typer.Option("--test-subsets", help="Comma-separated subsets for test/.")
    ] = "test",
    dev_subsets: Annotated[
        str | None,
        typer.Option(
            "--dev-subsets", help="Comma-separated subsets for dev/ (default: dev when there)."
        ),
    ] = None,
    num_train: NumTrain = None,
    seed: Seed = 0,
    force: Force = False,
) -> None:
    """Libri2Mix's female+male mixtures as train/, test/ (and dev/) data dirs."""
    from vaesep.data.corpora.libri2mix import prepare_libri2mix as run

    summary = run(
        root,
        out_dir,
        speakers,
        rate,
        mode,
        mixture,
        _names(train_subsets),
        _names(test_subsets),
        None if dev_subsets is None else _names(dev_subsets),
        num_train,
        seed,
        force,
    )
    _echo(summary, out_dir)


@user_errors
def prepare_wsj0_2mix(
    root: Annotated[
        Path,
        typer.Argument(metavar="ROOT", help="wsj0-2mix folder (holding wav8k/ or wav16k/)."),
    ],
    out_dir: OutDir,
    genders: Annotated[
        list[Path] | None,
        typer.Option(
            "--genders",
            metavar="FILE",
            help="WSJ0's doc/spkrinfo.txt or a '<speaker> <gender>' list; repeat to combine "
            "(default: ROOT/spkrinfo.txt or ROOT/wsj0/doc/spkrinfo.txt).",
        ),
    ] = None,
    lists: Annotated[
        Path | None,
        typer.Option("--lists", help="Folder of mix_2_spk_{tr,cv,tt}.txt (default: ROOT)."),
    ] = None,
    rate: Rate = "8k",
    mode: Mode = "min",
    num_train: NumTrain = None,
    seed: Seed = 0,
    force: Force = False,
) -> None:
    """wsj0-2mix's female+male mixtures as train/ (tr), test/ (tt) and dev/ (cv) data dirs."""
    from vaesep.data.corpora.wsj0_2mix import prepare_wsj0_2mix as run

    summary = run(root, out_dir, genders or (), lists, rate, mode, num_train, seed, force)
    _echo(summary, out_dir)


@user_errors
def prepare_pool(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="timit, librispeech or manifest.")],
    root: Annotated[
        Path, typer.Argument(metavar="ROOT", help="The corpus folder (a manifest: its CSV).")
    ],
    out_dir: OutDir,
    split: Annotated[
        str, typer.Option("--split", help="The corpus's train or test utterances, or all.")
    ] = "train",
    hold_out: Annotated[
        int,
        typer.Option(
            "--hold-out",
            help="Leave this many female and as many male speakers out of the pool and list "
            "their utterances in OUT_DIR/held_out.csv: a dev set of unseen speakers "
            "(vaesep prepare manifest OUT_DIR/held_out.csv DEV --num-train 0).",
        ),
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out speakers.")] = 0,
    force: Force = False,
) -> None:
    """A corpus's female and male utterances as speaker pools, to train with
    --set data.loading=pools (each example a fresh random pair; nothing is mixed here)."""
    from vaesep.data.corpora import load_corpus
    from vaesep.data.pool_dir import prepare_pool as run

    if split not in ("train", "test", "all"):
        raise fail(f"--split {split!r}: use train, test or all")
    which = None if split == "all" else split
    summary = run(load_corpus(kind, root), out_dir, which, force, hold_out, seed)
    held = summary.get("held_out")
    kept = f"; {len(held['speakers'])} speakers held out in {held['file']}" if held else ""
    typer.echo(f"wrote {out_dir}: {_counts(summary)}{kept}")


@user_errors
def prepare_pool_merge(
    pool_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="POOL_DIR...", help="Pool dirs of 'vaesep prepare pool' to merge."),
    ],
    out_dir: OutDir,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="One per POOL_DIR, e.g. 2,1: each drawn utterance first draws its pool dir in "
            "these proportions (default: the utterances, or speakers with data.draw=speaker, "
            "of all of them as one pool).",
        ),
    ] = None,
    force: Force = False,
) -> None:
    """Several pool dirs (e.g. two corpora) as one, to train on all of them with
    --set data.loading=pools; ids get the prefix c1-, c2-, ... so they never collide."""
    from vaesep.data.pool_dir import merge_pools

    try:
        numbers = None if weights is None else [float(w) for w in _names(weights)]
    except ValueError:
        raise fail(f"--weights {weights!r}: give numbers, one per pool dir, e.g. 2,1") from None
    summary = merge_pools(pool_dirs, out_dir, numbers, force)
    typer.echo(f"wrote {out_dir} ({len(pool_dirs)} pools): {_counts(summary)}")


def _counts(summary: dict) -> str:
    """A pool's utterances and speakers per source, as one phrase."""
    return ", ".join(
        f"{summary[s]['utterances']} {s} utterances of {summary[s]['speakers']} speakers"
        for s in ("female", "male")
    )


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _echo(summary: dict, out_dir: Path) -> None:
    for name, split in summary["splits"].items():
        written = f", {split['written']} written" if split["written"] < split["kept"] else ""
        typer.echo(
            f"{name}: {split['kept']} female+male mixtures kept{written}, "
            f"{split['dropped_same_gender']} same-gender dropped ({split['female_female']} "
            f"F+F, {split['male_male']} M+M)"
        )
    typer.echo(f"wrote {out_dir}")
