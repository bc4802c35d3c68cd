"""Tests of vaesep.scoring.metrics (SI-SDR, BSS Eval rows) and vaesep.scoring.evaluation
(parallel scoring, ``evaluate`` and ``evaluate_separated``)."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import synthetic
import torch

import vaesep
from vaesep.data.datadir import load_datadir, write_datadir
from vaesep.errors import VaesepError, log
from vaesep.io.audio import audio_writers, load_audio, save_audio
from vaesep.scoring.evaluation import ScoreItem, evaluate, evaluate_separated, score_all
from vaesep.scoring.metrics import (
    COLUMNS,
    columns,
    perceptual_metrics,
    pesq_score,
    score_utterance,
    si_sdr,
    stoi_score,
)

RATE = 8000


def comb(f0: float, first: int, last: int, seconds: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """A harmonic comb: harmonics ``first..last`` of ``f0`` with a slow amplitude envelope."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * k * f0 * t + phase * k) / k for k in range(first, last + 1))
    return (0.1 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t + phase))).astype(np.float32)


def pair(phase: float = 0.0) -> dict[str, np.ndarray]:
    """A 'male' low comb and a 'female' high comb, 0.5 s at 8 kHz."""
    return {"female": comb(230.0, 6, 15, phase=phase), "male": comb(110.0, 1, 8, phase=phase)}


