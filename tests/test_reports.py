"""Tests of vaesep.reports and the ``evaluate``/``report`` commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vaesep.errors import VaesepError
from vaesep.evaluation import metrics_csv, summarize
from vaesep.metrics import METRICS
from vaesep.reports import collect_results, report, results_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_result(
    out: Path, model: str, gain: float, n_utts: int = 8, seed: int = 0, mix_sar: float = 0.5
) -> Path:
    """A result dir as 'vaesep evaluate' writes it; metrics ``gain`` dB above the mixture's."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_utts):
        for source in ("female", "male"):
            mix = {f"mix_{m}": float(rng.normal(0.5, 2.0)) for m in METRICS}
            mix["mix_sar"] += mix_sar - 0.5
            ours = {m: mix[f"mix_{m}"] + gain + float(rng.normal(0, 1)) for m in METRICS}
            rows.append(
                {
                    "utt_id": f"utt{i}",
                    "source": source,
                    **ours,
                    "sdri": ours["sdr"] - mix["mix_sdr"],
                    "si_sdri": ours["si_sdr"] - mix["mix_si_sdr"],
                    **mix,
                }
            )
    out.mkdir(parents=True)
    (out / "metrics.csv").write_text(metrics_csv(rows))
    summary = {**summarize(rows), "model": model, "data": "/data/test", "failed": {}}
    (out / "summary.json").write_text(json.dumps(summary))
    return out


@pytest.fixture
def two_results(tmp_path: Path) -> list[Path]:
    return [
        fake_result(tmp_path / "exp" / "vae" / "eval", "vae", 6.0, seed=1),
        fake_result(tmp_path / "exp" / "itl_ae" / "eval", "itl_ae", 4.0, seed=2),
    ]


