"""The benchmarks import and the roofline's arithmetic counts are right (its timings are
measured in benchmark runs, never asserted here)."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic import make_datadir, make_pool_dir

from benchmarks.device_pack import pack
from benchmarks.precision import WAYS, score
from benchmarks.precision import markdown as markdown_precision
from benchmarks.roofline import (
    VARIANTS,
    _recurrent_flops,
    bench_roofline,
    markdown,
    network_flops,
)
from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio
from vaesep.registry import load_config
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train
from vaesep.zoo.pretrained import verified_dir

BENCHMARKS = sorted(p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("name", [n for n in BENCHMARKS if n != "__main__"])
def test_every_benchmark_imports(name):
    importlib.import_module(f"benchmarks.{name}")


def test_an_lstm_counts_eight_h_in_plus_h_per_frame_direction_and_layer():
    models = torch.nn.ModuleDict({"s": torch.nn.LSTM(10, 4, num_layers=2, bidirectional=True)})
    assert _recurrent_flops(models, frames=3) == 3 * 2 * (8 * 4 * (10 + 4) + 8 * 4 * (8 + 4))


def test_a_frame_wise_models_count_is_its_linear_layers(one_torch_thread):
    sep = Separator.from_dir(verified_dir("vae"))
    spec = torch.rand(7, sep.config.features.num_bins)
    weights = [m.weight for m in sep.models.modules() if isinstance(m, torch.nn.Linear)]
    counted = network_flops(sep, spec)
    assert 0 < counted <= 2 * 7 * sum(w.numel() for w in weights)  # at most every layer once


def test_the_roofline_reports_fractions_of_the_measured_peak(one_torch_thread):
    result = bench_roofline([verified_dir("vae"), verified_dir("rnn_mask")], 0.5, sizes=(128,))
    assert set(result["models"]) == {"vae", "rnn_mask"}
    for m in result["models"].values():
        assert m["mflop_per_frame"] > 0 and m["gflops"] > 0
        assert m["of_fp32_peak"] == pytest.approx(m["gflops"] / result["peak_gflops"]["fp32"], 0.01)
        assert m["networks_share"] > 0  # a ratio of two timings: bounded only on a quiet CPU
    rnn = result["models"]["rnn_mask"]
    sep = Separator.from_dir(verified_dir("rnn_mask"))
    frames = rnn["frames"]
    lstm = _recurrent_flops(sep.models, frames) / frames / 1e6
    assert rnn["mflop_per_frame"] > lstm > 0  # the LSTMs' share is counted, with the rest
    assert "| rnn_mask |" in markdown(result)
    for m in result["models"].values():
        assert m["ort_fp32_max_abs_diff"] <= 1e-4  # onnxruntime separates as torch does
        assert all(m[f"{way}_speedup"] > 0 for way, _ in VARIANTS)
        assert m["train_gflops"] > 0 and m["train_step_s"] > 0
        assert m["train_of_fp32_peak"] == pytest.approx(
            m["train_gflops"] / result["peak_gflops"]["fp32"], 0.01
        )
    assert result["models"]["rnn_mask"]["train_frames_per_step"] == 16 * 64  # its batch, T


def test_the_precision_table_scores_each_way_and_shows_refusals(tmp_path, one_torch_thread):
    data = make_datadir(tmp_path / "d", n_utts=2, seconds=0.5, rate=16000)
    row = {way: score(verified_dir("vae"), data, options) for way, options in WAYS.items()}
    assert row["ort_fp32"]["sdr"] == pytest.approx(row["fp32"]["sdr"], abs=1e-3)
    assert row["int8"]["sdr"] != row["fp32"]["sdr"]  # quantized for real
    row["published"] = row["fp32"]
    refused = dict(row, int8="x: a class_vae model cannot be exported to ONNX ...")
    text = markdown_precision({"s/vae": row, "s/class_vae": refused})
    assert "| s | vae | " in text and "refused" in text and "class_vae model cannot" in text


def test_the_spread_of_a_generator_is_measured_against_its_real_frames(tmp_path):
    from benchmarks.adversarial_spread import log_spread, spreads
    from vaesep.registry import load_config
    from vaesep.training.experiment import train

    data = make_datadir(tmp_path / "d", n_utts=3, seconds=0.5, rate=8000)
    sets = ["features.sample_rate=8000", "training.epochs=2", "training.progress=false"]
    train(load_config("wgan", sets), data, tmp_path / "wgan")
    train(load_config("mlae", sets), data, tmp_path / "mlae")
    for name in ("wgan", "mlae"):
        values = spreads(str(tmp_path / name), str(data))
        assert set(values) == {"female", "male"} and all(v > 0 for v in values.values())
    frames = torch.rand(50, 7)
    assert log_spread(frames[:1].repeat(9, 1)) == 0.0  # one spectrum: collapsed
    assert log_spread(frames) > 0


def test_the_peers_batches_mix_a_female_and_a_male_crop_at_0_db(tmp_path):
    import numpy as np

    from benchmarks.openunmix_peer import draw_batch
    from vaesep.io.audio import save_audio

    t = np.arange(8000) / 8000
    files = {}
    for name, f0, level in (("female", 220, 0.5), ("male", 110, 0.05)):
        save_audio(
            tmp_path / f"{name}.wav", (level * np.sin(2 * np.pi * f0 * t)).astype("f4"), 8000
        )
        files[name] = [[str(tmp_path / f"{name}.wav")]]
    mixture, targets = draw_batch(files, 3, 0.5, np.random.default_rng(0))
    assert mixture.shape == targets["female"].shape == (3, 1, 4000)
    torch.testing.assert_close(mixture, targets["female"] + targets["male"])
    level = {k: v.square().mean(-1).sqrt() for k, v in targets.items()}
    torch.testing.assert_close(level["female"], level["male"], rtol=1e-4, atol=0)


def test_the_peers_lists_group_files_by_speaker_and_draw_speakers_equally(tmp_path):
    import numpy as np

    from benchmarks.openunmix_peer import draw, read_groups

    lines = ["a\t/x/a1.flac", "a\t/x/a2.flac", "a\t/x/a3.flac", "b\t/x/b 1.flac"]
    (tmp_path / "f.txt").write_text("\n".join(lines) + "\n")
    groups = read_groups(str(tmp_path / "f.txt"))
    assert groups == [["/x/a1.flac", "/x/a2.flac", "/x/a3.flac"], ["/x/b 1.flac"]]
    rng = np.random.default_rng(0)
    drawn = [draw(groups, rng) for _ in range(2000)]
    assert 0.45 < drawn.count("/x/b 1.flac") / len(drawn) < 0.55  # 1 file of 4, half the draws
    (tmp_path / "g.txt").write_text("/x/a1.flac\n/x/b 1.flac\n")  # no speakers: a file each
    assert read_groups(str(tmp_path / "g.txt")) == [["/x/a1.flac"], ["/x/b 1.flac"]]


def test_the_peers_pool_lists_leave_out_the_speakers_our_training_validates_on(tmp_path):
    from benchmarks.peers import write_lists
    from vaesep.training.pools import read_pools

    pool = tmp_path / "data" / "pool_all"
    pool.mkdir(parents=True)
    speakers = {"female": ["fa", "fb", "fc", "fd"], "male": ["ma", "mb", "mc", "md"]}
    audio, utt2spk = tmp_path / "x", []
    audio.mkdir()
    for name, spks in speakers.items():
        utts = [(f"{s}-{k}", s) for s in spks for k in range(2)]
        for u, _ in utts:
            (audio / f"{u}.flac").touch()  # read_scp checks that each file exists
        (pool / f"{name}.scp").write_text("".join(f"{u} {audio}/{u}.flac\n" for u, _ in utts))
        utt2spk += [f"{u} {s}\n" for u, s in utts]
    (pool / "utt2spk").write_text("".join(sorted(utt2spk)))
    write_lists(tmp_path, True, 0.5)
    held = read_pools(pool, 0.5, 0)[1]
    for name, spks in speakers.items():
        lines = (tmp_path / f"{name}.txt").read_text().splitlines()
        out = {s for part in held[name].parts for s in part}
        assert len(out) == 2 and out < set(spks)
        kept = [f"{s}\t{audio}/{s}-{k}.flac" for s in spks if s not in out for k in range(2)]
        assert lines == kept
    write_lists(tmp_path, True, 0.0)  # every speaker: the lists of the runs before --hold-out
    assert len((tmp_path / "female.txt").read_text().splitlines()) == 8


def test_the_peers_benchmark_names_its_setup_when_the_venv_is_missing(tmp_path):
    from benchmarks.peers import check_venv

    with pytest.raises(SystemExit, match="peers_setup.sh"):
        check_venv(tmp_path / "no-venv")


def test_a_packed_pool_is_relative_opus_and_trains(tmp_path, monkeypatch):
    speakers = {"s1": "female", "s2": "male"}
    pool = make_pool_dir(tmp_path / "p", speakers, 2, 8000)
    out = tmp_path / "elsewhere" / "packed"
    summary = pack(pool, out, kbps=24)
    assert summary["hours"] == pytest.approx(2 * (0.5 + 1.0) / 3600)
    lines = (out / "female.scp").read_text().split("\n")
    assert lines[0] == "s1-0 audio/s1-0.ogg"  # relative to the scp: the copy moves freely
    assert (out / "utt2spk").read_text() == (pool / "utt2spk").read_text()
    original, _ = load_audio(pool / "wav" / "s1-1.wav")
    packed, rate = load_audio(out / "audio" / "s1-1.ogg")
    assert rate == 8000 and abs(len(packed) - len(original)) <= 0.01 * rate
    n = min(len(packed), len(original))
    assert np.corrcoef(original[:n], packed[:n])[0, 1] > 0.9  # lossy, the same tone
    monkeypatch.chdir(tmp_path)  # the scp's paths are not the working dir's
    sets = [
        "features.sample_rate=8000", "training.progress=false", "training.num_threads=1",
        "training.epochs=1", "data.loading=pools", "data.pairs=4", "data.crop_seconds=0.4",
        "data.stats_examples=4", "model.segment_frames=16", "training.validation_fraction=0",
        "training.dynamic_mixing=false",
    ]  # fmt: skip
    train(load_config(Path(__file__).parents[1] / "configs/rnn_mask.yaml", sets), out, "exp")
    assert (tmp_path / "exp" / "male.pt").is_file()
    with pytest.raises(VaesepError, match="not a pool dir"):
        pack(tmp_path / "exp", tmp_path / "x")
    with pytest.raises(VaesepError, match="exists"):
        pack(pool, out)  # nothing replaced without force
