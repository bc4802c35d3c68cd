"""CLI: ``vaesep prepare timit|librispeech|manifest`` and ``synth-corpus`` errors and help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import Result

from vaesep.cli import app
from vaesep.data.datadir import load_datadir

SMALL = ["--num-train", "6", "--num-test", "2"]


def _assert_user_error(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaesep: error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_prepare_timit(corpus_cli, corpus_timit: Path, tmp_path: Path) -> None:
    result = corpus_cli(["prepare", "timit", corpus_timit, tmp_path / "mf", *SMALL, "--snr", "3"])
    assert result.exit_code == 0, result.output
    assert "train: 6 mixtures" in result.stdout and "test: 2 mixtures" in result.stdout
    assert "resampling them to 16000 Hz" in result.stderr  # FTST1 is at 8 kHz
    assert len(load_datadir(tmp_path / "mf" / "train").mixtures) == 6
    info = json.loads((tmp_path / "mf" / "prepare.json").read_text())
    assert info["options"]["snr_db"] == 3.0 and info["options"]["crop"] is None


def test_prepare_librispeech_crops_by_default(
    corpus_cli, corpus_librispeech: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ls"
    result = corpus_cli(["prepare", "librispeech", corpus_librispeech, out, *SMALL, "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "skipped 2 files" in result.stdout
    info = json.loads((out / "prepare.json").read_text())
    assert info["options"]["crop"] == [2.0, 4.0] and info["split_from"] == "corpus"
    assert info["splits"]["test"]["female_speakers"] == ["1688"]
    result = corpus_cli(
        ["prepare", "librispeech", corpus_librispeech, tmp_path / "ls2", *SMALL]
        + ["--test-subsets", "", "--snr-range", "-5", "5", "--crop", "off", "--length", "max"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "ls2" / "prepare.json").read_text())
    assert info["split_from"] == "speakers" and info["options"]["snr_range"] == [-5.0, 5.0]


def test_prepare_manifest(corpus_cli, corpus_manifest: Path, tmp_path: Path) -> None:
    result = corpus_cli(["prepare", "manifest", corpus_manifest, tmp_path / "m", *SMALL])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "m" / "prepare.json").read_text())
    assert info["split_from"] == "speakers" and info["corpus"]["type"] == "manifest"


def test_prepare_errors(
    corpus_cli, corpus_timit: Path, corpus_manifest: Path, corpus_make_timit, tmp_path: Path
) -> None:
    _assert_user_error(
        corpus_cli(["prepare", "timit", tmp_path / "nope", tmp_path / "o"]), "no such directory"
    )
    only_f = corpus_make_timit(
        tmp_path / "f", {"FAAA0": ("train", "DR1"), "FBBB0": ("test", "DR1")}
    )
    _assert_user_error(
        corpus_cli(["prepare", "timit", only_f, tmp_path / "o"]), "no male speakers found"
    )
    _assert_user_error(
        corpus_cli(["prepare", "timit", corpus_timit, tmp_path / "o", "--max-uses", "1"]),
        "train split: 80 mixtures need more utterances: found 15 female and 15 male",
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    _assert_user_error(
        corpus_cli(["prepare", "timit", corpus_timit, tmp_path / "full", *SMALL]),
        "exists and is not empty; pass --force",
    )
    assert (
        corpus_cli(
            ["prepare", "timit", corpus_timit, tmp_path / "full", *SMALL, "--force"]
        ).exit_code
        == 0
    )
    _assert_user_error(
        corpus_cli(["prepare", "timit", corpus_timit, tmp_path / "o", "--crop", "4-2"]), "--crop"
    )
    bad = corpus_manifest.parent / "bad.csv"
    bad.write_text("path,speaker,gender\naudio/anna/0.wav,anna,female\naudio/dave/0.wav,dave,boy\n")
    _assert_user_error(
        corpus_cli(["prepare", "manifest", bad, tmp_path / "o"]), "bad.csv:3: gender 'boy'"
    )
    bad.write_text("file,speaker,gender\n")
    _assert_user_error(
        corpus_cli(["prepare", "manifest", bad, tmp_path / "o"]), "missing column(s) path"
    )


def test_unreadable_file_is_skipped_and_counted(
    corpus_cli, corpus_timit: Path, tmp_path: Path
) -> None:
    (corpus_timit / "TRAIN" / "DR1" / "MDAB0" / "SX2.WAV").write_bytes(b"\0" * 10)
    result = corpus_cli(["prepare", "timit", corpus_timit, tmp_path / "o", "--num-train", "15"])
    assert result.exit_code == 0, result.output
    assert "skipping" in result.stderr and "SX2.WAV" in result.stderr
    assert "skipped 1 files" in result.stdout
    info = json.loads((tmp_path / "o" / "prepare.json").read_text())
    assert info["num_skipped"] == 1 and info["skipped"][0]["path"].endswith("MDAB0/SX2.WAV")


def test_synth_corpus_refuses_a_non_empty_dir_and_names_missing_tools(
    corpus_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "x").write_text("x")
    _assert_user_error(corpus_cli(["synth-corpus", tmp_path]), "exists and is not empty")
    monkeypatch.setattr("vaesep.data.corpora.synth.shutil.which", lambda name: None)
    _assert_user_error(
        corpus_cli(["synth-corpus", tmp_path / "new"]), "apt-get install espeak-ng flite"
    )
    _assert_user_error(
        corpus_cli(["synth-corpus", tmp_path / "new", "--speakers-per-gender", "1"]),
        "--speakers-per-gender must be 2 to 100",
    )


@pytest.mark.parametrize(
    "command",
    [["synth-corpus"], ["prepare", "timit"], ["prepare", "librispeech"], ["prepare", "manifest"]],
)
def test_every_option_has_help(corpus_cli, command: list[str]) -> None:
    cmd = typer.main.get_command(app)
    for name in command:
        cmd = cmd.commands[name]
    assert cmd.help
    for param in cmd.params:
        assert getattr(param, "help", None), f"{param.name} has no help"
    result = corpus_cli([*command, "--help"])
    assert result.exit_code == 0 and "--seed" in result.stdout


def test_version_is_the_packages():
    from cli_helpers import run

    import vaesep

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"vaesep {vaesep.__version__}"


def _command_paths(command, path=()):
    """Every command and group of the CLI, as the words that name it."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


