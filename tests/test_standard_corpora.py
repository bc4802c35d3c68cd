"""``vaesep prepare libri2mix|wsj0-2mix`` and their recipes, on tiny generated copies of each
corpus's layout: female+male mixtures kept (female in spk1.scp), same-gender ones dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, run

from vaesep.data.datadir import load_datadir

RATE = 8000
RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# LibriSpeech speakers and WSJ0 speakers of each gender.
LIBRI = {"19": "F", "32": "F", "1688": "F", "26": "M", "27": "M", "1998": "M"}
WSJ = {"01a": "F", "20b": "F", "40c": "F", "01b": "M", "20a": "M", "050": "M"}
# Libri2Mix subset -> mixture ids (the two utterances' speakers, in s1, s2 order).
LIBRI2MIX = {
    "train-100": [
        "19-198-0001_26-495-0002",  # F+M
        "27-123-0001_32-456-0003",  # M+F: the female is s2
        "32-456-0004_27-123-0005",  # F+M
        "19-198-0003_32-456-0006",  # F+F: dropped
        "26-495-0005_27-123-0006",  # M+M: dropped
    ],
    "test": [
        "1688-142-0001_1998-291-0002",  # F+M
        "1998-291-0003_1688-142-0004",  # M+F
        "1688-142-0005_1688-142-0006",  # F+F: dropped
    ],
    "dev": ["19-198-0007_1998-291-0008", "26-495-0009_27-123-0010"],  # F+M, M+M
}
# wsj0-2mix split -> (utt1, snr1, utt2, snr2) lines of its list.
WSJ0_2MIX = {
    "tr": [
        ("01aa010b", "0.97482", "20aa010c", "-0.97482"),  # F+M
        ("050a0101", "1.5", "20bo0102", "-1.5"),  # M+F
        ("01ba0103", "2.1", "20aa0104", "-2.1"),  # M+M: dropped
        ("40co0105", "0.3", "01bo0106", "-0.3"),  # F+M
    ],
    "tt": [("40cc0201", "0.5", "050c0202", "-0.5"), ("20bc0203", "1", "40cc0204", "-1")],
    "cv": [("01ac0301", "0.1", "01bc0302", "-0.1")],
}


def _tone(name: str, gender: str, seconds: float = 1.0) -> np.ndarray:
    """A harmonic tone (high for F, low for M) with a little noise; seeded by ``name``."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = rng.uniform(190, 250) if gender == "F" else rng.uniform(90, 130)
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 4))
    return (0.1 * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _write_mixture(folder: Path, name: str, genders: tuple[str, str], mix: str = "mix") -> None:
    s1, s2 = _tone(name + "1", genders[0]), _tone(name + "2", genders[1])
    for kind, signal in ((mix, s1 + s2), ("s1", s1), ("s2", s2)):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        sf.write(str(folder / kind / f"{name}.wav"), signal, RATE, subtype="PCM_16")


def make_libri2mix(root: Path) -> Path:
    """``root/Libri2Mix/wav8k/min/{train-100,test,dev}`` with metadata, and SPEAKERS.TXT; the
    test CSV's paths point where the tree no longer is (as after moving it)."""
    wav_dir = root / "Libri2Mix" / "wav8k" / "min"
    (wav_dir / "metadata").mkdir(parents=True)
    for subset, ids in LIBRI2MIX.items():
        rows = ["mixture_ID,mixture_path,source_1_path,source_2_path,length"]
        base = Path("/gone/Libri2Mix/wav8k/min") if subset == "test" else wav_dir
        for utt in ids:
            genders = tuple(LIBRI[part.split("-")[0]] for part in utt.split("_"))
            _write_mixture(wav_dir / subset, utt, genders, "mix_clean")
            paths = [base / subset / kind / f"{utt}.wav" for kind in ("mix_clean", "s1", "s2")]
            rows.append(",".join([utt, *map(str, paths), str(RATE)]))
        csv_file = wav_dir / "metadata" / f"mixture_{subset}_mix_clean.csv"
        csv_file.write_text("\n".join(rows) + "\n")
    (root / "LibriSpeech").mkdir()
    lines = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    lines += [
        f"{spk:<5}| {sex} | train-clean-100 | 25.0 | Reader {spk}" for spk, sex in LIBRI.items()
    ]
    (root / "LibriSpeech" / "SPEAKERS.TXT").write_text("\n".join(lines) + "\n")
    return root


def make_wsj0_2mix(root: Path) -> Path:
    """``root/wav8k/min/{tr,cv,tt}``, the ``mix_2_spk_*.txt`` lists and a spkrinfo.txt."""
    for split, lines in WSJ0_2MIX.items():
        text = []
        for utt1, snr1, utt2, snr2 in lines:
            name = f"{utt1}_{snr1}_{utt2}_{snr2}"
            _write_mixture(root / "wav8k" / "min" / split, name, (WSJ[utt1[:3]], WSJ[utt2[:3]]))
            text.append(f"wsj0/si_{split}_s/{utt1[:3]}/{utt1}.wv1 {snr1} wsj0/x/{utt2}.wv1 {snr2}")
        (root / f"mix_2_spk_{split}.txt").write_text("\n".join(text) + "\n")
    info = ["; Speaker information", ";", "; ID  SEX  DOB", ";---  ---  ---"]
    info += [f"{spk.upper()}    {sex}   1/1/60" for spk, sex in WSJ.items()]
    (root / "spkrinfo.txt").write_text("\n".join(info) + "\n")
    return root


def _scp(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(maxsplit=1)) for line in path.read_text().splitlines()]


