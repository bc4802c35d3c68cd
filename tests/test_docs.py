"""The README and the docs pages: short README, relative links that resolve, the quickstart's
two commands, every page in the site's nav, and the README's tables equal to the docs' ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 250

FENCE = re.compile(r"^ *```.*?^ *```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text without code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links_in(text: str) -> list[str]:
    """Relative link targets of Markdown text (not URLs, not anchors of the same page)."""
    targets = LINK.findall(prose(text))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def relative_links(path: Path) -> list[str]:
    return links_in(path.read_text(encoding="utf-8"))


def test_links_are_found_in_prose_only():
    text = "[a](x.md) `[b](y.md)` ![c](z.png)\n```\n[d](w.md)\n```\n[e](https://e.org) [f](#g)"
    assert links_in(text + ' [h](v.md#i "title")') == ["x.md", "z.png", "v.md#i"]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_readme_keeps_the_quickstart():
    text = README.read_text(encoding="utf-8")
    for command in ("make demo", "make test", "make docs", "vaesep separate mix.wav"):
        assert command in text, command


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path):
    links = relative_links(page)
    missing = [t for t in links if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name}: links to missing files: {missing}"


def test_readme_links_into_the_docs():
    linked = {t.split("#")[0] for t in relative_links(README)}
    assert "docs/index.md" in linked and "docs/install.md" in linked


def test_every_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s*- [^:\n]+: ([\w./-]+\.md)\s*$", config, re.M))
    assert nav == {p.name for p in DOCS}


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"\| [\w-]+ \| .*\d", line)]


def test_readme_tables_equal_the_results_page():
    rows = table_rows(README.read_text(encoding="utf-8"))
    results = set((ROOT / "docs" / "results.md").read_text(encoding="utf-8").splitlines())
    assert len(rows) >= 30  # the study's table and the bundled models' (0 dB rows)
    assert [r for r in rows if r not in results] == []
