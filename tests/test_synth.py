"""The built-in corpus: speaker plan, sentences, and a real (small) synthesis when possible."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from vaesep.data.corpora.sentences import SHARED, SINGLE
from vaesep.data.corpora.synth import plan_speakers, synth_corpus
from vaesep.data.corpora.timit import read_timit
from vaesep.errors import VaesepError
from vaesep.io.audio import audio_info

HAVE_TTS = bool(shutil.which("espeak-ng") and shutil.which("flite"))


def test_speaker_plan_is_distinct_balanced_and_seeded() -> None:
    speakers = plan_speakers(8, seed=0)
    assert [s.speaker for s in speakers[:2]] == ["FSYN0", "FSYN1"] and speakers[
        8
    ].speaker == "MSYN0"
    for gender in ("F", "M"):
        group = [s for s in speakers if s.gender == gender]
        assert len(group) == 8 and all(s.speaker[0] == gender for s in group)
        assert Counter(s.split for s in group) == {"train": 6, "test": 2}
        assert Counter(s.engine for s in group) == {"espeak-ng": 6, "flite": 2}
        assert len({(s.engine, s.voice, s.variant, s.pitch, s.rate) for s in group}) == 8
        assert len({s.pitch for s in group}) == 8 and len({s.rate for s in group}) == 8
    assert plan_speakers(8, seed=0) == speakers and plan_speakers(8, seed=1) != speakers
    assert [s.speaker for s in plan_speakers(12, 0)][10:12] == ["FSYO0", "FSYO1"]
    assert all(s.variant and s.variant[0] == s.gender.lower() for s in speakers if s.variant)


def test_sentences_are_many_distinct_and_short() -> None:
    sentences = SHARED + SINGLE
    assert len(set(sentences)) == len(sentences) >= 60
    assert all(6 <= len(s.split()) <= 10 for s in sentences)


def test_options_are_checked_before_synthesis(tmp_path: Path) -> None:
    with pytest.raises(VaesepError, match="--utterances must be 1 to 50"):
        synth_corpus(tmp_path / "a", utterances=0)


@pytest.mark.skipif(not HAVE_TTS, reason="espeak-ng and flite are not installed")
def test_synth_corpus_is_a_readable_deterministic_timit(tmp_path: Path) -> None:
    info = synth_corpus(tmp_path / "a", speakers_per_gender=2, utterances=2, seed=5)
    synth_corpus(tmp_path / "b", speakers_per_gender=2, utterances=2, seed=5)
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b and len(files_a) == 1 + 4 * 2 * 2
    assert all(
        (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a
    )

    corpus = read_timit(tmp_path / "a")
    assert len(corpus.utterances) == 8
    assert Counter((u.gender, u.split) for u in corpus.utterances) == {
        ("F", "train"): 2,
        ("F", "test"): 2,
        ("M", "train"): 2,
        ("M", "test"): 2,
    }
    for utt in corpus.utterances:
        header = audio_info(utt.path)
        assert (header.format, header.subtype, header.samplerate) == ("NIST", "PCM_16", 16000)
        assert 1.0 < header.duration < 6.0
        assert utt.text in SHARED + SINGLE and utt.meta["sentence_type"] in ("SI", "SX")
        start, end, _ = utt.path.with_suffix(".TXT").read_text().split(maxsplit=2)
        assert (int(start), int(end)) == (0, header.frames)

    saved = json.loads((tmp_path / "a" / "corpus.json").read_text())
    assert saved == json.loads(json.dumps(info)) and saved["seed"] == 5
    assert {s["engine"] for s in saved["speakers"]} == {"espeak-ng", "flite"}
    assert set(saved["speakers"][0]) >= {"speaker", "gender", "engine", "voice", "pitch", "rate"}


@pytest.mark.skipif(not HAVE_TTS, reason="espeak-ng and flite are not installed")
def test_synth_corpus_cli_and_force(corpus_cli, tmp_path: Path) -> None:
    args = ["synth-corpus", str(tmp_path), "--speakers-per-gender", "2", "--utterances", "1"]
    result = corpus_cli(args)
    assert result.exit_code == 0, result.output
    assert "4 speakers (2 in TEST), 4 utterances" in result.stdout
    stale = next(tmp_path.glob("*/DR1/FSYN0")) / "SX99.WAV"
    stale.write_bytes(b"stale")
    (tmp_path / "mine.txt").write_text("kept")
    synth_corpus(tmp_path, speakers_per_gender=2, utterances=1, seed=1, force=True)
    assert not stale.exists()
    assert (tmp_path / "mine.txt").read_text() == "kept"
    assert len(read_timit(tmp_path).utterances) == 4