def _check_female_male(folder: Path, expected: dict[str, tuple[str, str]]) -> None:
    """``expected``: utt id -> which of s1/s2 is the female and which the male source."""
    data = load_datadir(folder)
    assert data.utt_ids == sorted(expected)
    for name in ("wav.scp", "spk1.scp", "spk2.scp", "utt2spk"):
        ids = [utt for utt, _ in _scp(folder / name)]
        assert ids == sorted(expected), name
    for utt, (female, male) in expected.items():
        assert data.sources["female"][utt].endswith(f"/{female}/{utt}.wav")
        assert data.sources["male"][utt].endswith(f"/{male}/{utt}.wav")
        assert Path(data.mixtures[utt]).is_absolute()


def test_libri2mix_keeps_female_male_mixtures_female_first(tmp_path):
    root, out = make_libri2mix(tmp_path / "LibriMix"), tmp_path / "out"
    result = run("prepare", "libri2mix", root, out)
    assert result.exit_code == 0, result.output
    assert "train: 3 female+male mixtures kept, 2 same-gender dropped (1 F+F, 1 M+M)" in (
        result.stdout
    )
    ids = LIBRI2MIX["train-100"]
    _check_female_male(
        out / "train", {ids[0]: ("s1", "s2"), ids[1]: ("s2", "s1"), ids[2]: ("s1", "s2")}
    )
    ids = LIBRI2MIX["test"]
    _check_female_male(out / "test", {ids[0]: ("s1", "s2"), ids[1]: ("s2", "s1")})
    assert str(root) in load_datadir(out / "test").mixtures[ids[0]]  # the tree's own files
    _check_female_male(out / "dev", {LIBRI2MIX["dev"][0]: ("s1", "s2")})
    assert f"{LIBRI2MIX['train-100'][1]} 32\n" in (out / "train" / "utt2spk").read_text()
    info = json.loads((out / "prepare.json").read_text())
    assert info["corpus"]["rate"] == "8k" and info["corpus"]["mode"] == "min"
    assert info["vaesep_version"] and (info["kept"], info["dropped_same_gender"]) == (6, 4)
    counts = {
        s: (c["mixtures"], c["kept"], c["dropped_same_gender"]) for s, c in info["splits"].items()
    }
    assert counts == {"train": (5, 3, 2), "test": (3, 2, 1), "dev": (2, 1, 1)}

    assert_user_error(run("prepare", "libri2mix", root, out), "pass --force")
    again = run("prepare", "libri2mix", root, out, "--force", "--num-train", "2")
    assert again.exit_code == 0, again.output
    assert "3 female+male mixtures kept, 2 written" in again.stdout
    assert len(load_datadir(out / "train").mixtures) == 2


def test_wsj0_2mix_keeps_female_male_mixtures_female_first(tmp_path):
    root, out = make_wsj0_2mix(tmp_path / "wsj0-2mix"), tmp_path / "out"
    result = run("prepare", "wsj0-2mix", root, out)
    assert result.exit_code == 0, result.output
    names = {s: ["_".join(line) for line in lines] for s, lines in WSJ0_2MIX.items()}
    _check_female_male(
        out / "train",
        {names["tr"][0]: ("s1", "s2"), names["tr"][1]: ("s2", "s1"), names["tr"][3]: ("s1", "s2")},
    )
    _check_female_male(out / "test", {names["tt"][0]: ("s1", "s2")})
    _check_female_male(out / "dev", {names["cv"][0]: ("s1", "s2")})
    info = json.loads((out / "prepare.json").read_text())
    counts = {s: (c["kept"], c["female_female"], c["male_male"]) for s, c in info["splits"].items()}
    assert counts == {"train": (3, 0, 1), "test": (1, 1, 0), "dev": (1, 0, 0)}
    assert info["corpus"]["genders"] == [str(root / "spkrinfo.txt")]


