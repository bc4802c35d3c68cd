"""Tests of vaesep.scoring.reports and the ``evaluate``/``report`` commands."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import t as scipy_t
from typer.testing import CliRunner

from vaesep.errors import VaesepError
from vaesep.scoring.evaluation import metrics_csv, summarize
from vaesep.scoring.metrics import METRICS
from vaesep.scoring.pooling import per_mixture
from vaesep.scoring.reports import collect_results, report, results_table
from vaesep.scoring.stats import mean_ci

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
    assert rows["mixture"].endswith("| 1.10 ± 0.00 / 1.10 | 0.70 ± 0.00 / 0.70 |")
    assert rows["vae"].endswith("| 2.50 ± 0.00 / 2.50 | 0.90 ± 0.00 / 0.90 |")
    assert "PESQ: wide-band" in (tmp_path / "report" / "RESULTS.md").read_text()


# --- seeds, pooling, intervals and claims ---------------------------------------------------


def write_eval(out: Path, model: str, sdr: dict[str, float], **summary: Any) -> Path:
    """An eval dir in which mixture ``utt`` scores ``sdr[utt]`` on average (female 1 dB above,
    male 1 dB below) in every metric; the mixture itself 0 dB (female 0.5, male -0.5)."""
    rows = []
    for utt, value in sdr.items():
        for source, offset in (("female", 1.0), ("male", -1.0)):
            ours = {m: value + offset for m in METRICS}
            mix = {f"mix_{m}": offset / 2 for m in METRICS}
            gains = {"sdri": value + offset / 2, "si_sdri": value + offset / 2}
            rows.append({"utt_id": utt, "source": source, **ours, **gains, **mix})
    out.mkdir(parents=True)
    (out / "metrics.csv").write_text(metrics_csv(rows))
    full = {**summarize(rows), "model": model, "data": "/data/test", "failed": {}, **summary}
    (out / "summary.json").write_text(json.dumps(full))
    return out


def _values(n: int, mean: float, spread: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {f"utt{i:02d}": mean + spread * float(rng.standard_normal()) for i in range(n)}


def test_pooled_dir_names_seeds_groups_and_prefixes_clashing_utts(tmp_path: Path) -> None:
    wgan = tmp_path / "exp" / "wgan"
    write_eval(wgan / "p01" / "seed0" / "eval", "m", {"u0": 1.0, "u1": 2.0})
    write_eval(wgan / "p01" / "seed1" / "eval", "m", {"u0": 3.0, "u1": 4.0})
    write_eval(wgan / "p02" / "run" / "eval", "m", {"u0": 5.0, "only": 6.0}, seed=7)
    (wgan / "notes").mkdir()  # neither an eval dir nor holding one: ignored
    [result] = collect_results([wgan])
    assert result.name == "wgan" and result.pooled
    assert result.summary["seeds"] == [0, 1, 7] and len(result.summary["eval_dirs"]) == 3
    runs = {(r["group"], r["seed"]) for r in result.rows}
    assert runs == {("p01", 0), ("p01", 1), ("p02/run", 7)}, "seed from the path or summary"
    utts = {r["utt_id"] for r in result.rows}
    assert sorted(utts) == ["only", "p01/u0", "p02/run/u0", "u1"], "prefixed where they clash"
    assert result.summary["num_utterances"] == 4
    ids, sdr = per_mixture(result.rows, "sdr")
    assert dict(zip(ids, sdr)) == pytest.approx(
        {"only": 6.0, "p01/u0": 2.0, "u1": 3.0, "p02/run/u0": 5.0}
    ), "each mixture averaged over its sources and seeds"


def test_plain_eval_dir_takes_its_seed_from_the_summary_or_0(tmp_path: Path) -> None:
    seeded = write_eval(tmp_path / "a" / "seed3" / "eval", "a", {"u0": 1.0}, seed=5)
    plain = write_eval(tmp_path / "b" / "seed3" / "eval", "b", {"u0": 1.0})
    a, b = collect_results([seeded, plain])
    assert (a.name, b.name) == ("a", "b") and not a.pooled
    assert {r["seed"] for r in a.rows} == {5} and {r["seed"] for r in b.rows} == {0}


def test_pooling_errors(tmp_path: Path) -> None:
    write_eval(tmp_path / "x" / "p01" / "seed0" / "eval", "m", {"u0": 1.0})
    write_eval(tmp_path / "x" / "p01" / "eval", "m", {"u0": 1.0}, seed=0)
    with pytest.raises(VaesepError, match="same group 'p01' and seed 0"):
        collect_results([tmp_path / "x"])
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(VaesepError, match="no metrics.csv, nor eval dirs .* below it"):
        collect_results([tmp_path / "empty"])


def test_single_seed_table_keeps_its_means_and_adds_intervals(tmp_path: Path) -> None:
    result_dir = fake_result(tmp_path / "r", "vae", 5.0, n_utts=6)
    [result] = collect_results([result_dir])
    mixture, row = results_table([result])
    for metric in ("sdr", "sar", "sdri"):
        values = np.array([r[metric] for r in result.rows])
        assert row[f"{metric}_mean"] == float(values.mean()), "over utterance × source rows"
        assert row[f"{metric}_median"] == float(np.median(values))
        sd = values.reshape(6, 2).mean(axis=1).std(ddof=1)  # over the 6 mixtures
        assert row[f"{metric}_ci95"] == pytest.approx(scipy_t.ppf(0.975, 5) * sd / math.sqrt(6))
    assert (row["num_seeds"], row["sdr_seed_sd"], row["sdr_seed_ci95"]) == (1, None, None)
    assert mixture["sdr_ci95"] is not None and mixture["num_seeds"] == 1


def test_pooled_table_counts_seeds_and_their_spread(tmp_path: Path) -> None:
    base = _values(5, 3.0, 1.0, seed=0)
    for seed, shift in enumerate((0.0, 1.0, 2.0)):
        write_eval(
            tmp_path / "wgan" / f"seed{seed}" / "eval", "w", {u: v + shift for u, v in base.items()}
        )
    results = collect_results([tmp_path / "wgan"])
    mixture, row = results_table(results)
    assert row["num_utterances"] == 5 and row["num_seeds"] == 3
    assert row["sdr_seed_sd"] == pytest.approx(1.0), "SD of the seed means 3+m, 4+m, 5+m"
    assert row["sdr_seed_ci95"] == pytest.approx(scipy_t.ppf(0.975, 2) / math.sqrt(3))
    assert row["sdr_mean"] == pytest.approx(np.mean(list(base.values())) + 1.0, abs=1e-3)
    _, half = mean_ci([v + 1.0 for v in base.values()])
    assert row["sdr_ci95"] == pytest.approx(half, abs=1e-3)
    assert mixture["num_utterances"] == 5 and mixture["num_seeds"] == 1, "mixtures once"
    markdown = report([tmp_path / "wgan"], tmp_path / "out")
    assert f"| wgan | 5 | 3 | {row['sdr_mean']:.2f} ± {half:.2f} / " in markdown
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "95 % Student-t confidence interval over mixtures" in text
    assert "(3 eval dirs, seeds 0, 1, 2)" in text and "## Claims" not in text
    with (tmp_path / "out" / "results.csv").open(newline="") as f:
        wgan = list(csv.DictReader(f))[1]
    assert wgan["num_seeds"] == "3" and float(wgan["sdr_seed_sd"]) == pytest.approx(1.0)
    assert float(wgan["sdr_ci95"]) == pytest.approx(half, abs=1e-4)
    assert (tmp_path / "out" / "violins.png").read_bytes().startswith(PNG_MAGIC)


@pytest.fixture
def claim_dirs(tmp_path: Path) -> list[Path]:
    """nmf; wgan 2 dB above it (two seeds); close to nmf within 0.1 dB; noisy around nmf."""
    nmf = _values(20, 4.0, 2.0, seed=0)
    offsets = {"close": _values(20, 0.0, 0.1, seed=2), "noisy": _values(20, 0.0, 5.0, seed=3)}
    for seed, extra in enumerate((1.5, 2.5)):
        path = tmp_path / "exp" / "wgan" / "p01" / f"seed{seed}" / "eval"
        write_eval(path, "wgan", {u: v + extra for u, v in nmf.items()})
    dirs = [tmp_path / "exp" / "wgan", write_eval(tmp_path / "exp" / "nmf" / "eval", "nmf", nmf)]
    for name, offset in offsets.items():
        values = {u: v + offset[u] for u, v in nmf.items()}
        dirs.append(write_eval(tmp_path / "exp" / name / "eval", name, values))
    return dirs


def test_claims_get_verdicts_lines_and_csv(tmp_path: Path, claim_dirs: list[Path]) -> None:
    claims = {
        "wgan>nmf:sdr": "supported",
        "nmf > wgan : SDR": "contradicted",
        "wgan<nmf:si-sdr": "contradicted",
        "mixture<nmf:sdr": "supported",
        "noisy>nmf:sdr": "not resolved",
        "close=nmf:sdr": "supported",
        "wgan=nmf:sdr": "contradicted",
        "noisy=nmf:sdr": "not resolved",
    }
    out = tmp_path / "out"
    options = [arg for claim in claims for arg in ("--claim", claim)]
    result = run_cli("report", *map(str, claim_dirs), "--out-dir", str(out), *options)
    assert result.exit_code == 0, result.output
    line = "wgan > nmf (SDR): +2.00 dB [2.00, 2.00], n = 20 mixtures: supported"
    assert line in result.stdout and "claims.csv" in result.stdout
    text = (out / "RESULTS.md").read_text()
    assert "## Claims" in text and "equivalence margin 0.5 dB" in text and f"- {line}" in text
    assert "- close ≈ nmf (SDR): " in text and "- mixture < nmf (SDR): -" in text
    with (out / "claims.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["verdict"] for r in rows] == list(claims.values())
    noisy = rows[4]
    assert [noisy[k] for k in ("a", "relation", "b", "metric")] == ["noisy", ">", "nmf", "sdr"]
    nmf, noisy_result = collect_results([claim_dirs[1], claim_dirs[3]])
    diff = per_mixture(noisy_result.rows, "sdr")[1] - per_mixture(nmf.rows, "sdr")[1]
    mean, half = mean_ci(diff)
    assert noisy["n"] == "20" and float(noisy["mean_diff"]) == pytest.approx(mean, abs=1e-4)
    assert float(noisy["ci95_low"]) == pytest.approx(mean - half, abs=1e-4)
    assert float(noisy["ci95_high"]) == pytest.approx(mean + half, abs=1e-4)


def test_claims_pair_only_the_shared_mixtures(tmp_path: Path) -> None:
    a = write_eval(tmp_path / "a" / "eval", "a", {"u0": 3.0, "u1": 5.0, "u2": 9.0})
    b = write_eval(tmp_path / "b" / "eval", "b", {"u1": 1.0, "u2": 4.0, "u3": 0.0})
    assert report([a, b], tmp_path / "out", claims=["a>b:sdr", "a>b:sar"]).endswith(
        "n = 2 mixtures: not resolved\n"
    ), "the table, then the claims"
    with (tmp_path / "out" / "claims.csv").open(newline="") as f:
        first, _ = csv.DictReader(f)
    assert first["n"] == "2" and float(first["mean_diff"]) == pytest.approx(4.5)
    half = scipy_t.ppf(0.975, 1) * np.std([4.0, 5.0], ddof=1) / math.sqrt(2)
    assert float(first["ci95_low"]) == pytest.approx(4.5 - half, abs=1e-4)
    assert first["verdict"] == "not resolved", "2 mixtures: a wide interval"
    report([a, b], tmp_path / "out", force=True)
    assert not (tmp_path / "out" / "claims.csv").exists(), "no stale claims beside the report"


def test_a_claim_can_judge_one_source(tmp_path: Path) -> None:
    a = write_eval(tmp_path / "a" / "eval", "a", {"u0": 3.0, "u1": 5.0, "u2": 9.0})
    b = write_eval(tmp_path / "b" / "eval", "b", {"u0": 1.0, "u1": 4.0, "u2": 7.0})
    text = report([a, b], tmp_path / "out", claims=["a>b:sdr@female", "mixture<a:sdr@male"])
    assert "a > b (SDR, female): +1.67 dB [" in text
    assert "mixture < a (SDR, male): -5.17 dB [" in text
    with (tmp_path / "out" / "claims.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["source"] for r in rows] == ["female", "male"]
    # u0 male: the mixture scores -0.5, a 2.0 (every metric of write_eval is offset by -1).
    male = np.array([-0.5 - 2.0, -0.5 - 4.0, -0.5 - 8.0])
    assert float(rows[1]["mean_diff"]) == pytest.approx(male.mean(), abs=1e-4)
    with pytest.raises(VaesepError, match="no estimates of source 'speech'; use one of female"):
        report([a, b], tmp_path / "o2", claims=["a>b:sdr@speech"])
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ("gan>nmf:sdr", "unknown result 'gan'; use one of mixture, wgan, nmf, close, noisy"),
        ("wgan>nmf:snr", "unknown metric 'snr'; use one of sdr, sir, sar, si_sdr, sdri"),
        ("wgan>nmf", "expected A>B:METRIC, A<B:METRIC or A=B:METRIC"),
        ("wgan~nmf:sdr", "expected A>B:METRIC"),
    ],
)
def test_cli_bad_claim_is_one_line_exit_2(
    claim_dirs: list[Path], tmp_path: Path, claim: str, message: str
) -> None:
    out = tmp_path / "o"
    result = run_cli("report", *map(str, claim_dirs), "--out-dir", str(out), "--claim", claim)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"vaesep: error: --claim {claim!r}: ") and message in line
    assert "Traceback" not in result.output
    assert not out.exists(), "nothing written"


def test_a_pooled_result_counts_many_data_dirs_under_their_parent():
    from vaesep.scoring.pooling import _data_dirs

    few = ["/d/p1/test", "/d/p2/test"]
    assert _data_dirs(few) == "/d/p1/test, /d/p2/test"
    many = [f"/d/pairs/p{i}/test" for i in range(5)]
    assert _data_dirs(many) == "5 data dirs under /d/pairs"


def test_results_md_says_where_each_result_came_from(tmp_path: Path) -> None:
    from synthetic import make_datadir

    from vaesep.data.datadir import load_datadir
    from vaesep.scoring.provenance import provenance

    data = load_datadir(make_datadir(tmp_path / "d", n_utts=2))
    dirs = [fake_result(tmp_path / m / "eval", m, 5.0) for m in ("vae", "itl_ae")]
    record = provenance("cpu", data, 1.5)
    summary = json.loads((dirs[0] / "summary.json").read_text())
    (dirs[0] / "summary.json").write_text(json.dumps({**summary, "provenance": record}))
    report(dirs, tmp_path / "out")
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("- vae scored "))
    assert record["date"] in line and f"torch {record['torch']}" in line and "cpu" in line
    assert "2 mixtures, 2 speakers, 1.5 s" in line and f"`{record['command']}`" in line
    assert "- itl_ae scored" not in text  # an older summary: nothing to show