@pytest.fixture
def warned() -> list[str]:
    """Messages logged at warning level on the ``vaesep`` logger during the test."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = Keep()
    log.addHandler(handler)
    yield messages
    log.removeHandler(handler)


# --- SI-SDR --------------------------------------------------------------------------------


def test_si_sdr_is_scale_invariant() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(4000)
    est = ref + 0.3 * rng.standard_normal(4000)
    assert si_sdr(ref, 7.5 * est) == pytest.approx(si_sdr(ref, est), abs=1e-9)
    assert si_sdr(ref, -0.01 * est) == pytest.approx(si_sdr(ref, est), abs=1e-9)


def test_si_sdr_matches_direct_computation() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        ref, est = rng.standard_normal(3000), rng.standard_normal(3000)
        target = est @ ref / (ref @ ref) * ref
        expected = 10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2))
        assert si_sdr(ref.astype(np.float32), est.astype(np.float32)) == pytest.approx(
            expected, abs=1e-4
        )


def test_si_sdr_perfect_and_silent() -> None:
    ref = comb(110.0, 1, 8)
    assert si_sdr(ref, ref) > 100.0
    assert np.isnan(si_sdr(np.zeros(100), np.ones(100)))
    assert np.isnan(si_sdr(np.ones(100), np.zeros(100)))


# --- score_utterance -----------------------------------------------------------------------


def test_true_sources_score_very_high() -> None:
    refs = pair()
    rows = score_utterance("u1", refs, refs, refs["female"] + refs["male"])
    assert [r["source"] for r in rows] == ["female", "male"]
    assert all(list(r) == list(COLUMNS) for r in rows)
    for row in rows:
        assert row["sdr"] > 60 and row["sir"] > 60 and row["si_sdr"] > 60
        assert row["sdri"] > 50


def test_mixture_as_estimate_equals_mix_columns() -> None:
    refs = pair()
    mix = refs["female"] + refs["male"]
    rows = score_utterance("u1", refs, {"female": mix, "male": 0.5 * mix}, mix)
    for row in rows:
        for metric in ("sdr", "sir", "sar", "si_sdr"):
            assert row[metric] == pytest.approx(row[f"mix_{metric}"], abs=1e-6)
        assert row["sdri"] == pytest.approx(0.0, abs=1e-6)
        assert row["si_sdri"] == pytest.approx(0.0, abs=1e-6)


def test_lengths_are_trimmed_to_the_shortest() -> None:
    refs = pair()
    mix = refs["female"] + refs["male"]
    longer = {k: np.concatenate([v, np.ones(100, np.float32)]) for k, v in refs.items()}
    rows = score_utterance("u1", refs, longer, mix[:-50])
    assert all(r["sdr"] > 60 for r in rows)


def test_silent_reference_gives_nan_row_and_warning(warned: list[str]) -> None:
    refs = pair()
    refs["male"] = np.zeros_like(refs["male"])
    rows = score_utterance("quiet01", refs, pair(), refs["female"])
    assert len(rows) == 2
    assert all(np.isnan(r["sdr"]) and np.isnan(r["sir"]) and np.isnan(r["sar"]) for r in rows)
    assert any("quiet01" in m for m in warned)


def test_missing_estimate_is_an_error() -> None:
    refs = pair()
    with pytest.raises(VaesepError, match="male"):
        score_utterance("u1", refs, {"female": refs["female"]}, refs["female"])


# --- score_all -----------------------------------------------------------------------------


def test_parallel_scoring_equals_serial(warned: list[str]) -> None:
    items = []
    for i in range(3):
        refs = pair(phase=0.3 * i)
        mix = refs["female"] + refs["male"]
        ests = {"female": 0.8 * refs["female"] + 0.2 * mix, "male": 0.7 * refs["male"] + 0.3 * mix}
        items.append(ScoreItem(f"u{i}", refs, ests, mix))
    silent = dict(items[0].references, male=np.zeros(RATE // 2, np.float32))
    items.append(ScoreItem("silent", silent, items[0].estimates, items[0].mixture))
    serial = score_all(items, jobs=1)
    warned.clear()
    parallel = score_all(iter(items), jobs=2)
    assert [(r["utt_id"], r["source"]) for r in parallel] == [
        (r["utt_id"], r["source"]) for r in serial
    ]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal([a[c] for c in COLUMNS[2:]], [b[c] for c in COLUMNS[2:]])
    assert any("silent" in m for m in warned), "workers' warnings reach the parent's logger"


# --- evaluate ------------------------------------------------------------------------------


def make_datadir(root: Path, n_utts: int = 3, rate: int = 16000) -> Path:
    """A data dir of ``n_utts`` comb mixtures (0.5 s, at ``rate``)."""
    mixtures, sources = {}, {"female": {}, "male": {}}
    t = np.arange(rate // 2) / rate
    for i in range(n_utts):
        utt = f"utt{i}"
        female = 0.1 * np.sin(2 * np.pi * (1500 + 100 * i) * t) * (1 + np.sin(2 * np.pi * 4 * t))
        male = 0.1 * np.sin(2 * np.pi * (150 + 10 * i) * t) + 0.05 * np.sin(2 * np.pi * 400 * t)
        for name, sig in (("mix", female + male), ("female", female), ("male", male)):
            save_audio(root / "wav" / f"{utt}_{name}.wav", sig, rate)
        mixtures[utt] = str(root / "wav" / f"{utt}_mix.wav")
        for name in sources:
            sources[name][utt] = str(root / "wav" / f"{utt}_{name}.wav")
    write_datadir(root / "test", mixtures, sources)
    return root / "test"


class HalfMixture:
    """Returns half the mixture for every source; fails on the call numbers in ``fail_on``."""

    sources = ("female", "male")
    name = "half"

    def __init__(self, sample_rate: int = RATE, fail_on: tuple[int, ...] = ()) -> None:
        self.sample_rate = sample_rate
        self.fail_on = fail_on
        self.calls = 0

    def separate(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        assert sample_rate == self.sample_rate
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("model exploded")
        return {s: 0.5 * signal for s in self.sources}


class Oracle:
    """Returns the true sources, found by matching the mixture against the data dir."""

    sources = ("female", "male")

    def __init__(self, data: Path, sample_rate: int = RATE) -> None:
        self.sample_rate = sample_rate
        self.data = load_datadir(data)

    def separate(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        for utt, path in self.data.mixtures.items():
            if np.array_equal(load_audio(path, sample_rate)[0], signal):
                return {
                    s: load_audio(self.data.sources[s][utt], sample_rate)[0] for s in self.sources
                }
        raise AssertionError("unknown mixture")


def read_metrics(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_evaluate_writes_metrics_summary_and_examples(tmp_path: Path) -> None:
    data = make_datadir(tmp_path)
    out = tmp_path / "eval"
    summary = evaluate(HalfMixture(), data, out, jobs=1, keep_examples=2)
    rows = read_metrics(out)
    assert len(rows) == 6
    assert list(rows[0]) == list(columns(perceptual_metrics()))
    assert [(r["utt_id"], r["source"]) for r in rows[:2]] == [("utt0", "female"), ("utt0", "male")]
    assert all(abs(float(r["sdri"])) < 0.01 for r in rows), "half the mixture is the mixture"
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    for key in ("sdr", "sir", "sar", "si_sdr", "sdri", "si_sdri"):
        assert isinstance(summary[key], float)
        assert key in summary["median"]
        assert set(summary["per_source"]) == {"female", "male"}
    assert set(summary["mixture"]) == {"sdr", "sir", "sar", "si_sdr", *perceptual_metrics()}
    assert summary["num_utterances"] == 3 and summary["num_rows"] == 6
    assert summary["skipped_rows"] == 0 and summary["failed"] == {}
    assert summary["model"] == "half" and summary["data"] == str(data.resolve())
    assert summary["jobs"] == 1 and summary["seconds"] >= 0
    wavs = sorted(p.name for p in (out / "examples").iterdir())
    assert wavs == ["utt0_female.wav", "utt0_male.wav", "utt1_female.wav", "utt1_male.wav"]
    info = sf.info(str(out / "examples" / "utt0_male.wav"))
    assert info.samplerate == RATE and info.frames == RATE // 2, "at the separator's rate"


def test_evaluate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    data = make_datadir(tmp_path, n_utts=1)
    out = tmp_path / "eval"
    evaluate(HalfMixture(), data, out, jobs=1)
    with pytest.raises(VaesepError, match="metrics.csv"):
        evaluate(HalfMixture(), data, out, jobs=1)
    summary = evaluate(HalfMixture(), data, out, jobs=1, force=True, keep_examples=0)
    assert summary["num_rows"] == 2
    assert not list((out / "examples").iterdir()), "old examples are dropped"


def test_evaluate_reports_failed_utterances(tmp_path: Path, warned: list[str]) -> None:
    data = make_datadir(tmp_path)
    out = tmp_path / "eval"
    summary = evaluate(HalfMixture(fail_on=(2,)), data, out, jobs=1)
    assert summary["failed"] == {"utt1": "RuntimeError: model exploded"}
    assert [r["utt_id"] for r in read_metrics(out)] == ["utt0", "utt0", "utt2", "utt2"]
    assert summary["num_utterances"] == 2
    assert any("utt1" in m and "exploded" in m for m in warned)


def test_evaluate_fails_when_every_utterance_fails(tmp_path: Path) -> None:
    data = make_datadir(tmp_path, n_utts=2)
    with pytest.raises(VaesepError, match="every utterance failed"):
        evaluate(HalfMixture(fail_on=(1, 2)), data, tmp_path / "eval", jobs=1)
    assert not (tmp_path / "eval" / "metrics.csv").exists()


def test_evaluate_oracle_in_parallel(tmp_path: Path) -> None:
    data = make_datadir(tmp_path, n_utts=3)
    summary = evaluate(Oracle(data), data, tmp_path / "eval", jobs=2, model_name="oracle")
    assert summary["model"] == "oracle" and summary["jobs"] == 2
    assert summary["sdr"] > 40 and summary["sdri"] > 30
    assert summary["mixture"]["sdr"] < 20


def test_evaluate_needs_references(tmp_path: Path) -> None:
    data = make_datadir(tmp_path, n_utts=1)
    (data / "spk2.scp").unlink()
    with pytest.raises(VaesepError, match="spk2.scp"):
        evaluate(HalfMixture(), data, tmp_path / "eval", jobs=1)


def test_cli_evaluate_prints_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from vaesep.cli import app

    data = make_datadir(tmp_path, n_utts=2)
    monkeypatch.setattr(
        "vaesep.separation.loading.load_separator", lambda exp_dir, **_: HalfMixture()
    )
    (tmp_path / "x").mkdir()  # an existing path: an experiment dir, not a bundled name
    exp = str(tmp_path / "x")
    args = ["evaluate", "--model", exp, "--data", str(data), "--out-dir", str(tmp_path / "e")]
    result = CliRunner().invoke(app, [*args, "--jobs", "1", "--examples", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "half: 2 utterances" in result.stdout
    assert result.stdout.splitlines()[2].split()[0] == "SDR"
    assert (tmp_path / "e" / "metrics.csv").is_file()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already holds metrics.csv" in again.stderr


def test_cli_summary_shows_an_improvement_of_sdr_and_si_sdr_only(tmp_path: Path) -> None:
    from vaesep.cli.results import _summary_text

    ours = {"sdr": 5.0, "sir": 12.0, "sar": -37.0, "si_sdr": 4.5, "pesq": 2.0}
    mixture = {"sdr": 0.25, "sir": 0.5, "sar": 30.0, "si_sdr": 0.0, "pesq": 1.5}
    summary = {**ours, "mixture": mixture, "model": "m", "num_utterances": 2, "seconds": 1.0}
    text = _summary_text({**summary, "jobs": 1, "failed": []}, tmp_path)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:6]}
    assert rows == {
        "SDR": ["5.00", "0.25", "+4.75"],
        "SIR": ["12.00", "0.50"],
        "SAR": ["-37.00", "30.00"],
        "SI-SDR": ["4.50", "0.00", "+4.50"],
    }
    assert text.splitlines()[6].split() == ["PESQ", "2.00", "1.50"]
    assert "-67" not in text and "+0.50" not in text


def test_cli_evaluate_jobs_0_is_one_per_core_and_takes_separates_short_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from cli_helpers import run

    from vaesep.cli import app

    data = make_datadir(tmp_path, n_utts=2)
    monkeypatch.setattr(
        "vaesep.separation.loading.load_separator", lambda exp_dir, **_: HalfMixture()
    )
    monkeypatch.setattr("vaesep.io.workers.cpu_count", lambda: 1)  # one core: in-process
    (tmp_path / "x").mkdir()
    args = ["evaluate", "-m", tmp_path / "x", "--data", data, "-o", tmp_path / "e", "-q"]
    result = run(*args, "--jobs", "0", "--examples", "0")
    assert result.exit_code == 0, result.output
    assert "half: 2 utterances" in result.stdout and "with 1 job(s)" in result.stdout
    assert (tmp_path / "e" / "summary.json").is_file()
    assert run(*args, "--jobs", "-1").exit_code == 2
    commands = typer.main.get_command(app).commands
    for command in ("evaluate", "run"):
        (jobs,) = (p for p in commands[command].params if p.name == "jobs")
        assert jobs.default == 0 and "0: one per CPU core" in jobs.help
    for command in ("separate", "evaluate"):
        options = {p.name: p.opts for p in commands[command].params}
        assert ["--model", "-m"] == options["model"] and ["--out-dir", "-o"] == options["out_dir"]
        assert ["--quiet", "-q"] == options["quiet"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_over_the_utterances_only_on_a_terminal_and_when_asked(tmp_path, monkeypatch):
    data = make_datadir(tmp_path, n_utts=2)
    for progress, stream, drawn in ((True, Terminal(), True), (False, Terminal(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        out = tmp_path / f"e{progress}"
        evaluate(HalfMixture(), data, out, jobs=1, keep_examples=0, progress=progress)
        assert ("2/2" in stream.getvalue() and "utt" in stream.getvalue()) == drawn
    piped = io.StringIO()  # not a terminal: no bar, even when asked
    monkeypatch.setattr(sys, "stderr", piped)
    evaluate(HalfMixture(), data, tmp_path / "piped", jobs=1, keep_examples=0, progress=True)
    assert "utt" not in piped.getvalue()


# --- evaluate_separated --------------------------------------------------------------------


class FixedMask:
    """Splits the mixture's spectrum at 500 Hz: the low part is 'male', the rest 'female'."""

    sources = ("female", "male")
    sample_rate = RATE
    name = "fixed"

    def separate(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        low = np.fft.rfftfreq(len(signal), 1 / sample_rate) < 500
        male = np.fft.irfft(np.fft.rfft(signal) * low, len(signal)).astype(np.float32)
        return {"female": signal - male, "male": male}


def write_separated(data: Path, out: Path) -> Path:
    """``<utt>_<source>.wav`` of FixedMask for every mixture, float WAVs as 'separate' writes."""
    for utt, path in load_datadir(data).mixtures.items():
        mixture, rate = load_audio(path)
        estimates = FixedMask().separate(mixture, rate)
        with audio_writers({s: out / f"{utt}_{s}.wav" for s in estimates}, rate) as writers:
            for source, writer in writers.items():
                writer.write(estimates[source])
    return out


def test_scores_of_separated_files_equal_those_of_evaluate(tmp_path: Path) -> None:
    data = synthetic.make_datadir(tmp_path / "test", n_utts=4)
    separated = write_separated(data, tmp_path / "exp" / "fixed" / "separated")
    direct = evaluate(FixedMask(), data, tmp_path / "direct", jobs=1, keep_examples=1)
    files = evaluate_separated(separated, data, tmp_path / "files", jobs=2, keep_examples=1)
    assert direct["sdri"] > 1.0, "a mask that separates something"
    csv_text = (tmp_path / "direct" / "metrics.csv").read_text()
    assert (tmp_path / "files" / "metrics.csv").read_text() == csv_text
    assert files["model"] == "fixed", "named by the experiment dir above 'separated'"
    assert files["failed"] == {} and files["jobs"] == 2
    own = ("jobs", "seconds", "provenance")  # how each ran, not what it measured
    assert {k: v for k, v in files.items() if k not in own} == {
        k: v for k, v in direct.items() if k not in own
    }
    made, scored = direct["provenance"], files["provenance"]
    assert made["device"] == "cpu" and scored["device"] == "none (files scored)"
    assert made["data"] == scored["data"] and made["data"]["mixtures"] == direct["num_utterances"]
    assert made["data"]["seconds"] > 0 and made["torch"] == str(torch.__version__)
    checkout = (Path(vaesep.__file__).parents[1] / ".git").exists()  # not an installed copy
    assert (made["git_commit"] is not None) == checkout
    assert made["git_commit"] is None or len(made["git_commit"].split("+")[0]) == 40
    for example in ("utt000_female.wav", "utt000_male.wav"):
        expected = load_audio(tmp_path / "direct" / "examples" / example)[0]
        np.testing.assert_array_equal(
            load_audio(tmp_path / "files" / "examples" / example)[0], expected
        )


def test_separated_missing_files_fail_and_other_lengths_are_trimmed(
    tmp_path: Path, warned: list[str]
) -> None:
    data = synthetic.make_datadir(tmp_path / "test", n_utts=3)
    separated = write_separated(data, tmp_path / "sep")
    (separated / "utt001_male.wav").unlink()
    female, rate = load_audio(separated / "utt002_female.wav")
    save_audio(separated / "utt002_female.wav", np.concatenate([female, np.ones(500)]), rate)
    evaluate(FixedMask(), data, tmp_path / "direct", jobs=1, keep_examples=0)
    summary = evaluate_separated(separated, data, tmp_path / "eval", jobs=1, keep_examples=0)
    assert list(summary["failed"]) == ["utt001"]
    assert "utt001_male.wav: no such audio file" in summary["failed"]["utt001"]
    assert any("utt001" in m for m in warned)
    expected = [r for r in read_metrics(tmp_path / "direct") if r["utt_id"] != "utt001"]
    assert read_metrics(tmp_path / "eval") == expected, "the longer file is trimmed"
    assert summary["model"] == "sep", "named by its own dir when not called 'separated'"
    with pytest.raises(VaesepError, match="not a directory"):
        evaluate_separated(tmp_path / "nowhere", data, tmp_path / "eval2")


def test_cli_evaluate_separated_needs_exactly_one_source_of_estimates(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vaesep.cli import app

    data = synthetic.make_datadir(tmp_path / "test", n_utts=2)
    separated = write_separated(data, tmp_path / "exp" / "fixed" / "separated")
    args = ["evaluate", "--data", str(data), "--out-dir", str(tmp_path / "e"), "--jobs", "1"]
    result = CliRunner().invoke(app, [*args, "--separated", str(separated), "--label", "mask"])
    assert result.exit_code == 0, result.output
    assert "mask: 2 utterances" in result.stdout
    assert json.loads((tmp_path / "e" / "summary.json").read_text())["model"] == "mask"
    old = ["evaluate", "--data", str(data), "-o", str(tmp_path / "old"), "--jobs", "1"]
    old += ["--separated", str(separated)]
    result = CliRunner().invoke(app, [*old, "--name", "was"])  # the deprecated spelling
    assert result.exit_code == 0, result.output
    assert "was: 2 utterances" in result.stdout and "use --label" in result.stderr
    assert "--name" not in CliRunner().invoke(app, ["evaluate", "--help"]).stdout
    for wrong in ([], ["--separated", str(separated), "--model", "exp/x"]):
        bad = CliRunner().invoke(app, [*args, *wrong])
        assert bad.exit_code == 2
        assert bad.stderr.startswith("vaesep: error: give exactly one of --model")
        assert bad.stderr.count("\n") == 1


# --- perceptual metrics (optional packages) ------------------------------------------------


def test_without_perceptual_packages_the_columns_are_the_base_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pesq", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "pystoi", None)
    assert perceptual_metrics() == ()
    data = make_datadir(tmp_path, n_utts=1)
    summary = evaluate(HalfMixture(16000), data, tmp_path / "eval", jobs=1, keep_examples=0)
    assert list(read_metrics(tmp_path / "eval")[0]) == list(COLUMNS)
    assert "pesq" not in summary and "stoi" not in summary["mixture"]


def test_one_perceptual_package_gives_its_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pystoi")
    monkeypatch.setitem(sys.modules, "pesq", None)
    assert perceptual_metrics() == ("stoi",)


def test_evaluate_scores_pesq_and_stoi(tmp_path: Path) -> None:
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    data = make_datadir(tmp_path, n_utts=2, rate=RATE)  # 8 kHz: resampled to 16 kHz for PESQ
    summary = evaluate(Oracle(data), data, tmp_path / "eval", jobs=1, keep_examples=0)
    rows = read_metrics(tmp_path / "eval")
    assert list(rows[0]) == [*COLUMNS, "pesq", "stoi", "mix_pesq", "mix_stoi"]
    assert summary["pesq"] > 4.0 and summary["stoi"] > 0.99
    assert summary["mixture"]["pesq"] < summary["pesq"] - 1.0
    assert summary["mixture"]["stoi"] < summary["stoi"]
    assert "pesq" in summary["median"] and "stoi" in summary["per_source"]["male"]


def test_undefined_perceptual_metrics_are_nan_with_a_warning(warned: list[str]) -> None:
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    speech = pair()["male"]
    assert math.isnan(pesq_score(np.zeros_like(speech), speech, RATE, "utt7 female"))
    assert any("utt7 female: PESQ undefined (No utterances detected)" in m for m in warned)
    short = speech[: RATE // 20]
    assert math.isnan(stoi_score(short, short, RATE, "utt8 male"))
    assert any(m.startswith("utt8 male: STOI undefined") for m in warned)
