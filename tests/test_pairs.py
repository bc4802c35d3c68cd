"""The speaker-pair protocol: ``plan_pairs``, ``prepare_pairs`` and ``vaesep prepare pairs``."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import Result

from vaesep.data.corpora import read_timit
from vaesep.data.datadir import load_datadir
from vaesep.data.speaker_pairs import PairOptions, plan_pairs
from vaesep.errors import VaesepError

TRAIN = {"FAAA0": "DR1", "FBBB0": "DR1", "MCCC0": "DR1", "MDDD0": "DR1"}
TRAIN |= {"FEEE0": "DR2", "FFFF0": "DR2", "MGGG0": "DR2"}


@pytest.fixture
def timit(tmp_path: Path, corpus_make_timit: Callable[..., Path]) -> Path:
    """2 F + 2 M train speakers in DR1 and in DR2 (MHHH0 with 4 sentences, the others 7), a
    DR1 test pair, and a DR1 train female with 2 sentences only: 8 triples."""
    root = tmp_path / "timit"
    speakers = {s: ("train", d) for s, d in TRAIN.items()}
    corpus_make_timit(root, speakers | {"FTST0": ("test", "DR1"), "MTST0": ("test", "DR1")})
    corpus_make_timit(root, {"MHHH0": ("train", "DR2")}, sentences=("SA1", "SI1", "SX1", "SX2"))
    corpus_make_timit(root, {"FSHT0": ("train", "DR1")}, sentences=("SI1", "SX1"))
    return root


def _frames(path: Path) -> int:
    return sf.info(str(path)).frames


def _rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal))))


def _error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("vaesep: error: "), result.stderr
    return line


def test_same_seed_same_pairs_other_seeds_differ(timit: Path) -> None:
    corpus = read_timit(timit, include_sa=True)

    def plan(seed: int) -> list:
        pairs = plan_pairs(corpus, PairOptions(num_pairs=2, seed=seed))
        return [(p.pair_id, p.test.utt_id, [t.utt_id for t in p.train]) for p in pairs]

    assert plan(0) == plan(0)
    assert len({str(plan(seed)) for seed in range(6)}) > 1
    ids = [pair_id for pair_id, _, _ in plan(0)]
    assert ids == sorted(ids) and all(re.fullmatch(r"p0[12]-DR[12]-F...0-M...0", i) for i in ids)
    used = {s for i in ids for s in i.split("-")[2:]}
    assert not used & {"FTST0", "MTST0", "FSHT0"}  # test split; too few utterances


def test_pairs_share_no_speaker_while_the_corpus_allows(timit: Path) -> None:
    corpus = read_timit(timit, include_sa=True)
    pairs = plan_pairs(corpus, PairOptions(num_pairs=4, seed=3))
    speakers = [s for p in pairs for s in (p.female, p.male)]
    assert sorted(speakers) == sorted(TRAIN | {"MHHH0": "DR2"})  # each of the 8 once
    assert all(TRAIN.get(p.female) == p.dialect for p in pairs)
    assert len(plan_pairs(corpus, PairOptions(num_pairs=8))) == 8  # reuse when needed
    with pytest.raises(VaesepError, match=r"only 8 .*--pairs 8"):
        plan_pairs(corpus, PairOptions(num_pairs=9))


def test_test_pair_is_closest_in_length_and_every_other_utterance_trains(timit: Path) -> None:
    corpus = read_timit(timit, include_sa=True)
    by_speaker: dict[str, list] = {}
    for u in corpus.utterances:
        by_speaker.setdefault(u.speaker, []).append(u)
    for pair in plan_pairs(corpus, PairOptions(num_pairs=8)):
        females, males = by_speaker[pair.female], by_speaker[pair.male]
        best = min(
            ((f, m) for f in females for m in males),
            key=lambda p: (abs(_frames(p[0].path) - _frames(p[1].path)), p[0].utt_id, p[1].utt_id),
        )
        assert (pair.test.female, pair.test.male) == best
        train_f = [p.female for p in pair.train]
        train_m = [p.male for p in pair.train]
        assert {u.utt_id for u in train_f} == {u.utt_id for u in females} - {best[0].utt_id}
        assert {u.utt_id for u in train_m} == {u.utt_id for u in males} - {best[1].utt_id}
        assert len(pair.train) == max(len(females), len(males)) - 1
        assert len({p.utt_id for p in pair.train}) == len(pair.train)
        if pair.male == "MHHH0":  # 6 female, 3 male training utterances: males used twice
            assert sorted(u.utt_id for u in train_m) == sorted(2 * [u.utt_id for u in train_m[:3]])
        else:  # the i-th shortest female with the i-th shortest male
            assert [_frames(u.path) for u in train_f] == sorted(_frames(u.path) for u in train_f)
            assert [_frames(u.path) for u in train_m] == sorted(_frames(u.path) for u in train_m)


def test_cli_writes_pairs_and_refuses_an_existing_out_dir(corpus_cli, timit: Path, tmp_path):
    out = tmp_path / "pairs"
    result = corpus_cli(["prepare", "pairs", timit, out, "--pairs", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line[:4] for line in lines[:2]] == ["p01-", "p02-"] and len(lines) == 3
    assert lines[-1] == f"wrote {out} (2 pairs)"
    assert "leaving out speaker FSHT0: 2 usable utterances" in result.stderr
    info = json.loads((out / "pairs.json").read_text())
    assert info["options"]["num_pairs"] == 2 and info["corpus"]["type"] == "timit"
    for pair in info["pairs"]:
        train, test = (load_datadir(out / pair["id"] / s) for s in ("train", "test"))
        assert train.utt_ids == sorted(pair["train"]) and test.utt_ids == [pair["test"]]
        assert not set(train.utt_ids) & set(test.utt_ids)
        for data in (train, test):
            with (data.root / "mixtures.csv").open() as handle:
                rows = {row["utt_id"]: row for row in csv.DictReader(handle)}
            for utt, mix_path in data.mixtures.items():
                mix, rate = sf.read(mix_path)
                female = sf.read(data.sources["female"][utt])[0]
                male = sf.read(data.sources["male"][utt])[0]
                longer = max(_frames(rows[utt]["female_path"]), _frames(rows[utt]["male_path"]))
                assert rate == 16000 and len(mix) == len(female) == len(male) == longer
                np.testing.assert_allclose(mix, female + male, atol=1e-6)
                assert np.isclose(_rms(female), _rms(male), rtol=1e-4)  # 0 dB
    again = corpus_cli(["prepare", "pairs", timit, out, "--pairs", "2"])
    assert "pass --force" in _error_line(again) and len(again.stderr.strip().splitlines()) == 1
    forced = corpus_cli(["prepare", "pairs", timit, out, "--pairs", "1", "--seed", "1", "--force"])
    assert forced.exit_code == 0, forced.output
    new = json.loads((out / "pairs.json").read_text())["pairs"]
    assert len(new) == 1
    for pair in info["pairs"]:
        if pair["id"] != new[0]["id"]:
            assert not (out / pair["id"] / "train" / "wav.scp").exists()


def test_cli_option_errors(corpus_cli, timit: Path, tmp_path: Path) -> None:
    line = _error_line(corpus_cli(["prepare", "pairs", timit, tmp_path / "a", "--pairs", "9"]))
    assert "only 8" in line and "--pairs 8" in line
    line = _error_line(corpus_cli(["prepare", "pairs", timit, tmp_path / "b", "--split", "dev"]))
    assert "--split 'dev'" in line
    line = _error_line(corpus_cli(["prepare", "pairs", timit, tmp_path / "c", "--kind", "wsj"]))
    assert "--kind 'wsj'" in line


def test_unreadable_and_silent_files_are_skipped(corpus_cli, corpus_make_timit, tmp_path):
    root = tmp_path / "timit"
    sentences = ("SI1", "SX1", "SX2", "SX3")
    corpus_make_timit(root, {"FAAA0": ("train", "DR1")}, sentences=sentences[:3])
    corpus_make_timit(root, {s: ("train", "DR1") for s in ("FBBB0", "FCCC0", "MDDD0")}, sentences)
    (root / "TRAIN/DR1/FAAA0/SX1.WAV").write_bytes(b"not audio")
    silent = root / "TRAIN/DR1/MDDD0/SX3.WAV"
    sf.write(str(silent), np.zeros(8000), 16000, subtype="PCM_16", format="NIST")
    result = corpus_cli(["prepare", "pairs", root, tmp_path / "a", "--pairs", "3"])
    assert "only 2 " in _error_line(result)  # FAAA0 is left with 2 readable utterances
    assert "skipping" in result.stderr and "silent" in result.stderr
    assert "leaving out speaker FAAA0: 2 usable utterances" in result.stderr
    result = corpus_cli(["prepare", "pairs", root, tmp_path / "b", "--pairs", "2"])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "b" / "pairs.json").read_text())
    assert str(silent) in {s["path"] for s in info["skipped"]}
    assert {p["female"] for p in info["pairs"]} == {"FBBB0", "FCCC0"}
    for pair in info["pairs"]:
        assert not any("MDDD0_SX3" in utt for utt in pair["train"] + [pair["test"]])
