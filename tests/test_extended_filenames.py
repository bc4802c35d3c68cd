"""Kaldi extended filenames in scp files: ``cmd |`` pipes are run, archive offsets refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import make_datadir
from typer.testing import CliRunner

from vaesep.cli import app
from vaesep.data.datadir import load_datadir, read_scp, write_scp
from vaesep.errors import VaesepError
from vaesep.io.audio import audio_info, load_audio, load_channels, read_blocks, save_channels
from vaesep.registry import load_config
from vaesep.scoring.evaluation import evaluate
from vaesep.training.experiment import train


def _piped(data: Path, out: Path) -> Path:
    """A copy of a data dir's scp files whose every entry is ``cat <file> |``."""
    out.mkdir()
    for name in ("wav.scp", "spk1.scp", "spk2.scp"):
        entries = read_scp(data / name)
        write_scp(out / name, {u: f"cat {p} |" for u, p in entries.items()})
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_datadir(tmp_path_factory.mktemp("pipes") / "d", n_utts=2, seconds=0.5)


def test_a_pipe_reads_what_the_command_writes(data: Path, tmp_path: Path):
    wav = read_scp(data / "wav.scp")["utt000"]
    pipe = f"cat {wav} |"
    np.testing.assert_array_equal(load_audio(pipe, 16000)[0], load_audio(wav, 16000)[0])
    assert audio_info(pipe).frames == audio_info(wav).frames
    blocks = np.concatenate(list(read_blocks(pipe, 1000)))
    np.testing.assert_array_equal(blocks, load_audio(wav)[0])
    stereo = tmp_path / "st.wav"
    save_channels(stereo, np.random.default_rng(0).normal(size=(2, 800)) * 0.1, 8000)
    np.testing.assert_array_equal(load_channels(f"cat {stereo} |")[0], load_channels(stereo)[0])


def test_scp_keeps_pipes_and_refuses_archive_offsets(data: Path, tmp_path: Path):
    piped = _piped(data, tmp_path / "p")
    entries = read_scp(piped / "wav.scp")
    assert all(v.startswith("cat /") and v.endswith(" |") for v in entries.values())
    for entry in ("feats.ark:1234", "ark:/data/wav.ark", "scp,p:x.scp"):
        (tmp_path / "bad.scp").write_text(f"u1 {entry}\n")
        with pytest.raises(VaesepError, match="bad.scp:1: .*archive entry.*'cmd \\|' pipe"):
            read_scp(tmp_path / "bad.scp")


@pytest.mark.parametrize(
    ("command", "message"),
    [("false |", "exit 1, no output"), ("cat /no/such.wav |", "exit 1: cat: /no/such.wav")],
)
def test_a_failing_command_is_one_line(command: str, message: str):
    with pytest.raises(VaesepError, match=f"the command failed \\({message}"):
        load_audio(command)
    with pytest.raises(VaesepError, match="not a readable audio file"):
        load_audio("echo hello |")


def test_a_piped_data_dir_evaluates_and_separates_as_the_files_do(data: Path, tmp_path: Path):
    piped = _piped(data, tmp_path / "p")
    assert load_datadir(piped).utt_ids == load_datadir(data).utt_ids

    class Half:
        sample_rate, sources, name = 8000, ("female", "male"), "half"

        def separate(self, signal, rate):
            return {"female": signal / 2, "male": signal / 2}

    direct = evaluate(Half(), data, tmp_path / "e1", jobs=1)
    through = evaluate(Half(), piped, tmp_path / "e2", jobs=1)
    assert through["sdr"] == direct["sdr"] and through["mixture"] == direct["mixture"]

    train(
        load_config(Path("configs") / "nmf.yaml", ["features.sample_rate=8000"]),
        piped,
        tmp_path / "nmf",
    )
    args = ["separate", str(piped / "wav.scp"), "--model", str(tmp_path / "nmf"), "--out-dir"]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "utt000_female.wav", "utt000_male.wav", "utt001_female.wav", "utt001_male.wav",
    ]  # fmt: skip