def test_wsj0_2mix_combines_gender_files_and_reports_a_speaker_without_one(tmp_path):
    root = make_wsj0_2mix(tmp_path / "wsj0-2mix")
    info = root / "spkrinfo.txt"
    info.write_text(
        "".join(line + "\n" for line in info.read_text().splitlines() if "20B" not in line)
    )
    assert_user_error(
        run("prepare", "wsj0-2mix", root, tmp_path / "o"), "no gender for speaker 20b"
    )
    extra = tmp_path / "extra.txt"
    extra.write_text("20b female\n")
    result = run(
        "prepare", "wsj0-2mix", root, tmp_path / "o", "--genders", info, "--genders", extra
    )
    assert result.exit_code == 0, result.output
    info.unlink()
    assert_user_error(run("prepare", "wsj0-2mix", root, tmp_path / "p"), "pass WSJ0's")
    assert_user_error(
        run("prepare", "wsj0-2mix", root, tmp_path / "p", "--genders", tmp_path / "no.txt"),
        "no.txt: no such file",
    )
    assert not (tmp_path / "p").exists()


def test_bad_trees_are_one_line_errors(tmp_path):
    libri = make_libri2mix(tmp_path / "LibriMix")
    out = tmp_path / "out"
    utt = LIBRI2MIX["train-100"][1]
    (libri / "Libri2Mix" / "wav8k" / "min" / "train-100" / "s2" / f"{utt}.wav").unlink()
    assert_user_error(
        run("prepare", "libri2mix", libri, out), "mixture_train-100_mix_clean.csv:3: no file at"
    )
    assert_user_error(
        run("prepare", "libri2mix", libri, out, "--speakers", tmp_path / "SPEAKERS.TXT"),
        "no such file; pass LibriSpeech's SPEAKERS.TXT",
    )
    assert_user_error(
        run("prepare", "libri2mix", libri, out, "--rate", "44k"), "--rate '44k': use one of 8k"
    )
    (libri / "LibriSpeech" / "SPEAKERS.TXT").write_text("19 | F | x | 1 | A\n")
    assert_user_error(
        run("prepare", "libri2mix", libri, out, "--train-subsets", "dev", "--test-subsets", "test"),
        "no gender for speaker 1998",
    )
    wsj = make_wsj0_2mix(tmp_path / "wsj0-2mix")
    stray = wsj / "wav8k" / "min" / "tt" / "s1" / "01aa9999_1_01ba9999_-1.wav"
    sf.write(str(stray), np.zeros(RATE, np.float32), RATE)
    assert_user_error(run("prepare", "wsj0-2mix", wsj, out), "1 file(s) not listed in")
    stray.unlink()
    (wsj / "mix_2_spk_tt.txt").write_text("a.wv1 1 b.wv1\n")
    assert_user_error(run("prepare", "wsj0-2mix", wsj, out), "mix_2_spk_tt.txt:1: expected")
    assert not out.exists()  # nothing half-written


def _run_recipe(name: str, *args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(RECIPES / name / "run.sh"), *map(str, args)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


TINY = (
    "--models", "vae", "--baselines", "oracle_irm",
    "--train-set", "training.epochs=1 training.progress=false training.parallel_sources=false",
)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "option", "make"),
    [
        ("libri2mix_mf", "--libri2mix", make_libri2mix),
        ("wsj0_2mix_mf", "--wsj0-2mix", make_wsj0_2mix),
    ],
)
def test_recipe_runs_on_a_tiny_tree(tmp_path, recipe, option, make):
    corpus, data, exp = make(tmp_path / "corpus"), tmp_path / "data", tmp_path / "exp"
    done = _run_recipe(recipe, option, corpus, "--data", data, "--exp", exp, *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    test = json.loads((data / "mixtures" / "prepare.json").read_text())["splits"]["test"]
    assert len(load_datadir(data / "mixtures" / "test").mixtures) == test["kept"] > 0
    for model in ("vae", "oracle_irm"):  # at the corpus's rate
        assert "sample_rate: 8000" in (exp / model / "config.yaml").read_text()
    assert (exp / "vae" / "eval" / "summary.json").is_file()
    rows = (exp / "RESULTS.md").read_text().splitlines()
    assert all(
        any(r.startswith(f"| {m} |") for r in rows) for m in ("mixture", "vae", "oracle_irm")
    )
    again = _run_recipe(recipe, "--data", data, "--exp", exp, "--stop-stage", "1")
    assert again.returncode == 0 and "Stage 1: data dirs already in" in again.stderr
