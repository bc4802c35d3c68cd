"""Running the CLI in-process and checking its one-line user errors (shared by the tests)."""

from typer.testing import CliRunner, Result

from vaesep.cli import app


def run(*args: object) -> Result:
    """``vaesep ARGS...`` in-process; arguments are turned into strings."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_user_error(result: Result, needle: str) -> None:
    """Exit code 2 and exactly one stderr line, holding ``needle``; no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.output
