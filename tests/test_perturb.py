"""``vaesep prepare perturb``: Kaldi-style speed-perturbed copies of a supervised data dir."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

import vaesep.data.perturb
from vaesep.data.datadir import load_datadir, read_scp, read_utt2spk, write_datadir
from vaesep.data.perturb import prepare_perturb
from vaesep.io.audio import load_audio, save_audio, save_channels

RATE = 8000
TONES = {"female": 500.0, "male": 150.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_datadir(tmp_path_factory.mktemp("perturb") / "data", n_utts=3, seconds=0.5)


def _tone_dir(root: Path, residual: float = 0.0) -> Path:
    """Two utterances of pure tones (speakers A and B); utt1's female entry is a ``cat |`` pipe."""
    t = np.arange(RATE // 2) / RATE
    rng = np.random.default_rng(0)
    mixtures, sources = {}, {"female": {}, "male": {}}
    for utt in ("utt0", "utt1"):
        tones = {s: 0.3 * np.sin(2 * np.pi * f0 * t) for s, f0 in TONES.items()}
        mix = tones["female"] + tones["male"] + residual * rng.standard_normal(len(t))
        for name, signal in (("mix", mix), *tones.items()):
            save_audio(root / "wav" / f"{utt}_{name}.wav", signal, RATE)
        mixtures[utt] = str(root / "wav" / f"{utt}_mix.wav")
        for s in TONES:
            sources[s][utt] = str(root / "wav" / f"{utt}_{s}.wav")
    sources["female"]["utt1"] = f"cat {sources['female']['utt1']} |"
    write_datadir(root, mixtures, sources, {"utt0": "A", "utt1": "B"})
    return root


def _peak_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum)) * RATE / len(signal)


def test_perturbed_copies_are_slower_or_faster_and_sum_to_their_mixture(tmp_path):
    src, out = _tone_dir(tmp_path / "data"), tmp_path / "out"
    result = run("prepare", "perturb", src, out, "--speeds", "0.9,1.1")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"wrote {out}: 6 utterances (2 original + 2 x 2 perturbed at 0.9, 1.1), 3 s"
    )
    mix, female = read_scp(out / "wav.scp"), read_scp(out / "spk1.scp", check_files=False)
    copies = ["sp0.9-utt0", "sp0.9-utt1", "sp1.1-utt0", "sp1.1-utt1"]
    assert list(mix) == copies + ["utt0", "utt1"]
    assert read_utt2spk(out, list(mix)) == {
        **{"utt0": "A", "utt1": "B", "sp0.9-utt0": "sp0.9-A", "sp0.9-utt1": "sp0.9-B"},
        **{"sp1.1-utt0": "sp1.1-A", "sp1.1-utt1": "sp1.1-B"},
    }
    original = read_scp(src / "wav.scp")
    assert mix["utt0"] == original["utt0"] and female["utt1"].startswith("cat ")
    assert female["utt1"] == read_scp(src / "spk1.scp", check_files=False)["utt1"]
    for f in (0.9, 1.1):
        for utt in ("utt0", "utt1"):
            copy = f"sp{f:g}-{utt}"
            assert mix[copy] == str(out.resolve() / "wav" / f"{copy}_mix.wav")
            signals = {
                name: load_audio(out / "wav" / f"{copy}_{name}.wav")
                for name in ("mix", "female", "male")
            }
            assert all(rate == RATE for _, rate in signals.values())
            x = {name: signal for name, (signal, _) in signals.items()}
            assert abs(len(x["female"]) - RATE / 2 / f) <= 2 and len(x["mix"]) == len(x["male"])
            np.testing.assert_allclose(x["mix"], x["female"] + x["male"], atol=1e-5)
            for s, f0 in TONES.items():
                assert abs(_peak_hz(x[s]) - f0 * f) <= 2 * RATE / len(x[s]), (copy, s)
    summary = json.loads((out / "perturb.json").read_text())
    assert summary["speeds"] == [0.9, 1.1] and summary["vaesep_version"] == vaesep.__version__
    assert summary["utterances"] == {"original": 2, "perturbed": 4, "total": 6}
    assert summary["source"] == str(src.resolve()) and summary["seconds"] == pytest.approx(
        0.5 * 2 * (1 + 1 / 0.9 + 1 / 1.1), abs=1e-3
    )


