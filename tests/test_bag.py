"""``Bag``: several separators' estimates averaged (members of different STFT windows, one hop)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir, make_pair, tiny_training

from vaesep import Bag
from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio, save_audio
from vaesep.registry import load_config
from vaesep.separation.loading import load_separator
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train
from vaesep.zoo import pretrained

RATE = 8000
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Two frame-wise VAEs (finite receptive fields) on one 8 ms hop: a 16 ms and a 32 ms window.
WINDOWS = {"w16": ["features.window_ms=16", "features.overlap_ms=8"],
           "w32": ["features.window_ms=32", "features.overlap_ms=24"]}  # fmt: skip


@pytest.fixture(scope="module")
def exps(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bag")
    data = make_datadir(root / "d", n_utts=4, seconds=1.0)
    out = {}
    others = {"hop16": ["features.window_ms=32", "features.overlap_ms=16"]}  # a 16 ms hop
    for name, sets in {**WINDOWS, **others}.items():
        train(load_config(CONFIGS / "vae.yaml", tiny_training(RATE) + sets), data, root / name)
        out[name] = root / name
    wide = make_datadir(root / "d16", n_utts=2, seconds=1.0, rate=16000)
    train(load_config(CONFIGS / "vae.yaml", tiny_training(16000)), wide, root / "r16")
    return {**out, "r16": root / "r16"}


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    female, male = make_pair(np.random.default_rng(5), 2.5, RATE)
    return female + male


def _member(exp: Path, *settings: str, **kwargs) -> Separator:
    return load_separator(exp, device="cpu", overrides=list(settings), **kwargs)


def test_a_bag_of_one_is_its_member(exps, mixture):
    member = _member(exps["w16"])
    signal = torch.from_numpy(mixture)
    assert torch.equal(Bag([member]).separate_tensor(signal), member.separate_tensor(signal))


def test_a_bag_averages_its_members_by_weight(exps, mixture):
    a, b = _member(exps["w16"]), _member(exps["w32"], "features.shifts=2")
    bag = Bag([a, b], weights=[3, 1])
    out = bag.separate(mixture, RATE)
    assert bag.sources == ("female", "male") and not bag.permute
    ea, eb = a.separate(mixture, RATE), b.separate(mixture, RATE)
    for source in bag.sources:
        assert out[source].shape == mixture.shape
        assert np.allclose(out[source], 0.75 * ea[source] + 0.25 * eb[source], atol=1e-6)
        assert not np.allclose(out[source], ea[source], atol=1e-4)
    assert np.allclose(out["female"] + out["male"], mixture, atol=1e-4)  # masks sum to one


def test_chunks_equal_the_whole_signal_with_the_widest_members_margin(exps, mixture):
    def bag(chunk: float) -> Bag:
        members = [_member(exps[n], chunk_seconds=chunk) for n in ("w16", "w32")]
        return Bag(members)

    chunked = bag(0.6)
    assert chunked.receptive_field == max(m.receptive_field for m in chunked.members)
    assert chunked._chunking()[1] == chunked.members[1]._chunking()[1]  # the 32 ms window's
    whole = bag(1000).separate(mixture, RATE)
    parts = chunked.separate(mixture, RATE)
    for source, signal in whole.items():
        assert np.allclose(parts[source], signal, atol=1e-5), source


def test_a_file_streams_as_the_array_separates(exps, mixture, tmp_path):
    bag = Bag([_member(exps[n], chunk_seconds=0.6) for n in ("w16", "w32")])
    save_audio(tmp_path / "mix.wav", mixture, RATE)
    outs = {s: tmp_path / f"{s}.wav" for s in bag.sources}
    bag.separate_file(tmp_path / "mix.wav", outs)
    expected = bag.separate(tmp_path / "mix.wav")
    for source, path in outs.items():
        written, rate = load_audio(path)
        assert rate == RATE and np.allclose(written, expected[source], atol=1e-6)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "give at least one member"),
        ("weights", r"give one positive weight per member \(2\)"),
        ("zero", "give one positive weight per member"),
        ("hop", r"has hop \(samples\) 128, w16 64"),
        ("rate", "has sample rate 16000, w16 8000"),
        ("type", "Bag: str does not separate mono audio"),
    ],
)
def test_members_that_cannot_be_averaged_are_refused(exps, case, message):
    a = _member(exps["w16"])
    a.name = "w16"
    cases = {
        "empty": lambda: Bag([]),
        "weights": lambda: Bag([a, a], weights=[1]),
        "zero": lambda: Bag([a, a], weights=[1, 0]),
        "hop": lambda: Bag([a, _member(exps["hop16"])]),
        "rate": lambda: Bag([a, _member(exps["r16"])]),
        "type": lambda: Bag([a, "exp/w16"]),
    }
    with pytest.raises(VaesepError, match=message):
        cases[case]()


def _bag_dir(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bag.yaml").write_text(text)
    return root


def test_a_bag_dir_is_a_model_for_the_api_and_the_cli(exps, mixture, tmp_path):
    text = f"members:\n  - path: ../w16\n    weight: 3\n  - path: {exps['w32']}\n"
    bag_dir = _bag_dir(exps["w16"].parent / "bag", text)  # one relative, one absolute path
    built = Bag([_member(exps[n], "features.shifts=2") for n in ("w16", "w32")], [3, 1])
    expected = built.separate(mixture, RATE)
    loaded = load_separator(bag_dir, device="cpu", overrides=["features.shifts=2"])
    assert isinstance(loaded, Bag) and isinstance(Separator.from_dir(bag_dir), Bag)
    assert loaded.name == "bag" and loaded.weights == [0.75, 0.25]
    out = loaded.separate(mixture, RATE)
    save_audio(tmp_path / "mix.wav", mixture, RATE)
    result = run("separate", tmp_path / "mix.wav", "-m", bag_dir, "--set", "features.shifts=2",
                 "--out-dir", tmp_path / "sep", "--subtype", "FLOAT")  # fmt: skip
    assert result.exit_code == 0, result.output
    for source in built.sources:
        assert np.allclose(out[source], expected[source], atol=1e-6)
        written, _ = load_audio(tmp_path / "sep" / f"mix_{source}.wav")
        assert np.allclose(written, expected[source], atol=1e-5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("members: []\n", "bag.yaml: members: list the member dirs"),
        ("members:\n  - ../w16\n", "members[0]: give 'path'"),
        ("members:\n  - path: ../nope\n", "members[0].path ../nope: no such dir"),
        ("members:\n  - {path: ../w16, weigth: 2}\n", "members[0]: unknown key weigth"),
        ("members:\n  - {path: ../w16, weight: 0}\n", "members[0].weight 0: give a positive"),
        ("members:\n  - path: ../bag_ok\n", "members[0].path ../bag_ok: a bag; list its"),
    ],
)
def test_a_bad_bag_yaml_is_a_one_line_error(exps, text, message, tmp_path):
    _bag_dir(exps["w16"].parent / "bag_ok", "members:\n  - path: ../w16\n")
    bag_dir = _bag_dir(exps["w16"].parent / "bag_bad", text)
    save_audio(tmp_path / "mix.wav", np.zeros(800, np.float32), RATE)
    result = run("separate", tmp_path / "mix.wav", "-m", bag_dir, "--out-dir", tmp_path / "o")
    assert_user_error(result, message)
    assert not (tmp_path / "o").exists()


def test_one_model_commands_refuse_a_bag_in_one_line(exps, tmp_path):
    bag_dir = _bag_dir(exps["w16"].parent / "bag_one", "members:\n  - path: ../w16\n")
    result = run("export", bag_dir, "--onnx", tmp_path / "onnx")
    assert_user_error(result, "a bag of several models (bag.yaml); only separating")


def test_a_bag_exports_bundles_and_loads_by_name_verified(exps, mixture, tmp_path, monkeypatch):
    text = "members:\n  - path: ../w16\n  - path: ../w32\n    weight: 2\n"
    bag_dir = _bag_dir(exps["w16"].parent / "bag_export", text)
    out = tmp_path / "bundled" / "tiny_bag"
    result = run("bundle", "export", bag_dir, out, "--set", "features.shifts=2")
    assert result.exit_code == 0, result.output
    assert (out / "bag.yaml").is_file() and (out / "w32" / "female.pt").is_file()
    assert "shifts: 2" in (out / "w16" / "config.yaml").read_text()
    evaluated = tmp_path / "ev"
    data = make_datadir(tmp_path / "test", n_utts=2, seconds=0.5, seed=3)
    result = run("evaluate", "-m", out, "--data", data, "--out-dir", evaluated)
    assert result.exit_code == 0, result.output
    (tmp_path / "about.yaml").write_text(
        "summary: two tiny VAEs\ntraining_data: combs\nlicence: CC0\nattribution: none\n"
        "command: pytest\n"
    )
    result = run(
        "bundle", "card", out, "--about", tmp_path / "about.yaml", "--eval", f"t={evaluated}"
    )
    assert result.exit_code == 0, result.output
    card = (out / "card.md").read_text()
    assert "`bag` of `w16` (vae, weight 1), `w32` (vae, weight 2)" in card
    assert "### w32" in card and "w16/female.pt" in card
    monkeypatch.setattr(pretrained, "BUNDLED", out.parent)
    assert "tiny_bag: bag, " in run("models").output
    shown = run("models", "tiny_bag", "--config").output
    assert "# tiny_bag/w16/config.yaml" in shown and "# tiny_bag/w32/config.yaml" in shown
    built = Bag([_member(exps[n], "features.shifts=2") for n in ("w16", "w32")], [1, 2])
    _check_bundled_bag("tiny_bag", built, mixture, out / "w32" / "male.pt")


def _check_bundled_bag(name: str, built: Bag, mixture: np.ndarray, member_file: Path) -> None:
    """The bundled bag ``name`` separates as ``built`` (float16 weights: close, not equal) and,
    once a byte of ``member_file`` changes, refuses to load in one line naming it."""
    ours, theirs = Separator.pretrained(name).separate(mixture, RATE), built.separate(mixture, RATE)
    for source in built.sources:
        assert np.corrcoef(ours[source], theirs[source])[0, 1] > 0.99
    data = bytearray(member_file.read_bytes())
    data[-100] ^= 0xFF
    member_file.write_bytes(bytes(data))
    where = f"{member_file.parent.name}/{member_file.name}: checksum mismatch"
    with pytest.raises(VaesepError, match=where):
        Separator.pretrained(name)


def test_a_member_equal_to_a_bundle_is_referenced_not_copied(exps, mixture, tmp_path, monkeypatch):
    bundled = tmp_path / "bundled"
    for name, sets in (("w16", ["--set", "features.shifts=2"]), ("w32", [])):
        assert run("bundle", "export", exps[name], bundled / name, *sets).exit_code == 0
    bag_dir = _bag_dir(
        exps["w16"].parent / "bag_reuse", "members: [{path: ../w16}, {path: ../w32}]"
    )
    reuse = ["--reuse", bundled / "w16", "--reuse", bundled / "w32"]
    result = run("bundle", "export", bag_dir, bundled / "bag", "--set", "features.shifts=2", *reuse)
    assert result.exit_code == 0, result.output
    # w16 exports equal to its bundle; w32's bundle separates without shifts, so it is copied.
    assert "(members: ../w16, w32)" in result.output
    assert not (bundled / "bag" / "w16").exists() and (bundled / "bag" / "w32").is_dir()
    (tmp_path / "about.yaml").write_text(
        "summary: s\ntraining_data: d\nlicence: CC0\nattribution: a\ncommand: pytest\n"
    )
    assert run("bundle", "card", bundled / "bag", "--about", tmp_path / "about.yaml").exit_code == 0
    card = json.loads((bundled / "bag" / "card.json").read_text())
    assert {"../w16/male.pt", "w32/male.pt", "bag.yaml"} <= set(card["files"])
    assert [m["path"] for m in card["members"]] == ["../w16", "w32"]
    monkeypatch.setattr(pretrained, "BUNDLED", bundled)
    assert "# w16/config.yaml" in run("models", "bag", "--config").output
    built = Bag([_member(exps[n], "features.shifts=2") for n in ("w16", "w32")])
    # The bag's card pins the referenced bundle's files too.
    _check_bundled_bag("bag", built, mixture, bundled / "w16" / "male.pt")


@pytest.mark.parametrize(
    ("target", "reuse", "message"),
    [
        ("w16", "w32", "only a bag's members are reused; drop --reuse"),
        ("bag", "nowhere", "not a one-model dir written by 'vaesep bundle export'"),
        ("bag", "bag/inner", "which the export replaces"),
    ],
)
def test_a_bad_reuse_is_a_one_line_error(exps, target, reuse, message, tmp_path):
    bag_dir = _bag_dir(exps["w16"].parent / "bag_bad_reuse", "members: [{path: ../w16}]")
    (tmp_path / "bag").mkdir()
    assert run("bundle", "export", exps["w32"], tmp_path / "w32").exit_code == 0
    assert run("bundle", "export", exps["w16"], tmp_path / "bag" / "inner").exit_code == 0
    source = bag_dir if target == "bag" else exps[target]
    out = tmp_path / "out" if target != "bag" or reuse != "bag/inner" else tmp_path / "bag"
    result = run("bundle", "export", source, out, "--force", "--reuse", tmp_path / reuse)
    assert_user_error(result, message)
    assert not (tmp_path / "out").exists() and (tmp_path / "bag" / "inner").is_dir()
