"""Corpus readers: TIMIT, LibriSpeech and CSV manifests on tiny generated corpora."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaesep.data.corpora import Utterance, load_corpus, parse_gender
from vaesep.data.corpora.librispeech import read_librispeech
from vaesep.data.corpora.manifest import read_manifest
from vaesep.data.corpora.timit import read_timit
from vaesep.errors import VaesepError
from vaesep.io.audio import audio_info


def _by_id(utts: list[Utterance]) -> dict[str, Utterance]:
    return {u.utt_id: u for u in utts}


def test_timit_reader_finds_speakers_genders_dialects_and_splits(corpus_timit: Path) -> None:
    corpus = read_timit(corpus_timit)
    assert corpus.kind == "timit" and corpus.root == corpus_timit
    assert len(corpus.utterances) == 10 * 5  # SA1 and SA2 left out
    utt = _by_id(corpus.utterances)["FAKS0_SX2"]
    assert (utt.speaker, utt.gender, utt.split) == ("FAKS0", "F", "train")
    assert utt.meta == {"dialect": "DR1", "sentence_type": "SX"}
    assert utt.text == "Words of FAKS0 SX2."
    assert utt.path.name == "SX2.WAV"
    assert corpus.speakers("F") == ["FAKS0", "FBCD0", "FCEF0", "FTST0", "FTST1"]
    assert Counter(u.split for u in corpus.utterances) == {"train": 30, "test": 20}
    assert {u.meta["dialect"] for u in corpus.utterances if u.split == "test"} == {"DR3", "DR4"}
    assert audio_info(utt.path).format == "NIST"


def test_timit_reader_includes_sa_on_request(corpus_timit: Path) -> None:
    corpus = read_timit(corpus_timit, include_sa=True)
    assert len(corpus.utterances) == 10 * 7
    assert Counter(u.meta["sentence_type"] for u in corpus.utterances) == {
        "SA": 20,
        "SI": 20,
        "SX": 30,
    }


def test_timit_reader_lower_case_riff_under_wrapper_folder(
    tmp_path: Path, corpus_make_timit
) -> None:
    speakers = {"fabc0": ("train", "dr5"), "mxyz1": ("test", "dr8")}
    corpus_make_timit(tmp_path / "ldc" / "timit", speakers, upper=False, riff=("fabc0",))
    corpus = read_timit(tmp_path / "ldc")
    assert corpus.root == tmp_path / "ldc" / "timit"
    utts = _by_id(corpus.utterances)
    assert set(utts) == {
        f"{s}_{n}" for s in ("FABC0", "MXYZ1") for n in ("SI1", "SI2", "SX1", "SX2", "SX3")
    }
    assert utts["MXYZ1_SI1"].meta["dialect"] == "DR8" and utts["MXYZ1_SI1"].split == "test"
    assert utts["FABC0_SX1"].path.name == "sx1.wav"
    assert audio_info(utts["FABC0_SX1"].path).format == "WAV"


def test_timit_reader_prefers_original_over_converted_copy_and_skips_odd_names(
    tmp_path: Path, corpus_make_timit
) -> None:
    root = corpus_make_timit(tmp_path / "t", {"FAAA0": ("train", "DR1"), "MBBB0": ("test", "DR2")})
    folder = root / "TRAIN" / "DR1" / "FAAA0"
    sf.write(str(folder / "SX1.WAV.wav"), [0.1, 0.2] * 800, 16000)
    sf.write(str(folder / "NOTES.WAV"), [0.1, 0.2] * 800, 16000)
    corpus = read_timit(root)
    assert _by_id(corpus.utterances)["FAAA0_SX1"].path.name == "SX1.WAV"
    assert [Path(s["path"]).name for s in corpus.skipped] == ["NOTES.WAV"]


def test_timit_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(VaesepError, match="no such directory"):
        read_timit(tmp_path / "missing")
    (tmp_path / "empty" / "other").mkdir(parents=True)
    with pytest.raises(VaesepError, match="no TIMIT layout"):
        read_timit(tmp_path / "empty")
    (tmp_path / "bare" / "TRAIN" / "DR1" / "FAKS0").mkdir(parents=True)
    with pytest.raises(VaesepError, match="no TIMIT utterances"):
        read_timit(tmp_path / "bare")


def test_librispeech_reader_genders_subsets_and_unknown_speakers(corpus_librispeech: Path) -> None:
    corpus = read_librispeech(corpus_librispeech)
    assert corpus.kind == "librispeech"
    utts = _by_id(corpus.utterances)
    assert len(utts) == 12 + 6
    u = utts["1688-100-0002"]
    assert (u.speaker, u.gender, u.split) == ("1688", "F", "test")
    assert u.meta == {"subset": "test-clean", "chapter": "100"}
    assert u.text == "WORDS OF 1688-100-0002"
    assert utts["26-100-0000"].gender == "M" and utts["26-100-0000"].split == "train"
    assert len(corpus.skipped) == 2 and "999 not in SPEAKERS.TXT" in corpus.skipped[0]["reason"]


def test_librispeech_reader_subset_options(corpus_librispeech: Path) -> None:
    corpus = read_librispeech(corpus_librispeech, test_subsets=[])
    assert {u.split for u in corpus.utterances} == {"train"}
    both = read_librispeech(corpus_librispeech, ["test-clean"], ["test-clean"])
    assert len(both.utterances) == 6 and {u.split for u in both.utterances} == {None}
    one = read_librispeech(corpus_librispeech / "test-clean")  # a subset folder as root
    assert one.root == corpus_librispeech and len(one.utterances) == 6
    with pytest.raises(VaesepError, match="no subset dev-clean; found test-clean, train-clean-100"):
        read_librispeech(corpus_librispeech, test_subsets=["dev-clean"])


def test_librispeech_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(VaesepError, match="no such directory"):
        read_librispeech(tmp_path / "nope")
    with pytest.raises(VaesepError, match="no SPEAKERS.TXT"):
        read_librispeech(tmp_path)


def test_manifest_reader(corpus_manifest: Path) -> None:
    corpus = read_manifest(corpus_manifest)
    assert corpus.kind == "manifest" and len(corpus.utterances) == 18
    utts = _by_id(corpus.utterances)
    u = utts["dave_0"]
    assert (u.speaker, u.gender, u.split) == ("dave", "M", None)
    assert u.path == corpus_manifest.parent / "audio" / "dave" / "0.wav" and u.path.is_file()
    assert Counter(u.gender for u in corpus.utterances) == {"F": 9, "M": 9}


def test_manifest_split_column_and_absolute_paths(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text(
        "Speaker, Gender ,PATH,split\n"
        "Jo Ann,F,/data/a b.wav,train\n"
        "kim,male,rel/k1.flac,TEST\n"
        "kim,male,rel/k2.flac,\n"
    )
    utts = read_manifest(csv).utterances
    assert [u.utt_id for u in utts] == ["Jo-Ann_a-b", "kim_k1", "kim_k2"]
    assert [u.split for u in utts] == ["train", "test", None]
    assert utts[0].path == Path("/data/a b.wav") and utts[1].path == tmp_path / "rel" / "k1.flac"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,speaker\na.wav,x\n", r"missing column\(s\) gender; .*found: path,speaker"),
        ("path,speaker,gender\na.wav,x,F\nb.wav,y,child\n", r"m.csv:3: gender 'child' is not F"),
        ("path,speaker,gender,split\na.wav,x,F,dev\n", r"m.csv:2: split 'dev' is not train"),
        ("path,speaker,gender\na.wav,,F\n", r"m.csv:2: empty path or speaker"),
        ("path,speaker,gender\na.wav,x,F\na.wav,x,F\n", r"m.csv:3: .*a.wav is listed again"),
        ("path,speaker,gender\n", "no rows"),
        ("", r"missing column\(s\) path, speaker, gender"),
    ],
)
def test_manifest_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(VaesepError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_dispatcher_and_gender_parsing(corpus_timit: Path, tmp_path: Path) -> None:
    assert len(load_corpus("timit", corpus_timit, include_sa=True).utterances) == 70
    with pytest.raises(VaesepError, match="unknown corpus type 'wsj'"):
        load_corpus("wsj", tmp_path)
    with pytest.raises(VaesepError, match="no such manifest"):
        load_corpus("manifest", tmp_path / "x.csv")
    assert [parse_gender(g) for g in ("F", " female", "MALE", "m", "x")] == [
        "F",
        "F",
        "M",
        "M",
        None,
    ]


def test_manifest_ids_are_unique_by_themselves(tmp_path: Path) -> None:
    """The same file name of one speaker in two folders gets the folders in its id."""
    for folder in ("train/SF1", "eval/SF1"):
        (tmp_path / folder).mkdir(parents=True)
        sf.write(tmp_path / folder / "100001.wav", np.zeros(800, np.float32), 8000)
    sf.write(tmp_path / "train/SF1/100002.wav", np.zeros(800, np.float32), 8000)
    manifest = tmp_path / "m.csv"
    rows = ["train/SF1/100001.wav", "eval/SF1/100001.wav", "train/SF1/100002.wav"]
    manifest.write_text("path,speaker,gender\n" + "".join(f"{r},SF1,F\n" for r in rows))
    ids = [u.utt_id for u in read_manifest(manifest).utterances]
    assert ids == ["SF1_100001-train", "SF1_100001-eval", "SF1_100002"]
    (tmp_path / "train/SF1/100001.flac").write_bytes(
        (tmp_path / "train/SF1/100001.wav").read_bytes()
    )
    manifest.write_text(
        "path,speaker,gender\ntrain/SF1/100001.wav,SF1,F\ntrain/SF1/100001.flac,SF1,F\n"
    )
    assert [u.utt_id for u in read_manifest(manifest).utterances] == [
        "SF1_100001-wav",
        "SF1_100001-flac",
    ]
    manifest.write_text("path,speaker,gender\n" + f"{rows[0]},SF1,F\n" * 2)
    with pytest.raises(VaesepError, match="m.csv:3: .*100001.wav is listed again \\(line 2\\)"):
        read_manifest(manifest)
