"""Sources named by the data dir's ``sources`` file and ``data.sources``, not fixed to
female/male: reading, writing, training, separating, evaluating and their errors."""

import json
from pathlib import Path

import pytest
import yaml
from cli_helpers import assert_user_error, run
from synthetic import make_datadir

from vaesep.data.datadir import DEFAULT_SOURCES, load_datadir, read_scp, write_datadir
from vaesep.errors import VaesepError
from vaesep.registry import load_config

NAMES = ("speech", "background")
FAST = [
    "--set", "features.sample_rate=8000",
    "--set", "training.epochs=2",
    "--set", "training.progress=false",
    "--set", "model.encoder_layers=[16]",
    "--set", "model.decoder_layers=[16]",
    "--set", "model.latent_dim=4",
]  # fmt: skip


def named(root: Path, names: tuple[str, ...] = NAMES) -> Path:
    """A data dir whose spk1.scp, spk2.scp the ``sources`` file names ``names``."""
    (root / "sources").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("named")
    named(make_datadir(root / "train", n_utts=4, seconds=0.5, rate=8000, seed=0))
    named(make_datadir(root / "test", n_utts=2, seconds=0.5, rate=8000, seed=1))
    make_datadir(root / "female_male", n_utts=2, seconds=0.5, rate=8000, seed=2)
    return root


def test_a_data_dir_without_a_sources_file_holds_female_and_male(data):
    loaded = load_datadir(data / "female_male")
    assert loaded.names == DEFAULT_SOURCES and loaded.has_references
    assert not (data / "female_male" / "sources").exists()


def test_the_sources_file_names_the_scp_files_in_order(data):
    loaded = load_datadir(data / "train")
    assert loaded.names == NAMES and list(loaded.sources) == list(NAMES)
    assert loaded.sources["speech"] == read_scp(data / "train" / "spk1.scp")
    assert loaded.sources["background"] == read_scp(data / "train" / "spk2.scp")
    assert set(loaded.classes["utt000"]) == set(NAMES)


def test_write_datadir_writes_the_names_it_is_given(data, tmp_path):
    loaded = load_datadir(data / "train")
    write_datadir(tmp_path / "d", loaded.mixtures, loaded.sources)  # names from the keys
    assert (tmp_path / "d" / "sources").read_text() == "speech\nbackground\n"
    assert load_datadir(tmp_path / "d").sources == loaded.sources
    fm = load_datadir(data / "female_male")
    write_datadir(tmp_path / "fm", fm.mixtures, {"male": fm.sources["male"], **fm.sources})
    assert not (tmp_path / "fm" / "sources").exists()  # female, male: no file, spk1 = female
    assert read_scp(tmp_path / "fm" / "spk1.scp") == fm.sources["female"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("speech\n", "expected two different source names"),
        ("a\nb\nc\n", "expected two different source names"),
        ("speech\nspeech\n", "expected two different source names"),
        ("speech\nback/ground\n", "is not a name"),
        ("", "expected two different source names"),
    ],
)
def test_a_bad_sources_file_is_a_one_line_error(data, tmp_path, text, needle):
    root = make_datadir(tmp_path / "d", n_utts=1, seconds=0.2, rate=8000)
    (root / "sources").write_text(text, encoding="utf-8")
    with pytest.raises(VaesepError, match=needle) as caught:
        load_datadir(root)
    assert str(root / "sources") in str(caught.value) and "\n" not in str(caught.value)


def test_data_sources_is_checked(data):
    assert load_config("vae", ["data.sources=[speech, background]"]).data.names == NAMES
    assert load_config("vae").data.names == DEFAULT_SOURCES
    with pytest.raises(VaesepError, match="data.sources"):
        load_config("vae", ["data.sources=[speech]"])


def test_train_separate_and_evaluate_carry_the_names(data, tmp_path):
    exp = tmp_path / "exp"
    result = run("train", "--config", "vae", "--data", data / "train", "--exp-dir", exp, *FAST)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["data"]["sources"] == list(NAMES)
    assert (exp / "speech.pt").is_file() and (exp / "background.pt").is_file()
    assert not (exp / "female.pt").exists()

    out = tmp_path / "sep"
    result = run("separate", data / "test" / "wav.scp", "--model", exp, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"utt00{i}_{s}.wav" for i in (0, 1) for s in sorted(NAMES)
    ]

    result = run("evaluate", "--model", exp, "--data", data / "test", "--out-dir", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert set(summary["per_source"]) == set(NAMES)

    result = run("evaluate", "--model", exp, "--data", data / "female_male", "--out-dir",
                 tmp_path / "ev2")  # fmt: skip
    assert_user_error(result, "speech, background")
    assert not (tmp_path / "ev2").exists()


def test_the_config_and_the_data_dir_must_agree(data, tmp_path):
    args = ["train", "--config", "vae", "--data", data / "train", "--exp-dir", tmp_path / "e"]
    result = run(*args, *FAST, "--set", "data.sources=[female,male]")
    assert_user_error(result, "data.sources")
    assert not (tmp_path / "e" / "config.yaml").exists()


def test_resume_refuses_other_sources(data, tmp_path):
    exp = tmp_path / "exp"
    args = ["train", "--config", "vae", "--exp-dir", exp, *FAST]
    assert run(*args, "--data", data / "female_male").exit_code == 0
    assert_user_error(run(*args, "--data", data / "train", "--resume"), "sources differ")
