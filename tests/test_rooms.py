"""Reverberant multichannel data dirs (``vaesep.data.rooms``, ``vaesep prepare rooms``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synthetic import harmonic_comb
from typer.testing import CliRunner

from vaesep.cli import app
from vaesep.data.datadir import DEFAULT_SOURCES as SOURCES
from vaesep.data.datadir import load_datadir, read_scp, source_scp, write_datadir
from vaesep.data.rooms import DRY_SCP, SUMMARY_FILE, draw_geometry, prepare_rooms
from vaesep.errors import VaesepError

RATE = 8000
SECONDS = 0.5


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _make_dir(root: Path, levels: tuple[float, float] = (0.1, 0.05), n_utts: int = 3) -> Path:
    """A supervised data dir: mixture = female + male, RMS ``levels``, speakers in utt2spk."""
    rng = np.random.default_rng(7)
    mixtures, sources, utt2spk = {}, {"female": {}, "male": {}}, {}
    for i in range(n_utts):
        utt = f"u{i}"
        pair = {
            "female": harmonic_comb(rng.uniform(200, 260), SECONDS, RATE, rng),
            "male": harmonic_comb(rng.uniform(90, 120), SECONDS, RATE, rng),
        }
        for (name, sig), level in zip(pair.items(), levels):
            sig = (sig * level / _rms(sig)).astype(np.float32)
            pair[name] = sig
            sources[name][utt] = str(root / "wav" / f"{utt}_{name}.wav")
            (root / "wav").mkdir(parents=True, exist_ok=True)
            sf.write(sources[name][utt], sig, RATE, subtype="FLOAT")
        mixtures[utt] = str(root / "wav" / f"{utt}_mix.wav")
        sf.write(mixtures[utt], pair["female"] + pair["male"], RATE, subtype="FLOAT")
        utt2spk[utt] = f"spk{i % 2}"
    write_datadir(root, mixtures, sources, utt2spk)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return _make_dir(tmp_path_factory.mktemp("rooms") / "data")


@pytest.fixture(scope="module")
def rooms(data: Path) -> Path:
    out = data.parent / "rooms"
    prepare_rooms(data, out)
    return out


def _read(path: str | Path) -> np.ndarray:
    signal, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == RATE
    return signal.T  # (channels, samples)


def test_mixtures_are_multichannel_and_channel_0_is_the_sum_of_the_images(data, rooms):
    source, out = load_datadir(data), load_datadir(rooms)
    assert out.utt_ids == source.utt_ids
    for utt in out.utt_ids:
        mixture = _read(out.mixtures[utt])
        images = {s: _read(out.sources[s][utt]) for s in SOURCES}
        dry = {s: _read(source.sources[s][utt])[0] for s in SOURCES}
        assert mixture.shape == (2, int(SECONDS * RATE))
        assert all(im.shape == (1, mixture.shape[1]) for im in images.values())
        np.testing.assert_allclose(mixture[0], images["female"][0] + images["male"][0], atol=1e-5)
        assert not np.allclose(mixture[0], mixture[1])  # two different microphones
        ratio = _rms(images["female"]) / _rms(images["male"])
        assert ratio == pytest.approx(_rms(dry["female"]) / _rms(dry["male"]), rel=1e-4)
        assert _rms(images["female"]) == pytest.approx(_rms(dry["female"]), rel=1e-4)
        assert not np.allclose(images["female"][0], dry["female"], atol=1e-3)  # reverberant
    for source_name, scp in zip(SOURCES, DRY_SCP):
        assert read_scp(rooms / scp) == source.sources[source_name]
    for scp in (source_scp(0), source_scp(1)):
        assert all(Path(p).parent == rooms / "wav" for p in read_scp(rooms / scp).values())
    assert (rooms / "utt2spk").read_text() == (data / "utt2spk").read_text()
    assert (rooms / "spk2utt").read_text() == "spk0 u0 u2\nspk1 u1\n"
    assert not [p for p in rooms.parent.iterdir() if p.name.startswith(".")]


def test_rooms_json_holds_the_parameters_and_a_valid_geometry(data, rooms):
    summary = json.loads((rooms / SUMMARY_FILE).read_text())
    assert {k: summary[k] for k in ("rt60", "mics", "spacing", "min_distance", "seed")} == {
        "rt60": 0.15,
        "mics": 2,
        "spacing": 0.05,
        "min_distance": 1.0,
        "seed": 0,
    }
    assert summary["reference_mic"] == 0 and summary["sample_rate"] == RATE
    assert summary["source"] == str(data.resolve()) and summary["mixtures"] == 3
    assert 0.08 < summary["measured_rt60"] < 0.25
    assert set(summary["utterances"]) == {"u0", "u1", "u2"}
    for room in summary["utterances"].values():
        dims = np.array(room["dims"])
        assert 4 <= dims[0] <= 7 and 4 <= dims[1] <= 7 and 2.5 <= dims[2] <= 3.2
        assert 0 < room["absorption"] <= 1 and room["max_order"] > 0
        mics, sources = np.array(room["mics"]), np.array(room["sources"])
        assert mics.shape == (2, 3) and sources.shape == (2, 3)
        assert np.linalg.norm(mics[1] - mics[0]) == pytest.approx(0.05)
        assert np.all(sources >= 0.5) and np.all(sources <= dims - 0.5)
        assert np.all(mics > 0) and np.all(mics < dims)
        centre = mics.mean(axis=0)
        distances = np.linalg.norm(sources - centre, axis=1)
        np.testing.assert_allclose(distances, room["distances"])
        assert np.all(distances >= 1.0) and np.all(distances <= 2.0)
        gap = abs(room["azimuths"][0] - room["azimuths"][1]) % 360
        assert min(gap, 360 - gap) >= 30
        assert abs(room["doa"][0] - room["doa"][1]) >= 30


@pytest.mark.parametrize(("mics", "min_distance"), [(2, 1.0), (4, 0.3), (3, 2.0)])
def test_every_drawn_geometry_keeps_the_placement_rules(mics, min_distance):
    for index in range(200):
        room = draw_geometry(np.random.default_rng([0, index]), mics, 0.1, min_distance)
        dims, sources = np.array(room["dims"]), np.array(room["sources"])
        mic_pos = np.array(room["mics"])
        assert np.all(sources >= 0.5) and np.all(sources <= dims - 0.5)
        assert np.all(mic_pos[:, 2] == 1.5) and np.all(sources[:, 2] >= 1.5)
        distances = np.linalg.norm(sources - mic_pos.mean(axis=0), axis=1)
        assert np.all(distances >= min_distance - 1e-9) and np.all(distances <= min_distance + 1)
        axis = (mic_pos[-1] - mic_pos[0]) / np.linalg.norm(mic_pos[-1] - mic_pos[0])
        doa = np.degrees(
            np.arccos(
                (sources - mic_pos.mean(axis=0))[:, :2]
                @ axis[:2]
                / np.linalg.norm((sources - mic_pos.mean(axis=0))[:, :2], axis=1)
            )
        )
        assert abs(doa[0] - doa[1]) >= 30 - 1e-6  # apart as a linear array sees them
        assert not np.all(np.minimum(doa, 180 - doa) < 15)  # not both on the array's axis


def test_three_mics_give_three_channels(data, tmp_path):
    summary = prepare_rooms(data, tmp_path / "r3", mics=3, spacing=0.04)
    out = load_datadir(tmp_path / "r3")
    assert all(_read(p).shape == (3, int(SECONDS * RATE)) for p in out.mixtures.values())
    room = summary["utterances"]["u0"]
    assert len(room["mics"]) == 3
    assert np.linalg.norm(np.diff(room["mics"], axis=0), axis=1) == pytest.approx([0.04, 0.04])


def test_the_same_seed_gives_the_same_files_another_seed_other_rooms(data, rooms, tmp_path):
    prepare_rooms(data, tmp_path / "again")
    prepare_rooms(data, tmp_path / "other", seed=1)
    for name in sorted(p.name for p in (rooms / "wav").iterdir()):
        # the samples, not the bytes: libsndfile's PEAK chunk holds the time of writing
        samples = _read(rooms / "wav" / name)
        assert np.array_equal(_read(tmp_path / "again" / "wav" / name), samples)
        assert not np.array_equal(_read(tmp_path / "other" / "wav" / name), samples)
    first = json.loads((rooms / SUMMARY_FILE).read_text())["utterances"]
    again = json.loads((tmp_path / "again" / SUMMARY_FILE).read_text())["utterances"]
    other = json.loads((tmp_path / "other" / SUMMARY_FILE).read_text())["utterances"]
    assert first == again
    assert all(first[u]["dims"] != other[u]["dims"] for u in first)


def test_loud_sources_are_scaled_down_together_below_the_peak(tmp_path):
    data = _make_dir(tmp_path / "loud", levels=(0.6, 0.3), n_utts=1)
    summary = prepare_rooms(data, tmp_path / "out")
    assert summary["utterances"]["u0"]["peak_gain"] < 1
    out = load_datadir(tmp_path / "out")
    mixture = _read(out.mixtures["u0"])
    assert np.abs(mixture).max() <= 0.99 + 1e-6
    female, male = (_read(out.sources[s]["u0"]) for s in SOURCES)
    assert _rms(female) / _rms(male) == pytest.approx(2.0, rel=1e-4)


def test_an_existing_dir_is_refused_unless_forced_and_only_its_own(data, rooms, tmp_path):
    with pytest.raises(VaesepError, match="--force"):
        prepare_rooms(data, rooms)
    forced = tmp_path / "forced"
    prepare_rooms(data, forced)
    (forced / "stale.txt").write_text("old")
    prepare_rooms(data, forced, mics=3, force=True)
    assert not (forced / "stale.txt").exists()
    assert json.loads((forced / SUMMARY_FILE).read_text())["mics"] == 3
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(VaesepError, match="not a dir made by"):
        prepare_rooms(data, mine, force=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rt60": 0.0}, "--rt60"),
        ({"rt60": -1.0}, "--rt60"),
        ({"rt60": 0.05}, "--rt60 0.05: too short"),
        ({"mics": 1}, "--mics"),
        ({"spacing": 0.0}, "--spacing"),
        ({"mics": 8, "spacing": 0.5}, "--spacing 0.5"),
        ({"min_distance": 0.0}, "--min-distance"),
        ({"min_distance": 6.0}, "--min-distance 6.0"),
    ],
)
def test_bad_options_are_one_line_errors_and_write_nothing(data, tmp_path, options, message):
    with pytest.raises(VaesepError, match=message) as info:
        prepare_rooms(data, tmp_path / "out", **options)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def _invoke(args: list) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_the_cli_command_writes_the_dir_and_prints_one_line(data, tmp_path):
    out = tmp_path / "cli"
    result = _invoke(["prepare", "rooms", data, out, "--mics", "3", "--rt60", "0.2", "--seed", "4"])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith(f"wrote {out}: 3 mixtures, 3 mics, RT60 0.2 s (measured ")
    assert len(result.stdout.strip().splitlines()) == 1
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["seed"] == 4 and summary["mics"] == 3 and summary["rt60"] == 0.2


@pytest.mark.parametrize(
    ("option", "message"), [("--rt60", "--rt60 -1.0"), ("--spacing", "--spacing -1.0")]
)
def test_a_bad_cli_option_exits_2_with_one_line(data, tmp_path, option, message):
    result = _invoke(["prepare", "rooms", data, tmp_path / "out", option, "-1"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaesep: error: "), result.stderr
    assert message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
