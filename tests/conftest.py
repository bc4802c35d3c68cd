"""Shared fixtures. Corpus builders (prefix ``corpus_``) write tiny TIMIT, LibriSpeech and
manifest corpora of generated tones and noise bursts."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner, Result


def _signal(name: str, gender: str, rate: int = 16000) -> np.ndarray:
    """1-3 s of a harmonic tone (high for F, low for M) with noise bursts; seeded by ``name``."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    n = int(rng.uniform(1.0, 3.0) * rate)
    t = np.arange(n) / rate
    f0 = rng.uniform(190, 250) if gender == "F" else rng.uniform(90, 130)
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5))
    bursts = rng.standard_normal(n) * (np.sin(2 * np.pi * rng.uniform(2, 4) * t) > 0.7)
    return (0.1 * tone + 0.05 * bursts).astype(np.float32)


def _invoke(args: list) -> Result:
    from vaesep.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def corpus_cli() -> Callable[[list], Result]:
    """``run(args)``: invoke ``vaesep`` in-process (arguments may be paths); stderr is apart."""
    return _invoke


@pytest.fixture
def corpus_signal() -> Callable[..., np.ndarray]:
    """``signal(name, gender, rate=16000)``: the generated test signal the builders write."""
    return _signal


@pytest.fixture
def corpus_make_timit() -> Callable[..., Path]:
    """Build a TIMIT layout: ``make(root, speakers, sentences, upper=True, riff=(), rate8k=())``.

    ``speakers`` maps ``"FAKS0"`` to ``(split, dialect)``; NIST SPHERE ``.WAV`` files unless
    the speaker is in ``riff``; 8 kHz for speakers in ``rate8k``; ``.TXT`` transcripts beside.
    """

    def make(
        root: Path,
        speakers: dict[str, tuple[str, str]],
        sentences: tuple[str, ...] = ("SA1", "SA2", "SI1", "SI2", "SX1", "SX2", "SX3"),
        upper: bool = True,
        riff: tuple[str, ...] = (),
        rate8k: tuple[str, ...] = (),
    ) -> Path:
        case = str.upper if upper else str.lower
        for speaker, (split, dialect) in speakers.items():
            folder = root / case(split) / case(dialect) / case(speaker)
            folder.mkdir(parents=True, exist_ok=True)
            rate = 8000 if speaker in rate8k else 16000
            for sentence in sentences:
                signal = _signal(speaker + sentence, speaker[0], rate)
                fmt = "WAV" if speaker in riff else "NIST"
                path = folder / case(f"{sentence}.wav")
                sf.write(str(path), signal, rate, subtype="PCM_16", format=fmt)
                text = f"0 {len(signal)} Words of {speaker} {sentence}.\n"
                (folder / case(f"{sentence}.txt")).write_text(text)
        return root

    return make


@pytest.fixture
def corpus_timit(tmp_path: Path, corpus_make_timit: Callable[..., Path]) -> Path:
    """A TIMIT of 3+3 train and 2+2 test speakers, 7 sentences each (2 SA)."""
    speakers = {
        "FAKS0": ("train", "DR1"),
        "FBCD0": ("train", "DR1"),
        "FCEF0": ("train", "DR2"),
        "MDAB0": ("train", "DR1"),
        "MEFG0": ("train", "DR2"),
        "MFGH0": ("train", "DR2"),
        "FTST0": ("test", "DR3"),
        "FTST1": ("test", "DR4"),
        "MTST0": ("test", "DR3"),
        "MTST1": ("test", "DR4"),
    }
    return corpus_make_timit(tmp_path / "timit", speakers, rate8k=("FTST1",), riff=("MTST1",))


@pytest.fixture
def corpus_librispeech(tmp_path: Path) -> Path:
    """LibriSpeech with train-clean-100 (2 F, 2 M, one unknown speaker) and test-clean (1+1)."""
    root = tmp_path / "LibriSpeech"
    table = {"19": "F", "32": "F", "26": "M", "27": "M", "1688": "F", "1998": "M"}
    layout = {
        "train-clean-100": {"19": 3, "32": 3, "26": 3, "27": 3, "999": 2},
        "test-clean": {"1688": 3, "1998": 3},
    }
    root.mkdir()
    lines = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    lines += [f"{spk:<5}| {sex} | some-subset | 25.0 | Reader {spk}" for spk, sex in table.items()]
    (root / "SPEAKERS.TXT").write_text("; a comment\n" + "\n".join(lines) + "\n")
    for subset, speakers in layout.items():
        for speaker, count in speakers.items():
            chapter = root / subset / speaker / "100"
            chapter.mkdir(parents=True)
            texts = []
            for i in range(count):
                utt = f"{speaker}-100-{i:04d}"
                gender = table.get(speaker, "F")
                sf.write(str(chapter / f"{utt}.flac"), _signal(utt, gender), 16000)
                texts.append(f"{utt} WORDS OF {utt}\n")
            (chapter / f"{speaker}-100.trans.txt").write_text("".join(texts))
    return root


@pytest.fixture
def corpus_manifest(tmp_path: Path) -> Path:
    """A manifest CSV of 3 female and 3 male speakers, 3 RIFF files each, relative paths."""
    root = tmp_path / "manifest"
    rows = ["path,speaker,gender,extra"]
    for speaker, gender in (("anna", "female"), ("beth", "F"), ("cleo", "f")) + (
        ("dave", "MALE"),
        ("emil", "m"),
        ("finn", "Male"),
    ):
        for i in range(3):
            rel = Path("audio") / speaker / f"{i}.wav"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(root / rel), _signal(f"{speaker}{i}", gender[0].upper()), 16000)
            rows.append(f"{rel},{speaker},{gender},ignored")
    path = root / "list.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module of tiny tensors, where thread hand-offs would dominate
    (and two threads are slow on a loaded 2-core machine); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