def test_perturbed_dir_loads_and_keeps_speakers_apart(data, tmp_path):
    prepare_perturb(data, tmp_path / "out", [0.9, 1.1])
    loaded = load_datadir(tmp_path / "out")
    assert len(loaded.utt_ids) == 9 and loaded.has_references
    assert set(loaded.sources["male"]) == set(loaded.mixtures)
    speakers = set(read_utt2spk(tmp_path / "out", loaded.utt_ids).values())
    assert {"utt000", "sp0.9-utt000", "sp1.1-utt000"} <= speakers
    spk2utt = (tmp_path / "out" / "spk2utt").read_text().splitlines()
    assert "sp0.9-utt001 sp0.9-utt001" in spk2utt


def test_a_residual_beyond_the_sources_is_perturbed_with_them(tmp_path):
    src = _tone_dir(tmp_path / "data", residual=0.01)
    summary = prepare_perturb(src, tmp_path / "out", [0.9])
    assert summary["mixtures_not_sum_of_sources"] == 2
    x = {n: load_audio(tmp_path / "out" / "wav" / f"sp0.9-utt0_{n}.wav")[0] for n in TONES}
    mix = load_audio(tmp_path / "out" / "wav" / "sp0.9-utt0_mix.wav")[0]
    assert np.std(mix - x["female"] - x["male"]) == pytest.approx(0.01, rel=0.2)


@pytest.mark.parametrize(
    "speeds, needle",
    [
        ("0", "0 is not a positive factor"),
        ("-1", "-1 is not a positive factor"),
        ("0.9,nan", "nan is not a positive factor"),
        ("1.0", "drop 1 (the original is always kept)"),
        ("0.9,x", "--speeds 0.9,x: expected comma-separated positive factors such as 0.9,1.1"),
        ("0.9,,1.1", "--speeds 0.9,,1.1: expected comma-separated"),
        ("0.9,1.1,0.90", "0.9 repeats; list each factor once"),
    ],
)
def test_bad_speeds_are_one_line_errors(data, tmp_path, speeds, needle):
    assert_user_error(
        run("prepare", "perturb", data, tmp_path / "out", f"--speeds={speeds}"), needle
    )
    assert not (tmp_path / "out").exists()


def test_out_dir_safety_and_weak_or_multichannel_inputs(data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert_user_error(run("prepare", "perturb", data, out), "pass --force to replace it")
    assert_user_error(run("prepare", "perturb", data, out, "--force"), "no perturb.json")
    assert (out / "notes.txt").read_text() == "mine"
    made = tmp_path / "made"
    assert run("prepare", "perturb", data, made, "--speeds", "0.9").exit_code == 0
    assert run("prepare", "perturb", data, made, "--speeds", "1.1", "--force").exit_code == 0
    assert json.loads((made / "perturb.json").read_text())["speeds"] == [1.1]
    assert not (made / "wav" / "sp0.9-utt000_mix.wav").exists()
    assert_user_error(run("prepare", "perturb", made, made, "--force"), "holds the audio of")
    clash = run("prepare", "perturb", made, tmp_path / "again", "--speeds", "1.1")
    assert_user_error(clash, "already holds sp1.1-utt000")

    assert run("prepare", "weak", data, tmp_path / "weak").exit_code == 0
    result = run("prepare", "perturb", tmp_path / "weak", tmp_path / "w2")
    assert_user_error(result, "no spk1.scp/spk2.scp")
    assert "perturb needs the references" in result.stderr

    multi = make_datadir(tmp_path / "multi", n_utts=1, seconds=0.2)
    save_channels(multi / "wav" / "utt000_mix.wav", np.zeros((2, 1600)), RATE)
    assert_user_error(run("prepare", "perturb", multi, tmp_path / "m2"), "2 channels")


def test_a_failed_write_leaves_nothing_half_written(data, tmp_path, monkeypatch):
    calls, real = [], vaesep.data.perturb.save_audio

    def failing(path, signal, rate):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        real(path, signal, rate)

    monkeypatch.setattr(vaesep.data.perturb, "save_audio", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError):
        prepare_perturb(data, out, [0.9])
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "data"]

    calls.clear()
    assert_user_error(run("prepare", "perturb", data, out), "No space left on device")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []

    monkeypatch.setattr(vaesep.data.perturb, "save_audio", real)
    prepare_perturb(data, out, [0.9])
    before = sorted(p.name for p in (out / "wav").iterdir())
    monkeypatch.setattr(vaesep.data.perturb, "save_audio", failing)
    calls.clear()
    with pytest.raises(OSError):
        prepare_perturb(data, out, [1.1], force=True)
    assert sorted(p.name for p in (out / "wav").iterdir()) == before  # the old dir stays
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert sf.info(str(out / "wav" / before[0])).samplerate == RATE
