"""CLI commands for trained models as files: ``models`` (list, show a card), ``bundle`` (make
one), ``export`` (the networks as ONNX)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from vaesep.cli._common import fail, user_errors
from vaesep.cli._help import Typer

bundle_app = Typer(
    help="Make a bundled model from an experiment dir: export it, evaluate it, write its card.",
    no_args_is_help=True,
)
HEADLINE = "librispeech test-other, 0 dB"  # the metric row 'vaesep models' shows


def register(app: typer.Typer) -> None:
    """Add the model-catalogue commands to ``app``."""
    app.command("models")(models)
    app.command("export")(export_onnx_command)
    app.add_typer(bundle_app, name="bundle")


@user_errors
def models(
    name: str | None = typer.Argument(None, help="A bundled model: print its model card."),
    config: bool = typer.Option(
        False,
        "--config",
        help="Print the bundled model's training config instead (a bag: each member's; to "
        "fine-tune it: training.init_from=NAME, or to retrain it).",
    ),
) -> None:
    """List the bundled models (the default first), or print one model's card or config."""
    from vaesep.expdir import CONFIG_FILE, is_bag, read_bag
    from vaesep.zoo import pretrained

    if config and name is None:
        raise fail("--config prints a bundled model's config: name the model (vaesep models)")
    if name is not None:
        directory = pretrained.verified_dir(name)
        if config and is_bag(directory):  # a bag: each member's config, under its name
            for path, _ in read_bag(directory):  # named from the bundled dir: a member
                text = (path / CONFIG_FILE).read_text()  # may be another bundle (--reuse)
                where = Path(os.path.relpath(path.resolve(), pretrained.BUNDLED.resolve()))
                typer.echo(f"# {where.as_posix()}/{CONFIG_FILE}\n{text}", nl=False)
            return
        shown = CONFIG_FILE if config else pretrained.CARD_MD
        typer.echo(directory.joinpath(shown).read_text(), nl=False)
        return
    listed = pretrained.names()
    if not listed:
        raise fail(f"{pretrained.BUNDLED}: no bundled models installed; reinstall vaesep")
    for model in listed:
        card = pretrained.card(model)
        row = card["metrics"].get(HEADLINE, {})
        sdr = f"SDR {row['sdr']:.2f} dB on {HEADLINE}" if "sdr" in row else "no LibriSpeech score"
        mark = " (default)" if model == pretrained.DEFAULT else ""
        typer.echo(f"{model}{mark}: {card['model_type']}, {card['parameters']:,} parameters, {sdr}")
        typer.echo(f"    {' '.join(card['summary'].split())}")


@bundle_app.command("export")
@user_errors
def export_command(
    exp_dir: Path = typer.Argument(
        ..., help="Experiment dir written by 'vaesep train', or a bag dir (bag.yaml)."
    ),
    out_dir: Path = typer.Argument(..., help="Bundle dir to write (e.g. vaesep/zoo/bundled/NAME)."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier export."),
    overrides: list[str] = typer.Option(
        [],
        "--set",
        help="A separation setting of the export, e.g. --set features.input_level_db=-23.",
    ),
    reuse: list[Path] = typer.Option(
        [],
        "--reuse",
        help="A bundle dir a bag's member may equal (same config, statistics and float16 "
        "weights): the bag references it instead of a copy (repeatable).",
    ),
) -> None:
    """Copy what separation reads, weights in float16 (a bag: each member into a subdir, or a
    reference to an equal --reuse bundle); then evaluate OUT_DIR as a --model."""
    from vaesep.config import read_yaml
    from vaesep.expdir import BAG_FILE
    from vaesep.zoo.bundle import export

    export(exp_dir, out_dir, force=force, overrides=overrides, reuse=reuse)
    members = read_yaml(out_dir / BAG_FILE)["members"] if (out_dir / BAG_FILE).is_file() else []
    listed = ", ".join(m["path"] for m in members)
    typer.echo(f"wrote {out_dir}" + (f" (members: {listed})" if listed else ""))


@bundle_app.command("card")
@user_errors
def card_command(
    bundle_dir: Path = typer.Argument(..., help="A dir written by 'vaesep bundle export'."),
    about: Path = typer.Option(
        ..., "--about", help="YAML: summary, training_data, licence, attribution, command."
    ),
    evaluations: list[str] = typer.Option(
        [], "--eval", help="LABEL=DIR: an 'evaluate' output dir of this export (repeatable)."
    ),
) -> None:
    """Write card.json and card.md (metrics, versions, sha256 of every file)."""
    from vaesep.zoo.bundle import write_card

    parsed = {}
    for item in evaluations:
        label, sep, directory = item.partition("=")
        if not sep or not label or not directory:
            raise fail(f"--eval {item}: expected LABEL=DIR, e.g. --eval 'test, 0 dB=exp/x/eval'")
        parsed[label] = Path(directory)
    card = write_card(bundle_dir, about, parsed)
    size = sum(f["bytes"] for f in card["files"].values())
    typer.echo(f"wrote {bundle_dir}/card.json and card.md ({len(card['files'])} files, {size:,} B)")


@user_errors
def export_onnx_command(
    model: str = typer.Argument(..., help="A bundled model's name or an experiment dir."),
    onnx: Path = typer.Option(..., "--onnx", help="Dir to write the ONNX graphs into."),
    int8: bool = typer.Option(False, "--int8", help="Also write dynamically quantized graphs."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier export."),
) -> None:
    """Write each source's network as DIR/<source>.onnx (STFT, features and masks stay out:
    DIR/onnx.json says what goes in and out), checked against torch on an example."""
    from vaesep.separation.onnx_export import export_onnx
    from vaesep.zoo.pretrained import resolve_model

    manifest = export_onnx(resolve_model(model), onnx, int8=int8, force=force)
    checks = manifest["deviation_from_torch"]
    worst = max(check["float32"] for check in checks.values())
    typer.echo(
        f"wrote {onnx}: {', '.join(manifest['files'])} (onnxruntime within {worst:.1e} of "
        "torch, relative)"
    )