def test_report_writes_table_csv_and_plot(tmp_path: Path, two_results: list[Path]) -> None:
    out = tmp_path / "report"
    markdown = report(two_results, out, title="Female/male test")
    text = (out / "RESULTS.md").read_text()
    assert text.startswith("# Female/male test")
    assert "/data/test" in text and "8 utterances" in text
    assert markdown in text
    table_lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert [line.split("|")[1].strip() for line in table_lines] == [
        "model",
        "mixture",
        "vae",
        "itl_ae",
    ]
    with (out / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["mixture", "vae", "itl_ae"]
    assert float(rows[1]["sdr_mean"]) > float(rows[2]["sdr_mean"]) > float(rows[0]["sdr_mean"])
    assert float(rows[0]["sdri_mean"]) == 0.0
    png = (out / "violins.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000


def test_table_means_and_medians_ignore_nan(tmp_path: Path) -> None:
    result_dir = fake_result(tmp_path / "r", "vae", 5.0, n_utts=3)
    lines = (result_dir / "metrics.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[2:6] = ["nan"] * 4
    lines[1] = ",".join(cells)
    (result_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    [result] = collect_results([result_dir])
    table = results_table([result])
    sdr = np.array([r["sdr"] for r in result.rows])
    assert table[1]["sdr_mean"] == pytest.approx(np.nanmean(sdr))
    assert table[1]["sdr_median"] == pytest.approx(np.nanmedian(sdr))
    mix_sar = [r["mix_sar"] for r in result.rows]
    assert table[0]["sar_mean"] == pytest.approx(np.mean(mix_sar))


def test_sweep_names_settings_by_dir(tmp_path: Path) -> None:
    dirs = [
        fake_result(tmp_path / "sweep" / "E_16_8", "vae", 6.0, seed=1),
        fake_result(tmp_path / "sweep" / "A_64_16", "vae", 3.0, seed=2, n_utts=1),
    ]
    assert [r.name for r in collect_results(dirs)] == [
        f"vae ({dirs[0]})",
        f"vae ({dirs[1]})",
    ], "clashing model names get their dir"
    markdown = report(dirs, tmp_path / "out", sweep="STFT window/overlap (ms)")
    assert "| E_16_8 |" in markdown and "| A_64_16 |" in markdown
    assert (tmp_path / "out" / "violins.png").read_bytes().startswith(PNG_MAGIC)
    # As the recipe lays a sweep out: <setting>/eval, the setting names the row.
    nested = [
        fake_result(tmp_path / "s2" / "E_16_8" / "eval", "E_16_8", 6.0, seed=1),
        fake_result(tmp_path / "s2" / "A_64_16" / "eval", "A_64_16", 3.0, seed=2),
    ]
    assert [r.name for r in collect_results(nested, by_dir=True)] == ["E_16_8", "A_64_16"]


def test_exact_mixture_sar_is_noted_not_plotted(tmp_path: Path) -> None:
    dirs = [fake_result(tmp_path / "vae", "vae", 6.0, mix_sar=150.0)]
    report(dirs, tmp_path / "out")
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "mixture's SAR (> 100 dB) only measures numerical precision" in text
    assert (tmp_path / "out" / "violins.png").read_bytes().startswith(PNG_MAGIC)


def test_report_refuses_to_overwrite_without_force(tmp_path: Path, two_results: list[Path]) -> None:
    report(two_results, tmp_path / "out")
    with pytest.raises(VaesepError, match="RESULTS.md"):
        report(two_results, tmp_path / "out")
    report(two_results, tmp_path / "out", force=True)


def test_missing_metrics_is_an_error(tmp_path: Path, two_results: list[Path]) -> None:
    (two_results[1] / "metrics.csv").unlink()
    with pytest.raises(VaesepError, match=f"{two_results[1]}: no metrics.csv"):
        report(two_results, tmp_path / "out")
    (two_results[0] / "summary.json").unlink()
    with pytest.raises(VaesepError, match=f"{two_results[0]}: no summary.json"):
        collect_results(two_results[:1])


def test_bad_metrics_file_is_an_error(tmp_path: Path, two_results: list[Path]) -> None:
    (two_results[0] / "metrics.csv").write_text("utt_id,source,sdr\nu,female,1.0\n")
    with pytest.raises(VaesepError, match="missing column"):
        collect_results(two_results)


# --- command line --------------------------------------------------------------------------


def run_cli(*args: str):
    from vaesep.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_report_defaults_to_the_common_parent(two_results: list[Path]) -> None:
    result = run_cli("report", *map(str, two_results), "--title", "T")
    assert result.exit_code == 0, result.output
    assert "| mixture |" in result.stdout and "| itl_ae |" in result.stdout
    parent = two_results[0].parent.parent
    assert (parent / "RESULTS.md").is_file() and (parent / "violins.png").is_file()


def test_cli_errors_are_one_line_exit_2(tmp_path: Path, two_results: list[Path]) -> None:
    (two_results[0] / "summary.json").write_text("{not json")
    for args in (
        ("report", *map(str, two_results), "--out-dir", str(tmp_path / "o")),
        ("report", str(tmp_path / "nowhere")),
        (
            "evaluate",
            "--model",
            str(tmp_path / "no_exp"),
            "--data",
            str(tmp_path),
            "--out-dir",
            str(tmp_path / "e"),
        ),
    ):
        result = run_cli(*args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("vaesep: error: ")
        assert "Traceback" not in result.output


def _with_perceptual(result: Path, pesq: float) -> Path:
    """Add PESQ/STOI columns (and their mixture values) to a fake result's metrics.csv."""
    with (result / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.update(pesq=pesq, stoi=0.9, mix_pesq=1.1, mix_stoi=0.7)
    with (result / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return result


def test_table_shows_pesq_and_stoi_only_when_every_result_has_them(
    tmp_path: Path, two_results: list[Path]
) -> None:
    _with_perceptual(two_results[0], 2.5)
    partial = results_table(collect_results(two_results))
    assert "pesq_mean" not in partial[0]
    _with_perceptual(two_results[1], 1.5)
    markdown = report(two_results, tmp_path / "report")
    assert markdown.splitlines()[0].endswith("| PESQ | STOI |")
    rows = {line.split(" | ")[0][2:]: line for line in markdown.splitlines()[2:]}
    assert rows["mixture"].endswith("| 1.10 / 1.10 | 0.70 / 0.70 |")
    assert rows["vae"].endswith("| 2.50 / 2.50 | 0.90 / 0.90 |")
    assert "PESQ: wide-band" in (tmp_path / "report" / "RESULTS.md").read_text()
