"""CLI command for the configs shipped inside the package: ``configs`` (list, print one)."""

from __future__ import annotations

import typer

from vaesep.cli._common import fail, user_errors


def register(app: typer.Typer) -> None:
    """Add the config-catalogue command to ``app``."""
    app.command("configs")(configs)


@user_errors
def configs(
    name: str | None = typer.Argument(
        None, help="A shipped config: print its YAML (e.g. 'vaesep configs vae > my.yaml')."
    ),
) -> None:
    """List the shipped configs (the names --config takes), or print one of them."""
    from vaesep.zoo import configs as shipped

    if name is not None:
        typer.echo(shipped.config_path(name).read_text(encoding="utf-8"), nl=False)
        return
    listed = shipped.names()
    if not listed:
        raise fail(f"{shipped.SHIPPED}: no shipped configs installed; reinstall vaesep")
    described = {config: shipped.describe(config) for config in listed}
    width = max(map(len, listed))
    type_width = max(len(model_type) for model_type, _ in described.values())
    for config, (model_type, description) in described.items():
        typer.echo(f"{config:<{width}}  {model_type:<{type_width}}  {description}".rstrip())