def test_help_shows_flags_plainly_and_arguments_in_upper_case() -> None:
    from cli_helpers import run

    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("separate",) in paths and ("prepare", "manifest") in paths
    for path in paths:
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.stdout, path  # a flag takes no value
        usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
        assert "{" not in usage and "}" not in usage, usage
        arguments = usage.split("[OPTIONS]")[1].split()
        for word in arguments:
            assert word.strip("[].") == word.strip("[].").upper(), usage
    separate = " ".join(run("separate", "--help").stdout.split())
    assert "Usage: vaesep separate [OPTIONS] INPUTS..." in separate
    assert "--force Overwrite existing outputs." in separate
    models = " ".join(run("models", "--help").stdout.split())
    assert "Usage: vaesep models [OPTIONS] [NAME]" in models
    assert "Missing argument 'INPUTS...'" in run("separate").output


def test_a_reader_leaving_the_pipe_ends_the_command_quietly() -> None:
    """'vaesep models | head -1': the writer's broken pipe is exit 141 with nothing on stderr."""
    import subprocess
    import sys

    script = (
        "import typer\n"
        "from vaesep.cli._common import user_errors\n"
        "@user_errors\n"
        "def models():\n"
        "    typer.echo('a line')\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "typer.run(models)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 141
    assert done.stderr == ""
    assert done.stdout == "a line\n"


def test_help_paragraphs_are_reflowed_to_the_terminal() -> None:
    """A docstring's line breaks inside a paragraph are not kept (Typer keeps them after the
    first paragraph, which wraps them mid-sentence on any terminal wider or narrower)."""
    command = typer.main.get_command(app)
    for name in ("separate", "evaluate", "run"):
        text = command.commands[name].help
        paragraphs = text.split("\n\n")
        assert len(paragraphs) >= 2, name
        assert all("\n" not in p and "  " not in p for p in paragraphs), name
