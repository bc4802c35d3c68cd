"""One experiment over several seeds: train, separate and score each seed in one process.

``run_seeds`` trains the config with ``training.seed`` = each seed into
``<exp_dir>/seed<N>/`` (a normal experiment dir) and scores its separations of a test data
dir into ``<exp_dir>/seed<N>/eval/``; ``vaesep report <exp_dir>`` pools the seeds with 95 %
confidence intervals (:mod:`vaesep.scoring.pooling`). A seed already scored is skipped, one whose
training was interrupted resumes exactly (``force`` trains and scores every seed again); a
seed whose training or scoring fails is reported in one line and the other seeds still run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from vaesep.errors import MissingExtra, VaesepError, log, optional
from vaesep.expdir import CONFIG_FILE, read_config
from vaesep.registry import SECTIONS, load_config
from vaesep.scoring.evaluation import EVAL_DIR, SUMMARY_JSON, evaluate
from vaesep.separation.loading import load_separator
from vaesep.training.experiment import train


def seed_dir(exp_dir: str | Path, seed: int) -> Path:
    """The experiment dir of one seed."""
    return Path(exp_dir) / f"seed{seed}"


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-2"`` → [0, 1, 2]; anything else is a one-line error."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            seeds += range(int(low), int(high or low) + 1)
    except ValueError:
        raise VaesepError(f"--seeds {text!r}: use a list like 0,1,2 or a range like 0-2") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise VaesepError(f"--seeds {text!r}: give distinct seeds >= 0, e.g. 0,1,2")
    return seeds


def run_seeds(
    config_path: str | Path,
    train_dir: str | Path,
    test_dir: str | Path,
    exp_dir: str | Path,
    seeds: Sequence[int],
    overrides: Sequence[str] = (),
    force: bool = False,
    device: str = "cpu",
    jobs: int | None = None,
) -> dict[int, dict | str]:
    """Train and score every seed; returns ``{seed: eval summary, or the error message}``.

    The config (with ``overrides``) is checked once before anything runs, so a bad key stops
    the whole run with one line; a failure of one seed does not stop the others.
    """
    base = load_config(config_path, list(overrides))
    optional("mir_eval", "eval", "vaesep run")  # it scores: checked before any seed trains
    outcomes: dict[int, dict | str] = {}
    for seed in seeds:
        folder = seed_dir(exp_dir, seed)
        config = replace(base, training=replace(base.training, seed=seed))
        if (folder / EVAL_DIR / SUMMARY_JSON).is_file() and not force:
            previous = read_config(folder / CONFIG_FILE, SECTIONS)
            if (previous.features, previous.model) != (config.features, config.model):
                outcomes[seed] = (
                    f"{folder}: scored with other features/model settings; use --force to run "
                    "it again with these, or another --exp-dir"
                )
                continue
            log.info("%s: already scored; skipped (--force runs it again)", folder)
            continue
        started = time.perf_counter()
        try:
            train(config, train_dir, folder, resume=not force, force=force)
            summary = evaluate(
                load_separator(folder, device), test_dir, folder / EVAL_DIR, jobs=jobs, force=True
            )
        except MissingExtra:  # no seed can run: one line, not one per seed
            raise
        except VaesepError as exc:
            outcomes[seed] = f"{folder}: {exc}"
            continue
        summary["seconds_total"] = round(time.perf_counter() - started, 2)
        outcomes[seed] = summary
    return outcomes
