"""Making a bundled model (:mod:`vaesep.zoo.pretrained`) from a trained experiment dir.

Two steps, so that a card's metrics are those of the files it describes:
:func:`export` copies what separation reads, weights rounded to float16 (half the bytes; the
network still computes in float32), then the export is evaluated like any experiment dir, and
:func:`write_card` writes ``card.json`` and ``card.md`` from an ``about`` YAML (description,
training data, licence, attribution, the reproducing command) and those evaluations. A bag
dir (:class:`vaesep.Bag`) exports as a bag: each member exported into a subfolder, a
``bag.yaml`` naming them, one card over every file. A member whose export would equal an
already exported bundle (``reuse``) is referenced (``path: ../rnn_mask``) instead of copied,
so that a bundle shipped on its own and in a bag is stored once; the bag's card pins its files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from vaesep.config import read_yaml, save_config
from vaesep.data.datadir import DEFAULT_SOURCES, check_replaceable, replacing
from vaesep.errors import VaesepError
from vaesep.expdir import (
    BAG_FILE,
    COMMAND_FILE,
    CONFIG_FILE,
    STATS_FILE,
    atomic_save,
    is_bag,
    load,
    read_bag,
    with_settings,
)
from vaesep.io.atomic import write_text_atomic
from vaesep.registry import SECTIONS
from vaesep.zoo.pretrained import CARD_JSON, CARD_MD, sha256

EXPORT_MARKER = "export.json"  # written by export: the dir is one --force may replace
METRICS = {
    "sdr": "SDR",
    "sir": "SIR",
    "sar": "SAR",
    "si_sdr": "SI-SDR",
    "sdri": "SDRi",
    "pesq": "PESQ",
    "stoi": "STOI",
}
ABOUT_KEYS = ("summary", "training_data", "licence", "attribution", "command")


def export(
    exp_dir: str | Path,
    out_dir: str | Path,
    force: bool = False,
    overrides: list[str] | None = None,
    reuse: Sequence[str | Path] = (),
) -> Path:
    """Copy an experiment dir's config, statistics and models into ``out_dir``, float weights
    in float16; nothing half-written is left. ``overrides`` (``key=value``) change separation
    settings in the exported config, as ``vaesep separate --set`` would (e.g.
    ``features.input_level_db=-23``). A bag dir exports each member so, into
    ``out_dir/<member dir's name>``, with a ``bag.yaml`` naming them; a member whose export
    equals one of the bundle dirs ``reuse`` (same config, statistics and float16 weights) is
    referenced by its path relative to ``out_dir`` instead. Returns ``out_dir``."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    members = read_bag(exp_dir) if is_bag(exp_dir) else [(exp_dir, 1.0)]
    names = _unique([path.name for path, _ in members])
    plans = [_plan(path, overrides) for path, _ in members]
    reuse = [_reusable(Path(r), out_dir, bag=is_bag(exp_dir)) for r in reuse]
    check_replaceable(out_dir, EXPORT_MARKER, "vaesep bundle export", force)
    with replacing(out_dir) as tmp:
        if not is_bag(exp_dir):
            _copy(exp_dir, tmp, *plans[0])
        else:
            paths = []
            for (path, _), name, plan in zip(members, names, plans):
                _copy(path, tmp / name, *plan)
                same = next((r for r in reuse if _same_export(tmp / name, r)), None)
                if same is not None:
                    shutil.rmtree(tmp / name)
                    name = _relative(same, out_dir)  # e.g. ../rnn_mask
                paths.append(name)
            bag = {"members": [{"path": p, "weight": w} for p, (_, w) in zip(paths, members)]}
            (tmp / BAG_FILE).write_text(yaml.safe_dump(bag, sort_keys=False), encoding="utf-8")
        marker = {"exported_from": str(exp_dir), "weights": "float16"}
        (tmp / EXPORT_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return out_dir


def _plan(exp_dir: Path, overrides: list[str] | None) -> tuple[list[str], Any]:
    """The files an export of ``exp_dir`` copies and its config with ``overrides`` (None:
    copied as it is); a one-line error for an unfinished experiment."""
    names = _names(exp_dir) if (exp_dir / CONFIG_FILE).is_file() else DEFAULT_SOURCES
    files = [CONFIG_FILE, STATS_FILE, *(f"{s}{ext}" for s in names for ext in (".pt", ".json"))]
    for file in files:
        if not (exp_dir / file).is_file():
            raise VaesepError(f"{exp_dir / file}: missing; pass a finished experiment dir")
    if (exp_dir / COMMAND_FILE).is_file():
        files.append(COMMAND_FILE)
    config = with_settings(load(exp_dir, SECTIONS), overrides).config if overrides else None
    return files, config


def _reusable(bundle: Path, out_dir: Path, bag: bool) -> Path:
    """``bundle`` once it is a one-model export outside ``out_dir``; else a one-line error."""
    if not bag:
        raise VaesepError(f"--reuse {bundle}: only a bag's members are reused; drop --reuse")
    if not (bundle / EXPORT_MARKER).is_file() or is_bag(bundle):
        raise VaesepError(
            f"--reuse {bundle}: not a one-model dir written by 'vaesep bundle export'; "
            "export it first"
        )
    if not _outside(bundle, out_dir):
        raise VaesepError(f"--reuse {bundle}: inside {out_dir}, which the export replaces")
    return bundle


def _same_export(a: Path, b: Path) -> bool:
    """Whether two exported model dirs separate alike: the same config (defaults filled in),
    statistics, sources and weights."""
    if _names(a) != _names(b) or load(a, SECTIONS).config != load(b, SECTIONS).config:
        return False
    with np.load(a / STATS_FILE) as x, np.load(b / STATS_FILE) as y:
        if x.files != y.files or any(not np.array_equal(x[k], y[k]) for k in x.files):
            return False
    for source in _names(a):
        x, y = (
            torch.load(d / f"{source}.pt", map_location="cpu", weights_only=True) for d in (a, b)
        )
        mine, theirs = x.pop("state_dict"), y.pop("state_dict")
        if x != y or mine.keys() != theirs.keys():
            return False
        if any(not torch.equal(mine[k], theirs[k]) for k in mine):
            return False
    return True


def _copy(exp_dir: Path, into: Path, files: list[str], config: Any) -> None:
    """Write ``files`` of ``exp_dir`` into ``into``: weights halved, ``config`` if given."""
    into.mkdir(exist_ok=True)
    for file in files:
        if file.endswith(".pt"):
            atomic_save(_halved(exp_dir / file), into / file)
        elif file == CONFIG_FILE and config is not None:
            save_config(config, into / file)
        else:
            shutil.copyfile(exp_dir / file, into / file)


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats numbered (``a``, ``a_2``): a bag's member subfolders."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _names(folder: Path) -> tuple[str, ...]:
    """The sources an experiment or bundle dir's config names (female, male where none)."""
    data = read_yaml(folder / CONFIG_FILE).get("data") or {}
    return tuple(data.get("sources") or DEFAULT_SOURCES)


def _halved(path: Path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt["state_dict"] = {
        k: v.half() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()
    }
    return ckpt


def write_card(
    bundle_dir: str | Path, about_path: str | Path, evaluations: dict[str, Path]
) -> dict[str, Any]:
    """Write ``card.json`` and ``card.md`` into an exported dir; return the card.

    ``evaluations`` maps a label (e.g. ``librispeech test-other, 0 dB``) to an ``evaluate``
    output dir of this very export.
    """
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / EXPORT_MARKER).is_file():
        raise VaesepError(f"{bundle_dir}: not made by 'vaesep bundle export'; export it first")
    about = read_yaml(about_path)
    missing = [k for k in ABOUT_KEYS if not about.get(k)]
    if missing:
        raise VaesepError(f"{about_path}: missing {', '.join(missing)}; add them")
    bag = read_bag(bundle_dir) if is_bag(bundle_dir) else None
    parts = [(path, _relative(path, bundle_dir) + "/", w) for path, w in bag or []]
    parts = parts or [(bundle_dir, "", 1.0)]
    checkpoints = {
        f"{prefix}{s}": torch.load(path / f"{s}.pt", map_location="cpu", weights_only=True)
        for path, prefix, _ in parts
        for s in _names(path)
    }
    card = {
        "name": bundle_dir.name,
        **{k: about[k] for k in ABOUT_KEYS},
        "model_type": "bag" if bag else next(iter(checkpoints.values()))["model_type"],
        "parameters": sum(_parameters(c) for c in checkpoints.values()),
        "config": read_yaml(bundle_dir / (BAG_FILE if bag else CONFIG_FILE)),
        "training": {
            f"{prefix}{s}": _training(path / f"{s}.json")
            for path, prefix, _ in parts
            for s in _names(path)
        },
        "metrics": {label: _metrics(Path(d)) for label, d in evaluations.items()},
        "versions": next(iter(checkpoints.values()))["versions"],
        "files": {
            _relative(p, bundle_dir): {"sha256": sha256(p), "bytes": p.stat().st_size}
            for folder in [bundle_dir, *(p for p, _, _ in parts if _outside(p, bundle_dir))]
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (CARD_JSON, CARD_MD)
        },
    }
    if bag:
        card["members"] = [
            {
                "path": prefix.rstrip("/"),
                "weight": w,
                "model_type": checkpoints[f"{prefix}{_names(path)[0]}"]["model_type"],
                "config": read_yaml(path / CONFIG_FILE),
            }
            for path, prefix, w in parts
        ]
    write_text_atomic(bundle_dir / CARD_JSON, json.dumps(card, indent=2) + "\n")
    write_text_atomic(bundle_dir / CARD_MD, card_markdown(card))
    return card


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` (``../x`` where it lies beside it), with slashes."""
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _outside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies outside ``folder`` (links resolved)."""
    return not path.resolve().is_relative_to(folder.resolve())


def _parameters(checkpoint: dict) -> int:
    return sum(v.numel() for v in checkpoint["state_dict"].values() if v.is_floating_point())


def _training(path: Path) -> dict[str, Any]:
    """How one source's network was trained: epochs, seconds and device (its ``.json``)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise VaesepError(f"{path}: missing or unreadable; export the experiment again") from None
    return {k: record[k] for k in ("epochs_run", "best_epoch", "seconds", "device") if k in record}


def _metrics(eval_dir: Path) -> dict[str, Any]:
    path = eval_dir / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise VaesepError(f"{path}: no evaluation summary; run 'vaesep evaluate' first") from None
    found = {k: summary[k] for k in METRICS if summary.get(k) is not None}
    return {**found, "utterances": summary["num_utterances"]}


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people: what the model is, its data and licence, metrics, checksums."""
    metrics = [m for m in METRICS if any(m in row for row in card["metrics"].values())]
    lines = [
        f"# {card['name']}",
        "",
        card["summary"].strip(),
        "",
        f"- model type: `{card['model_type']}`{_members_text(card)}, {card['parameters']:,} "
        "parameters "
        "(float16 weights, float32 compute)",
        f"- training data: {card['training_data'].strip()}",
        f"- licence: {card['licence'].strip()}",
        f"- attribution: {card['attribution'].strip()}",
        f"- reproduce: `{card['command'].strip()}`",
        "- software: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        *_training_line(card.get("training") or {}),
        "",
        "## Metrics (dB; PESQ wide-band MOS-LQO, STOI 0-1)",
        "",
        "| test set | utts | " + " | ".join(METRICS[m] for m in metrics) + " |",
        "|---|---:|" + "---:|" * len(metrics),
    ]
    for label, row in card["metrics"].items():
        cells = [f"{row[m]:.2f}" if m in row else "" for m in metrics]
        lines.append(f"| {label} | {row['utterances']} | " + " | ".join(cells) + " |")
    configs = [("## Config", card["config"])]
    configs += [(f"### {m['path']}", m["config"]) for m in card.get("members", [])]
    for title, config in configs:
        lines += ["", title, "", "```yaml", yaml.safe_dump(config, sort_keys=False) + "```"]
    lines += ["", "## Files (sha256, verified at every load)", ""]
    lines += [f"- `{name}` {f['bytes']:,} B `{f['sha256']}`" for name, f in card["files"].items()]
    return "\n".join(lines) + "\n"


def _members_text(card: dict[str, Any]) -> str:
    """`` of `a` (rnn_mask, weight 1), `b` (...)`` for a bag's card; nothing for one model."""
    members = card.get("members") or []
    listed = (f"`{m['path']}` ({m['model_type']}, weight {m['weight']:g})" for m in members)
    return f" of {', '.join(listed)}" if members else ""


def _training_line(training: dict[str, dict]) -> list[str]:
    """``- training: female 60 epochs (best 54), 484.7 s on cpu; ...`` (nothing when unknown)."""
    parts = [
        f"{source} {t['epochs_run']} epochs"
        + (f" (best {t['best_epoch']})" if "best_epoch" in t else "")
        + f", {t['seconds']:.1f} s on {t.get('device', 'an unrecorded device')}"
        for source, t in training.items()
        if "epochs_run" in t and "seconds" in t
    ]
    return [f"- training: {'; '.join(parts)}"] if parts else []
