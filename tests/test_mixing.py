"""Mixing: pairing, levels, splits, data dirs, prepare.json, determinism and errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaesep.data.corpora import Corpus, Utterance
from vaesep.data.corpora.manifest import read_manifest
from vaesep.data.corpora.timit import read_timit
from vaesep.data.datadir import load_datadir
from vaesep.data.mixing import MixOptions, parse_crop
from vaesep.data.preparation import prepare_mixtures
from vaesep.data.splits import pair_utterances
from vaesep.errors import VaesepError

SMALL = {"num_train": 12, "num_test": 4}


def _read(path: str) -> tuple[np.ndarray, int]:
    return sf.read(path, dtype="float32")


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))


def _triples(split_dir: Path):
    data = load_datadir(split_dir)
    for utt, mix in data.mixtures.items():
        yield utt, _read(mix), _read(data.sources["female"][utt]), _read(data.sources["male"][utt])


def test_mixture_is_sum_of_references_at_the_requested_ratio(
    corpus_timit: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mf"
    summary = prepare_mixtures(read_timit(corpus_timit), out, MixOptions(**SMALL, snr_db=5.0))
    assert (
        summary["splits"]["train"]["mixtures"] == 12 and summary["splits"]["test"]["mixtures"] == 4
    )
    for split, count in (("train", 12), ("test", 4)):
        triples = list(_triples(out / split))
        assert len(triples) == count
        for utt, (mix, sr), (female, _), (male, _) in triples:
            assert sr == 16000 and len(mix) == len(female) == len(male)
            np.testing.assert_allclose(mix, female + male, atol=1e-6)
            assert _rms_db(female) - _rms_db(male) == pytest.approx(5.0, abs=0.01)
            assert np.abs(mix).max() <= 0.99 + 1e-6
            fspk, mspk = utt.split("__")[0].split("_")[0], utt.split("__")[1].split("_")[0]
            assert fspk[0] == "F" and mspk[0] == "M"
    scp = (out / "train" / "wav.scp").read_text().splitlines()
    assert scp == sorted(scp) and all(Path(line.split()[1]).is_absolute() for line in scp)
    assert (out / "wav" / "train" / f"{scp[0].split()[0]}_mix.wav").is_file()
    utt2spk = dict(line.split() for line in (out / "train" / "utt2spk").read_text().splitlines())
    assert all(utt.startswith(spk + "_") for utt, spk in utt2spk.items())


def test_speaker_disjoint_corpus_split_and_prepare_json(corpus_timit: Path, tmp_path: Path) -> None:
    corpus = read_timit(corpus_timit)
    prepare_mixtures(corpus, tmp_path / "mf", MixOptions(**SMALL, seed=3))
    info = json.loads((tmp_path / "mf" / "prepare.json").read_text())
    assert info["corpus"] == {
        "type": "timit",
        "root": str(corpus_timit),
        "utterances": 50,
        "female_speakers": 5,
        "male_speakers": 5,
    }
    assert info["seed"] == 3 and info["split_from"] == "corpus"
    assert info["options"]["num_train"] == 12 and info["options"]["snr_db"] == 0.0
    train, test = info["splits"]["train"], info["splits"]["test"]
    assert train["female_speakers"] == ["FAKS0", "FBCD0", "FCEF0"]
    assert test["male_speakers"] == ["MTST0", "MTST1"]
    assert train["female_utterances"] == 12 and train["max_uses"] == 1
    assert info["num_skipped"] == 0 and info["skipped"] == []
    assert info["seconds"] == pytest.approx(train["seconds"] + test["seconds"], abs=0.01)
    assert 12 < train["seconds"] < 36 and info["time_taken_s"] > 0
    rows = (tmp_path / "mf" / "train" / "mixtures.csv").read_text().splitlines()
    assert rows[0].startswith("utt_id,female_path,female_start_s,male_path") and len(rows) == 13


def test_same_seed_same_output_other_seed_other_output(corpus_timit: Path, tmp_path: Path) -> None:
    corpus = read_timit(corpus_timit)
    options = dict(SMALL, snr_range=(-5.0, 5.0), crop=(0.5, 1.5))
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        prepare_mixtures(corpus, tmp_path / name, MixOptions(**options, seed=seed))

    def listing(name: str) -> dict[str, str | bytes]:
        """Data dir files and audio samples (float WAV headers hold a time stamp)."""
        root = tmp_path / name
        lists = [*root.glob("*/*.scp"), *root.glob("*/utt2spk"), *root.glob("*/mixtures.csv")]
        audio = sorted(root.glob("wav/*/*.wav"))
        found = {str(p.relative_to(root)): p.read_text().replace(str(root), "") for p in lists}
        found.update({str(p.relative_to(root)): _read(str(p))[0].tobytes() for p in audio})
        return found

    assert listing("a") == listing("b")
    assert listing("a").keys() != listing("c").keys()


def test_random_split_is_speaker_disjoint_and_overlap_splits_utterances(
    corpus_timit: Path, tmp_path: Path
) -> None:
    corpus = read_timit(corpus_timit)
    info = prepare_mixtures(corpus, tmp_path / "r", MixOptions(**SMALL, split="random"))
    train, test = info["splits"]["train"], info["splits"]["test"]
    assert info["split_from"] == "speakers"
    for key in ("female_speakers", "male_speakers"):
        assert train[key] and test[key] and not set(train[key]) & set(test[key])
    unsplit = Corpus("timit", corpus.root, [_no_split(u) for u in corpus.utterances])
    options = MixOptions(**SMALL, allow_speaker_overlap=True)
    info = prepare_mixtures(unsplit, tmp_path / "o", options)
    assert info["split_from"] == "utterances"
    ids = {s: set(load_datadir(tmp_path / "o" / s).mixtures) for s in ("train", "test")}
    used = {s: {part for utt in ids[s] for part in utt.split("__")} for s in ids}
    assert not used["train"] & used["test"]


def _no_split(u: Utterance) -> Utterance:
    return Utterance(u.path, u.speaker, u.gender, u.utt_id)


def test_peak_level_max_length_crop_and_resampling(corpus_timit: Path, tmp_path: Path) -> None:
    corpus = read_timit(corpus_timit)
    options = MixOptions(**SMALL, level="peak", length="max", sample_rate=8000)
    prepare_mixtures(corpus, tmp_path / "p", options)
    for _, (_mix, sr), (female, _), (male, _) in _triples(tmp_path / "p" / "test"):
        assert sr == 8000
        assert np.abs(female).max() == pytest.approx(np.abs(male).max(), rel=1e-5)
        assert female[-1] == 0 or male[-1] == 0  # the shorter one is zero-padded
    prepare_mixtures(corpus, tmp_path / "c", MixOptions(**SMALL, crop=(0.5, 0.8)))
    info = json.loads((tmp_path / "c" / "prepare.json").read_text())
    assert info["splits"]["test"]["seconds"] <= 4 * 0.8 + 1e-3
    for _, (mix, sr), _, _ in _triples(tmp_path / "c" / "train"):
        assert 0.5 * sr - 1 <= len(mix) <= 0.8 * sr + 1


def test_snr_range_draws_ratios_within_bounds(corpus_timit: Path, tmp_path: Path) -> None:
    options = MixOptions(**SMALL, snr_range=(-6.0, 6.0))
    prepare_mixtures(read_timit(corpus_timit), tmp_path / "s", options)
    ratios = [
        _rms_db(f) - _rms_db(m) for _, _, (f, _), (m, _) in _triples(tmp_path / "s" / "train")
    ]
    assert all(-6.01 <= r <= 6.01 for r in ratios) and np.std(ratios) > 1


def test_unreadable_and_silent_files_are_skipped_and_replaced(
    corpus_timit: Path, tmp_path: Path
) -> None:
    corpus = read_timit(corpus_timit)
    broken = corpus_timit / "TEST" / "DR3" / "FTST0" / "SI1.WAV"
    broken.write_bytes(b"NIST_1A\n garbage")
    silent = corpus_timit / "TEST" / "DR3" / "MTST0" / "SX1.WAV"
    sf.write(str(silent), np.zeros(16000), 16000, format="NIST", subtype="PCM_16")
    info = prepare_mixtures(corpus, tmp_path / "mf", MixOptions(**dict(SMALL, num_test=16)))
    reasons = {Path(s["path"]).name: s["reason"] for s in info["skipped"]}
    assert info["num_skipped"] == 2 and "not a readable audio file" in reasons["SI1.WAV"]
    assert reasons["SX1.WAV"].startswith("silent")
    assert info["splits"]["test"]["mixtures"] == 16
    ids = load_datadir(tmp_path / "mf" / "test").mixtures
    used = {part for utt in ids for part in utt.split("__")}
    assert "FTST0_SI1" not in used and "MTST0_SX1" not in used and len(used) > 16


def test_force_overwrites_and_removes_stale_outputs(corpus_timit: Path, tmp_path: Path) -> None:
    corpus = read_timit(corpus_timit)
    out = tmp_path / "mf"
    prepare_mixtures(corpus, out, MixOptions(**SMALL))
    with pytest.raises(VaesepError, match="exists and is not empty; pass --force"):
        prepare_mixtures(corpus, out, MixOptions(**SMALL))
    (out / "notes.txt").write_text("mine")
    prepare_mixtures(corpus, out, MixOptions(num_train=3, num_test=0, seed=1, force=True))
    assert len(list((out / "wav" / "train").glob("*.wav"))) == 9
    assert not (out / "test").exists() or not any((out / "test").iterdir())
    assert not list((out / "wav" / "test").glob("*.wav"))
    assert (out / "notes.txt").read_text() == "mine"


def test_errors(corpus_timit: Path, corpus_manifest: Path, tmp_path: Path) -> None:
    corpus = read_timit(corpus_timit)
    females = Corpus("timit", corpus.root, [u for u in corpus.utterances if u.gender == "F"])
    with pytest.raises(VaesepError, match="no male speakers found among 25 utterances"):
        prepare_mixtures(females, tmp_path / "a")
    with pytest.raises(VaesepError, match="test split: 20 mixtures need more utterances: found 10"):
        prepare_mixtures(corpus, tmp_path / "b", MixOptions(num_train=2, num_test=20, max_uses=1))
    with pytest.raises(VaesepError, match="train split: 1000 mixtures need more"):
        prepare_mixtures(corpus, tmp_path / "c", MixOptions(num_train=1000))
    with pytest.raises(VaesepError, match="--level 'loud'"):
        prepare_mixtures(corpus, tmp_path / "d", MixOptions(level="loud"))
    one_each = read_manifest(corpus_manifest)
    one_each.utterances = [u for u in one_each.utterances if u.speaker in ("anna", "dave")]
    with pytest.raises(VaesepError, match="only 1 female speaker; a train/test split needs 2"):
        prepare_mixtures(one_each, tmp_path / "e", MixOptions(**SMALL))
    (tmp_path / "file").write_text("x")
    with pytest.raises(VaesepError, match="is not a directory"):
        prepare_mixtures(corpus, tmp_path / "file")


def test_pairing_is_unique_balanced_and_spread() -> None:
    def utts(gender: str, speakers: int, each: int) -> list[Utterance]:
        return [
            Utterance(Path(f"{gender}{s}_{i}"), f"{gender}{s}", gender, f"{gender}{s}_{i}")
            for s in range(speakers)
            for i in range(each)
        ]

    females, males = utts("F", 3, 4), utts("M", 2, 5)
    pairs = pair_utterances(females, males, 30, np.random.default_rng(0))
    assert len({(f.utt_id, m.utt_id) for f, m in pairs}) == 30
    f_uses, m_uses = Counter(f.utt_id for f, _ in pairs), Counter(m.utt_id for _, m in pairs)
    assert set(f_uses.values()) <= {2, 3} and len(f_uses) == 12
    assert set(m_uses.values()) == {3} and len(m_uses) == 10
    everything = pair_utterances(females, males, 120, np.random.default_rng(1))
    assert len({(f.utt_id, m.utt_id) for f, m in everything}) == 120
    first = pair_utterances(females, males, 3, np.random.default_rng(0))
    assert len({f.speaker for f, _ in first}) == 3  # the first pairs cover all female speakers
    with pytest.raises(VaesepError, match="found 12 female and 10 male"):
        pair_utterances(females, males, 121, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("text", "crop"), [("2-4", (2.0, 4.0)), ("3", (3.0, 3.0)), ("off", None), (" None ", None)]
)
def test_parse_crop(text: str, crop) -> None:
    assert parse_crop(text) == crop


@pytest.mark.parametrize("text", ["4-2", "a-b", "0-1"])
def test_parse_crop_errors(text: str) -> None:
    with pytest.raises(VaesepError, match="--crop"):
        parse_crop(text)
