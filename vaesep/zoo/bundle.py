"""Making a bundled model (:mod:`vaesep.zoo.pretrained`) from a trained experiment dir.

Two steps, so that a card's metrics are those of the files it describes:
:func:`export` copies what separation reads, weights rounded to float16 (half the bytes; the
network still computes in float32), then the export is evaluated like any experiment dir, and
:func:`write_card` writes ``card.json`` and ``card.md`` from an ``about`` YAML (description,
training data, licence, attribution, the reproducing command) and those evaluations.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from vaesep.config import read_yaml, save_config
from vaesep.data.datadir import DEFAULT_SOURCES, check_replaceable, replacing
from vaesep.errors import VaesepError
from vaesep.expdir import COMMAND_FILE, CONFIG_FILE, STATS_FILE, atomic_save, load, with_settings
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
) -> Path:
    """Copy an experiment dir's config, statistics and models into ``out_dir``, float weights
    in float16; nothing half-written is left. ``overrides`` (``key=value``) change separation
    settings in the exported config, as ``vaesep separate --set`` would (e.g.
    ``features.input_level_db=-23``). Returns ``out_dir``."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    names = _names(exp_dir) if (exp_dir / CONFIG_FILE).is_file() else DEFAULT_SOURCES
    files = [CONFIG_FILE, STATS_FILE, *(f"{s}{ext}" for s in names for ext in (".pt", ".json"))]
    for file in files:
        if not (exp_dir / file).is_file():
            raise VaesepError(f"{exp_dir / file}: missing; pass a finished experiment dir")
    config = with_settings(load(exp_dir, SECTIONS), overrides).config if overrides else None
    check_replaceable(out_dir, EXPORT_MARKER, "vaesep bundle export", force)
    with replacing(out_dir) as tmp:
        for file in files:
            if file.endswith(".pt"):
                atomic_save(_halved(exp_dir / file), tmp / file)
            elif file == CONFIG_FILE and config is not None:
                save_config(config, tmp / file)
            else:
                shutil.copyfile(exp_dir / file, tmp / file)
        if (exp_dir / COMMAND_FILE).is_file():
            shutil.copyfile(exp_dir / COMMAND_FILE, tmp / COMMAND_FILE)
        marker = {"exported_from": str(exp_dir), "weights": "float16"}
        (tmp / EXPORT_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return out_dir


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
    checkpoints = [
        torch.load(bundle_dir / f"{s}.pt", map_location="cpu", weights_only=True)
        for s in _names(bundle_dir)
    ]
    card = {
        "name": bundle_dir.name,
        **{k: about[k] for k in ABOUT_KEYS},
        "model_type": checkpoints[0]["model_type"],
        "parameters": sum(
            v.numel()
            for c in checkpoints
            for v in c["state_dict"].values()
            if v.is_floating_point()
        ),
        "config": read_yaml(bundle_dir / CONFIG_FILE),
        "training": {s: _training(bundle_dir / f"{s}.json") for s in _names(bundle_dir)},
        "metrics": {label: _metrics(Path(d)) for label, d in evaluations.items()},
        "versions": checkpoints[0]["versions"],
        "files": {
            p.name: {"sha256": sha256(p), "bytes": p.stat().st_size}
            for p in sorted(bundle_dir.iterdir())
            if p.is_file() and p.name not in (CARD_JSON, CARD_MD)
        },
    }
    write_text_atomic(bundle_dir / CARD_JSON, json.dumps(card, indent=2) + "\n")
    write_text_atomic(bundle_dir / CARD_MD, card_markdown(card))
    return card


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
        f"- model type: `{card['model_type']}`, {card['parameters']:,} parameters "
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
    lines += ["", "## Config", "", "```yaml", yaml.safe_dump(card["config"], sort_keys=False)]
    lines += ["```", "", "## Files (sha256, verified at every load)", ""]
    lines += [f"- `{name}` {f['bytes']:,} B `{f['sha256']}`" for name, f in card["files"].items()]
    return "\n".join(lines) + "\n"


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
