"""``vaesep prepare background``: speech of a data dir against noise or recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.data.background import SUMMARY_FILE, _Pool, _speech, prepare_background
from vaesep.data.datadir import load_datadir, write_datadir
from vaesep.data.noises import coloured, find_noise, loop, shaped, welch_sum
from vaesep.io.audio import save_audio

RATE = 8000


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_datadir(tmp_path_factory.mktemp("background") / "data", n_utts=6, seconds=1.5)


def _read(path: str | Path) -> np.ndarray:
    signal, rate = sf.read(str(path), dtype="float32")
    assert rate == RATE
    return signal


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def _recordings(folder: Path, seconds: dict[str, float], rate: int = RATE, channels: int = 1):
    rng = np.random.default_rng(1)
    for name, length in seconds.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        signal = 0.1 * rng.standard_normal((int(length * rate), channels))
        sf.write(str(folder / name), signal, rate)
    return folder


@pytest.mark.parametrize("kind, slope", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_coloured_noises_fall_by_3_db_per_octave_per_power_of_f(kind, slope):
    noise = coloured(kind, 8 * 16000, 16000, np.random.default_rng(0))
    psd, frames = welch_sum(noise)
    freqs = np.fft.rfftfreq(512, 1 / 16000)
    band = (freqs >= 100) & (freqs <= 4000)
    fitted = np.polyfit(np.log2(freqs[band]), 10 * np.log10(psd[band] / frames), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.3)
    assert abs(noise.mean()) < 1e-9 or kind == "white"  # no DC


def test_shaped_noise_follows_the_spectrum_it_is_given():
    psd = np.ones(257)
    psd[64:128] = 0.01  # -20 dB from 1 to 2 kHz at 8 kHz
    noise = shaped(psd, 10 * RATE, np.random.default_rng(0))
    estimate = welch_sum(noise)[0]
    assert 10 * np.log10(estimate[20:50].mean() / estimate[80:110].mean()) == pytest.approx(
        20, abs=1
    )


def test_a_short_recording_loops_with_a_crossfade_and_keeps_its_level():
    signal = np.random.default_rng(0).standard_normal(RATE)
    looped = loop(signal, 5 * RATE, 100, RATE)
    assert len(looped) == 5 * RATE
    np.testing.assert_array_equal(looped[: RATE - 500], signal[100 : RATE - 400])
    seams = looped[RATE - 600 : RATE - 200]  # the first crossfade
    assert _db(seams) == pytest.approx(_db(signal), abs=1.0)


def test_mixtures_are_speech_plus_background_at_the_snr(data, tmp_path):
    out = tmp_path / "out"
    noises = ["white", "pink", "brown", "speech-shaped", "babble"]
    result = run(
        "prepare", "background", data, out, *(a for n in noises for a in ("--noise", n)), "--snr", 3
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: 12 speech + background mixtures (6 mixtures")
    made = load_datadir(out)
    assert made.names == ("speech", "background") and len(made.utt_ids) == 12
    assert made.utt_ids[:2] == ["utt000-female", "utt000-male"]
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert {k: v["mixtures"] for k, v in summary["backgrounds"].items()} == {
        "white": 3,
        "pink": 3,
        "brown": 2,
        "speech-shaped": 2,
        "babble": 2,
    }
    for utt in made.utt_ids:
        mix = _read(made.mixtures[utt])
        speech, background = (_read(made.sources[s][utt]) for s in made.names)
        np.testing.assert_array_equal(mix, speech + background)
        assert _db(speech) - _db(background) == pytest.approx(3.0, abs=0.1)
        assert len(mix) == int(1.5 * RATE)
        record = summary["utterances"][utt]
        if record["background"] == "babble":
            mixture = utt.rsplit("-", 1)[0]
            assert 4 <= len(record["talkers"]) <= 6
            assert not any(t.startswith(mixture) for t in record["talkers"])
    shaped_utt = next(
        u for u, r in summary["utterances"].items() if r["background"] == "speech-shaped"
    )
    psd = welch_sum(_read(made.sources["background"][shaped_utt]))[0]
    assert psd[:64].sum() > 10 * psd[128:].sum()  # below 1 kHz, above 2 kHz: like the speech


def test_loud_backgrounds_are_scaled_down_with_their_speech(data, tmp_path):
    summary = prepare_background(data, tmp_path / "out", ["white"], snr_range=(-20.0, -10.0))
    assert summary["peak_scaled"] == 12 and summary["snr"] is None
    assert -20 <= summary["snr_db"]["min"] <= summary["snr_db"]["max"] <= -10
    made = load_datadir(tmp_path / "out")
    for utt in made.utt_ids:
        mix = _read(made.mixtures[utt])
        speech, background = (_read(made.sources[s][utt]) for s in made.names)
        assert np.abs(mix).max() <= 0.99 + 1e-6
        np.testing.assert_array_equal(mix, speech + background)
        snr = summary["utterances"][utt]["snr_db"]
        assert _db(speech) - _db(background) == pytest.approx(snr, abs=0.1)


def test_the_same_seed_gives_the_same_dir_and_parts_differ(data, tmp_path):
    def background(seed: int, part: str, name: str) -> np.ndarray:
        prepare_background(data, tmp_path / name, ["pink", "babble"], seed=seed, part=part)
        return np.concatenate(
            [_read(p) for p in load_datadir(tmp_path / name).sources["background"].values()]
        )

    first = background(0, "all", "a")
    np.testing.assert_array_equal(first, background(0, "all", "b"))
    assert not np.allclose(first, background(1, "all", "c"))
    assert not np.allclose(background(0, "train", "d"), background(0, "test", "e"))


def test_babble_and_speech_shaped_noise_leave_out_the_mixture_and_the_speaker(tmp_path):
    root = make_datadir(tmp_path / "data", n_utts=4, seconds=0.2)
    made = load_datadir(root)
    speakers = {"utt000": "A", "utt001": "A", "utt002": "B", "utt003": "C"}
    write_datadir(root, made.mixtures, made.sources, speakers)
    pool = _Pool(_speech(load_datadir(root)), RATE)
    ids = [item.id for item in pool.items]
    others = {ids[i]: {ids[j] for j in pool.others(i)} for i in range(len(ids))}
    # utt001-female is speaker A too; utt001-male is its own speaker
    assert others["utt000-female"] == {
        "utt001-male",
        *(f"utt00{i}-{s}" for i in (2, 3) for s in ("female", "male")),
    }
    assert others["utt000-male"] == set(ids) - {"utt000-female", "utt000-male"}
    assert pool.fewest_others() == 5
    two = make_datadir(tmp_path / "two", n_utts=2, seconds=0.2)
    result = run("prepare", "background", two, tmp_path / "out", "--noise", "babble")
    assert_user_error(result, "--noise babble: needs 4 utterance(s) of other mixtures")
    assert not (tmp_path / "out").exists()


def test_recordings_are_resampled_downmixed_looped_and_split_by_part(data, tmp_path):
    names = {f"env{i % 3}/rec{i:02d}.flac": 1.0 + (i % 4) for i in range(30)}
    folder = _recordings(tmp_path / "noise", names, rate=16000, channels=2)
    train = {r.key for r in find_noise(str(folder), "train", RATE).recordings}
    test = {r.key for r in find_noise(str(folder), "test", RATE).recordings}
    assert not train & test and train | test == set(names) and len(test) < len(train)
    result = run(
        "prepare", "background", data, tmp_path / "out", "--noise", folder, "--part", "test"
    )
    assert result.exit_code == 0, result.output
    assert "resampled to 8000 Hz" in result.stderr and "downmixed to mono" in result.stderr
    summary = json.loads((tmp_path / "out" / SUMMARY_FILE).read_text())
    used = summary["backgrounds"][str(folder)]
    assert set(used["files_used"]) <= test and used["files_in_part"] == len(test)
    assert used["files_found"] == 30
    made = load_datadir(tmp_path / "out")
    for utt in made.utt_ids:
        mix = _read(made.mixtures[utt])
        speech, background = (_read(made.sources[s][utt]) for s in made.names)
        np.testing.assert_array_equal(mix, speech + background)
        assert _db(speech) - _db(background) == pytest.approx(0.0, abs=0.1)


def test_a_manifest_lists_recordings_relative_to_itself(data, tmp_path):
    _recordings(tmp_path / "noise", {"a.wav": 2.0, "b.wav": 1.0})
    manifest = tmp_path / "noise" / "list.txt"
    manifest.write_text("# background\na.wav\n\nb.wav\n")
    summary = prepare_background(data, tmp_path / "out", [str(manifest)])
    assert summary["backgrounds"][str(manifest)]["files_used"] == {"a.wav": 6, "b.wav": 6}


def _bad_inputs(tmp_path: Path, data: Path) -> dict[str, tuple[list, str]]:
    """Each bad input: the command's arguments after SPEECH OUT_DIR, and the error's words."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio")
    _recordings(tmp_path / "short", {"ok.wav": 2.0, "brief.wav": 0.5})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.wav").write_bytes(b"not audio at all")
    (tmp_path / "list.txt").write_text("missing.wav\n")
    return {
        "no audio": (["--noise", tmp_path / "empty"], "empty: no audio files"),
        "short": (["--noise", tmp_path / "short"], "brief.wav: 0.50 s, shorter than 1 s"),
        "unreadable": (["--noise", tmp_path / "broken"], "x.wav: not a readable audio file"),
        "missing": (["--noise", tmp_path / "list.txt"], "list.txt:1:"),
        "kind": (["--noise", "purple"], "--noise purple: not a built-in kind"),
        "snr": (["--snr", "abc"], "--snr abc: expected a number"),
        "range": (["--snr-range", "5,-5"], "--snr-range 5,-5: expected LOW,HIGH dB with LOW"),
        "range text": (["--snr-range", "5"], "--snr-range 5: expected LOW,HIGH"),
        "both": (["--snr", "0", "--snr-range", "0,1"], "pass one of them"),
        "part": (["--part", "dev"], "--part dev: use train, test or all"),
        "twice": (["--noise", "white", "--noise", "white"], "--noise white: given twice"),
        "empty": (["--noise", ""], "--noise : not a built-in kind"),
    }


