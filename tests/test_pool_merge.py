"""Several corpora as one pool (``vaesep prepare pool-merge``) and how pools draw
(``data.draw``, part weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_user_error, run
from synthetic import make_pool_dir

from vaesep.data.datadir import read_scp, read_utt2spk
from vaesep.registry import load_config
from vaesep.training.experiment import train
from vaesep.training.pools import Pool, draw_pairs, read_pools

RATE = 8000
SPEAKERS = {"s1": "female", "s2": "female", "s3": "male", "s4": "male"}
BASE = [f"features.sample_rate={RATE}", "features.window_ms=32", "features.overlap_ms=16"]
BASE += ["data.loading=pools", "data.pairs=24", "data.crop_seconds=0.6"]
BASE += ["data.stats_examples=16", "data.workers=0", "training.epochs=1"]


def _pool(tmp_path: Path, name: str, per_speaker: int) -> Path:
    """A pool dir made by 'vaesep prepare pool' over a manifest (speaker ids s1-s4)."""
    made = make_pool_dir(tmp_path / f"{name}_wav", SPEAKERS, per_speaker, RATE)
    rows = [
        f"{made / 'wav' / f'{spk}-{k}.wav'},{spk},{gender[0].upper()}"
        for spk, gender in SPEAKERS.items()
        for k in range(per_speaker)
    ]
    manifest = tmp_path / f"{name}.csv"
    manifest.write_text("path,speaker,gender\n" + "\n".join(rows) + "\n")
    result = run("prepare", "pool", "manifest", manifest, tmp_path / name, "--split", "all")
    assert result.exit_code == 0, result.output
    return tmp_path / name


def test_merged_pools_keep_corpora_apart_and_train(tmp_path):
    a, b = _pool(tmp_path, "a", 1), _pool(tmp_path, "b", 3)  # the same speaker ids in both
    out = tmp_path / "merged"
    result = run("prepare", "pool-merge", a, b, out, "--weights", "3,1")
    assert result.exit_code == 0, result.output
    assert "8 female utterances of 4 speakers" in result.output
    female = read_scp(out / "female.scp")
    speakers = read_utt2spk(out, list(female))
    assert {s for s in speakers.values()} == {"c1-s1", "c1-s2", "c2-s1", "c2-s2"}
    summary = json.loads((out / "pool.json").read_text())
    assert [(p["prefix"], p["weight"]) for p in summary["parts"]] == [("c1-", 3.0), ("c2-", 1.0)]
    assert summary["male"] == {"utterances": 8, "speakers": 4}
    sets = [*BASE, "data.draw=speaker", "training.validation_fraction=0.5"]
    train(load_config("configs/vae.yaml", sets), out, tmp_path / "exp")
    assert (tmp_path / "exp" / "male.pt").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["a"], "two or more pool dirs"),
        (["a", "a"], "given twice"),
        (["a", "b", "--weights", "1"], "--weights"),
        (["a", "b", "--weights", "1,x"], "--weights"),
        (["a", "b", "--weights", "0,0"], "--weights"),
        (["a", "a_wav"], "pool.json"),
    ],
)
def test_bad_merges_are_one_line_errors(tmp_path, args, says):
    _pool(tmp_path, "a", 1), _pool(tmp_path, "b", 1)
    paths = [tmp_path / x if x in ("a", "b", "a_wav") else x for x in args]
    assert_user_error(run("prepare", "pool-merge", *paths, tmp_path / "out"), says)
    assert not (tmp_path / "out").exists()


def test_a_merge_does_not_overwrite_without_force(tmp_path):
    a, b = _pool(tmp_path, "a", 1), _pool(tmp_path, "b", 1)
    assert run("prepare", "pool-merge", a, b, tmp_path / "m").exit_code == 0
    assert_user_error(run("prepare", "pool-merge", a, b, tmp_path / "m"), "--force")
    assert run("prepare", "pool-merge", a, b, tmp_path / "m", "--force").exit_code == 0


def _shares(pool: Pool, by: str, n: int = 4000) -> dict[str, float]:
    rng = np.random.default_rng(0)
    drawn = [pool.draw(rng, by)[0] for _ in range(n)]
    return {k: drawn.count(k) / n for k in sorted(set(drawn))}


def test_speaker_draw_gives_every_speaker_the_same_share():
    pool = Pool([{"a": [f"a{i}" for i in range(9)], "b": ["b0"]}])
    assert _shares(pool, "utterance")["b"] == pytest.approx(0.1, abs=0.02)
    assert _shares(pool, "speaker")["b"] == pytest.approx(0.5, abs=0.03)


def test_weighted_parts_are_drawn_in_proportion():
    parts = [{"a": [f"a{i}" for i in range(9)]}, {"b": ["b0"], "c": ["c0"]}]
    for by in ("utterance", "speaker"):
        shares = _shares(Pool(parts, [1.0, 3.0]), by)
        assert shares["a"] == pytest.approx(0.25, abs=0.03)
        assert shares["b"] == pytest.approx(0.375, abs=0.03)
    assert _shares(Pool(parts, [1.0, 0.0]), "utterance") == {"a": 1.0}  # weight 0: never


def test_the_default_draw_is_the_uniform_utterance_draw_it_was(tmp_path):
    """``data.draw: utterance`` on an unweighted pool draws exactly as before the option."""
    pool = make_pool_dir(tmp_path / "p", SPEAKERS, 3, RATE)
    train_pools, _ = read_pools(pool, 0.0, seed=0)
    cfg = load_config(None, [*BASE, "training.mixing_gain_db=6", "data.speeds=[0.9,1.1]"])
    first, second = (train_pools[s].paths for s in ("female", "male"))
    rng = np.random.default_rng([0, 4, 0])
    expected = []
    for _ in range(50):
        expected.append((first[rng.integers(len(first))], second[rng.integers(len(second))]))
        rng.random(), rng.random(), rng.choice([0.9, 1.1]), rng.choice([0.9, 1.1])
        rng.uniform(-6, 6), rng.integers(2**62)
    assert [p.paths for p in draw_pairs(train_pools, 50, cfg, [0, 4, 0])] == expected


def test_held_out_speakers_leave_the_pool_as_a_dev_manifest(tmp_path):
    """``prepare pool --hold-out N``: N speakers per gender (seeded) are out of the pool and in
    held_out.csv, which ``prepare manifest --num-train 0`` mixes into a dev set of them."""
    _pool(tmp_path, "a", 2)
    manifest = tmp_path / "a.csv"

    def pool(out: str, hold_out: int = 1):
        return run("prepare", "pool", "manifest", manifest, tmp_path / out, "--split", "all",
                   "--hold-out", hold_out, "--seed", 3)  # fmt: skip

    result = pool("p")
    assert result.exit_code == 0, result.output
    assert "2 speakers held out in held_out.csv" in result.output
    utts = [u for s in ("female", "male") for u in read_scp(tmp_path / "p" / f"{s}.scp")]
    kept = set(read_utt2spk(tmp_path / "p", utts).values())
    held = json.loads((tmp_path / "p" / "pool.json").read_text())["held_out"]["speakers"]
    assert len(kept) == 2 and kept.isdisjoint(held) and kept | set(held) == set(SPEAKERS)
    assert {SPEAKERS[s] for s in held} == {"female", "male"}
    rows = (tmp_path / "p" / "held_out.csv").read_text().splitlines()
    assert rows[0] == "path,speaker,gender,split" and len(rows) == 1 + 4
    assert {r.split(",")[1] for r in rows[1:]} == set(held)
    assert pool("q").exit_code == 0  # the same seed, the same speakers
    assert (tmp_path / "q" / "held_out.csv").read_text() == "\n".join(rows) + "\n"
    dev = tmp_path / "dev"
    made = run("prepare", "manifest", tmp_path / "p" / "held_out.csv", dev, "--num-train", "0",
               "--num-test", "2")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert set((dev / "test" / "utt2spk").read_text().split()[1::2]) <= set(held)
    assert_user_error(pool("r", hold_out=2), "leaves no female speaker")
    assert not (tmp_path / "r").exists()