def test_bad_inputs_are_one_line_errors_and_leave_nothing(data, tmp_path):
    for name, (args, needle) in _bad_inputs(tmp_path, data).items():
        out = tmp_path / f"out-{name.replace(' ', '-')}"
        result = run("prepare", "background", data, out, *args)
        assert_user_error(result, needle)
        assert not out.exists(), name
    assert not list(tmp_path.glob(".out*")), "a temporary dir was left"


def test_a_dir_without_references_or_of_backgrounds_is_refused(data, tmp_path):
    weak = tmp_path / "weak"
    write_datadir(weak, load_datadir(data).mixtures, {})
    assert_user_error(run("prepare", "background", weak, tmp_path / "o"), "no spk1.scp/spk2.scp")
    assert_user_error(
        run("prepare", "background", tmp_path / "nowhere", tmp_path / "o"), "not a directory"
    )
    made = tmp_path / "made"
    assert run("prepare", "background", data, made).exit_code == 0
    assert_user_error(run("prepare", "background", made, tmp_path / "o"), "speech, background")
    assert not (tmp_path / "o").exists()


def test_an_existing_out_dir_needs_force_and_must_be_ours(data, tmp_path):
    out = tmp_path / "out"
    assert run("prepare", "background", data, out).exit_code == 0
    assert_user_error(run("prepare", "background", data, out), "pass --force")
    assert run("prepare", "background", data, out, "--force", "--noise", "pink").exit_code == 0
    assert json.loads((out / SUMMARY_FILE).read_text())["noises"] == ["pink"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert_user_error(run("prepare", "background", data, other, "--force"), "no background.json")
    save_audio(tmp_path / "tiny" / "x.wav", np.zeros(10), RATE)
    assert_user_error(
        run("prepare", "background", data, out, "--force", "--noise", tmp_path / "tiny"),
        "shorter than 1 s",
    )
    assert load_datadir(out).names == ("speech", "background")  # the old dir is kept whole
