"""The timit_mf recipe, run for real on a tiny built-in corpus (SpeechBrain-style recipe test)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from synthetic import make_datadir, make_pool_dir

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "timit_mf" / "run.sh"
TINY = [
    "--speakers-per-gender", "2", "--utterances", "3", "--num-train", "4", "--num-test", "2",
    "--train-set", "training.epochs=1 training.progress=false training.parallel_sources=false",
]  # fmt: skip

# The recipes find this interpreter's vaesep first on PATH.
RECIPE_ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
}


def run_recipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(RECIPE), *args], env=RECIPE_ENV, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="the built-in corpus needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
def test_recipe_runs_every_stage_and_skips_done_work(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    result = run_recipe("--data", str(data), "--exp", str(exp), *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (data / "corpus" / "corpus.json").is_file()
    for split in ("train", "test"):
        for name in ("wav.scp", "spk1.scp", "spk2.scp", "utt2spk"):
            assert (data / "mixtures" / split / name).is_file()
    models = ("vae", "beta_vae", "itl_ae", "vrnn", "rnn_mask", "vae_joint", "class_vae")
    models += ("class_vae_weak", "cdae", "cdae_joint")
    for model in models:
        for name in ("config.yaml", "command.txt", "female.pt", "male.pt", "stats.npz"):
            assert (exp / model / name).is_file(), (model, name)
        assert len(list((exp / model / "separated").glob("*_female.wav"))) == 2
        assert (exp / model / "eval" / "summary.json").is_file()
    table = (exp / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for name in ("mixture", "nmf", *models, "oracle_irm", "oracle_wiener", "oracle_ibm"):
        assert any(row.startswith(f"| {name} |") for row in rows), name
    assert (exp / "violins.png").stat().st_size > 1000
    weak = data / "mixtures" / "train_weak"  # the weakly supervised model's training data
    assert (weak / "classes").is_file() and not (weak / "spk1.scp").exists()
    assert str(weak) in (exp / "class_vae_weak" / "command.txt").read_text()

    again = run_recipe("--data", str(data), "--exp", str(exp), "--stage", "1", "--stop-stage", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("already") >= 27  # mixtures, 15 trainings, 11 separations

    # Stage 5, the study's models over two seeds: pooled rows with intervals, claims judged.
    sweep = ("--stage", "5", "--stop-stage", "5", "--sweeps", "models", "--sweep-seeds", "0,1")
    done = run_recipe("--data", str(data), "--exp", str(exp), *sweep, *TINY[-2:])
    assert done.returncode == 0, done.stderr[-3000:]
    sweeps = exp / "sweeps" / "models"
    for model in ("vae", "beta_vae", "itl_ae"):
        for seed in (0, 1):
            assert (sweeps / model / f"seed{seed}" / "eval" / "summary.json").is_file()
    table = (sweeps / "RESULTS.md").read_text().splitlines()
    cells = [[c.strip() for c in line.split("|")[1:4]] for line in table if line.startswith("| ")]
    pooled = [(name, seeds) for name, _, seeds in cells if name not in ("model", "---")]
    assert pooled == [("mixture", "1"), ("vae", "2"), ("beta_vae", "2"), ("itl_ae", "2")]
    claims = (sweeps / "claims.csv").read_text().splitlines()
    assert claims[0].startswith("a,relation,b,metric") and len(claims) == 6, claims
    assert (
        "Sweep models: 0 of 3 settings to run"
        in run_recipe("--data", str(data), "--exp", str(exp), *sweep, *TINY[-2:]).stderr
    ), "every seed already scored"


def test_recipe_rejects_unknown_option():
    result = run_recipe("--no-such-option", "1")
    assert result.returncode == 2
    assert "unknown option --no-such-option" in result.stderr


PAIRS_RECIPE = RECIPE.parents[1] / "timit_pairs" / "run.sh"


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="the built-in corpus needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
def test_pairs_recipe_pools_pairs_and_seeds_and_checks_claims(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    args = [
        "--data", str(data), "--exp", str(exp), "--speakers-per-gender", "8",
        "--utterances", "3", "--pairs", "2", "--seeds", "0,1",
        "--methods", "nmf_1024 mlae wgan",
        "--train-set", "training.epochs=2 model.inference_steps=10 model.critic_warmup=1",
    ]  # fmt: skip
    run = subprocess.run(
        ["bash", str(PAIRS_RECIPE), *args],
        env=RECIPE_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    pairs = sorted(p.name for p in (data / "pairs").iterdir() if p.is_dir())
    assert len(pairs) == 2
    for method in ("nmf_1024", "mlae", "wgan"):
        for pair in pairs:
            for seed in (0, 1):
                assert (exp / method / pair / f"seed{seed}" / "eval" / "summary.json").is_file()
    rows = [line for line in (exp / "RESULTS.md").read_text().splitlines() if "| 2 | 2 |" in line]
    assert {r.split("|")[1].strip() for r in rows} == {"mlae", "wgan", "nmf_1024"}
    claims = (exp / "claims.csv").read_text()
    assert "wgan,>,nmf_1024,sdr" in claims and "mlae,>,wgan,sar" in claims

    again = subprocess.run(
        ["bash", str(PAIRS_RECIPE), *args, "--stage", "2", "--stop-stage", "2"],
        env=RECIPE_ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0 and "0 (method, pair) task(s)" in again.stderr


MULTICHANNEL_RECIPE = RECIPE.parents[1] / "multichannel_mf" / "run.sh"
CONFIGS = RECIPE.parents[2] / "configs"


def run_multichannel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(MULTICHANNEL_RECIPE), *args],
        env=RECIPE_ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="the built-in corpus needs espeak-ng and flite (apt-get install espeak-ng flite)",
)
def test_multichannel_recipe_scores_rooms_per_rt60_and_skips_done_work(tmp_path):
    from vaesep.io.audio import audio_info
    from vaesep.registry import MODELS

    models = ["auxiva", "ilrma"]  # blind: nothing to train
    if (CONFIGS / "mvae.yaml").is_file() and "mvae" in MODELS:
        models += ["mvae", "fast_mvae"]  # the trained one, as small as it gets, and fast_mvae
        # separating with its CVAE in the same task
    data, exp = tmp_path / "data", tmp_path / "exp"
    args = [
        "--data", str(data), "--exp", str(exp), "--speakers-per-gender", "2",
        "--utterances", "3", "--num-train", "4", "--num-test", "2", "--rt60s", "0.15",
        "--seeds", "0", "--models", " ".join(models),
        "--train-set", "training.epochs=1 model.hidden=16 model.ilrma_iterations=5"
        " model.iterations=2 model.latent_steps=2",
    ]  # fmt: skip
    result = run_multichannel(*args)
    assert result.returncode == 0, result.stderr[-3000:]

    for split, count in (("train", 4), ("test", 2)):
        rooms = data / "rooms" / "rt0.15" / split
        assert (rooms / "rooms.json").is_file()
        wavs = [line.split()[1] for line in (rooms / "wav.scp").read_text().splitlines()]
        assert len(wavs) == count
        assert all(audio_info(w).channels == 2 for w in wavs)
        reference = (rooms / "spk1.scp").read_text().split()[1]  # the image at mic 0
        assert audio_info(reference).channels == 1
    for model in models:
        assert (exp / "rt0.15" / model / "seed0" / "eval" / "summary.json").is_file(), model
    report = (exp / "rt0.15" / "RESULTS.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    for name in ("mixture", *models):
        assert any(row.startswith(f"| {name} |") for row in rows), name
    assert "RT60 0.15 s" in report
    top = (exp / "RESULTS.md").read_text()
    assert "reference mic" in top and "rt0.15/RESULTS.md" in top and "./run.sh " in top
    assert all(f"| {name} |" in top for name in models)
    if "mvae" in models:  # the claim against the blind baseline, judged
        assert "mvae,>,ilrma,sdr" in (exp / "rt0.15" / "claims.csv").read_text()
        assert "training.epochs=1" in (exp / "log" / "run.jobs").read_text()

    summaries = {p: p.stat().st_mtime_ns for p in exp.rglob("summary.json")}
    again = run_multichannel(*args, "--stop-stage", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 (RT60, model) task(s)" in again.stderr
    tasks = len(models) - ("fast_mvae" in models)  # fast_mvae runs in mvae's task
    assert again.stderr.count("already") == 4 + tasks  # corpus, mixtures, 2 rooms, the tasks
    assert {p: p.stat().st_mtime_ns for p in exp.rglob("summary.json")} == summaries


def test_multichannel_recipe_rejects_unknown_option():
    result = run_multichannel("--no-such-option", "1")
    assert result.returncode == 2
    assert "unknown option --no-such-option" in result.stderr


TINY_CONF = """features:
  sample_rate: 8000
training:
  epochs: {epochs}
  num_threads: 1
  parallel_sources: false
  progress: false
"""


def _pretrained_recipe(tmp_path: Path, confs: dict[str, str]) -> Path:
    """A copy of recipes/pretrained with these conf/<name>.yaml (and an about file each)."""
    src, dst = RECIPE.parents[1] / "pretrained", tmp_path / "pretrained"
    dst.mkdir()
    for name in ("run.sh", "cmd.sh", "path.sh"):
        shutil.copy(src / name, dst / name)
    shutil.copytree(src / "utils", dst / "utils")
    (dst / "conf").mkdir()
    for name, text in confs.items():
        (dst / "conf" / f"{name}.yaml").write_text(text)
        (dst / "conf" / f"{name}.about.yaml").write_text("summary: a test model\n")
    return dst / "run.sh"


def _train_log(exp: Path) -> list[dict]:
    lines = (exp / "train.log").read_text().split("\n")
    return [r for r in map(json.loads, filter(None, lines)) if r["source"] == "female"]


def test_pretrained_recipe_continues_a_model_from_its_last_epoch(tmp_path):
    make_datadir(tmp_path / "data" / "librispeech_snr0" / "train", n_utts=4, seconds=0.5, rate=8000)
    child = "# continues: parent\n" + TINY_CONF.format(epochs=2) + "  lr_decay: 0.5\n"
    recipe = _pretrained_recipe(tmp_path, {"parent": TINY_CONF.format(epochs=1), "child": child})
    args = ["--stage", "2", "--stop-stage", "2", "--models", "child"]
    args += ["--exp", str(tmp_path / "exp"), "--data", str(tmp_path / "data")]
    result = subprocess.run(
        ["bash", str(recipe), *args], env=RECIPE_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    parent, child_log = (
        _train_log(tmp_path / "exp" / "parent"),
        _train_log(tmp_path / "exp" / "child"),
    )
    assert [r["epoch"] for r in parent] == [1]  # trained first, though not listed
    assert [r["epoch"] for r in child_log] == [1, 2]
    assert child_log[0] == parent[0]  # the child went on from the parent's epoch
    assert "learning_rate" in child_log[1]  # with its own training.*
    assert (tmp_path / "exp" / "child" / "male.pt").is_file()
    shutil.rmtree(tmp_path / "exp" / "parent")  # a trained child needs its parent no more
    again = subprocess.run(
        ["bash", str(recipe), *args], env=RECIPE_ENV, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "exp" / "parent").exists()


def test_pretrained_recipe_refuses_a_continuation_of_no_model(tmp_path):
    recipe = _pretrained_recipe(
        tmp_path, {"child": "# continues: nothing\n" + TINY_CONF.format(epochs=1)}
    )
    args = ["--stage", "2", "--models", "child", "--exp", str(tmp_path / "exp")]
    result = subprocess.run(
        ["bash", str(recipe), *args], env=RECIPE_ENV, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "conf/child.yaml continues nothing, which has no conf/nothing.yaml" in result.stderr
    assert not (tmp_path / "exp").exists()


def test_pretrained_recipe_trains_a_bags_members_and_scores_the_bag(tmp_path):
    make_datadir(tmp_path / "data" / "librispeech_snr0" / "train", n_utts=4, seconds=0.5, rate=8000)
    for corpus in ("librispeech", "speechocean"):
        make_datadir(tmp_path / "data" / f"dev_{corpus}" / "test", n_utts=2, rate=8000)
    bag = "members:\n  - path: ../a\n  - path: ../b\n    weight: 2\n"
    member = TINY_CONF.format(epochs=1)
    confs = {"a": member, "b": member + "  seed: 1\n", "duo": bag}
    recipe = _pretrained_recipe(tmp_path, confs)
    args = ["--stage", "2", "--stop-stage", "2", "--models", "duo"]
    args += ["--exp", str(tmp_path / "exp"), "--data", str(tmp_path / "data")]
    result = subprocess.run(
        ["bash", str(recipe), *args], env=RECIPE_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    exp = tmp_path / "exp"
    assert (exp / "a" / "male.pt").is_file() and (exp / "b" / "male.pt").is_file()
    members = yaml.safe_load((exp / "duo" / "bag.yaml").read_text())["members"]
    assert members == [{"path": "../a"}, {"path": "../b", "weight": 2}]
    assert "| duo |" in (exp / "dev_librispeech" / "RESULTS.md").read_text()  # the bag scored
    # Stage 3: the bag after the single models, its member `a` a reference to a's bundle.
    for corpus in ("librispeech", "builtin"):
        for r in (0, 5, -5):
            make_datadir(tmp_path / "data" / f"{corpus}_snr{r}" / "test", n_utts=1, rate=8000)
    about = "summary: s\ntraining_data: d\nlicence: CC0\nattribution: a\ncommand: ./run.sh\n"
    for name in confs:
        (recipe.parent / "conf" / f"{name}.about.yaml").write_text(about)
    bundled = tmp_path / "bundled"
    stage3 = ["--stage", "3", "--stop-stage", "3", "--models", "duo a", *args[6:]]
    result = subprocess.run(
        ["bash", str(recipe), *stage3, "--bundled", str(bundled)],
        env=RECIPE_ENV,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    members = yaml.safe_load((bundled / "duo" / "bag.yaml").read_text())["members"]
    assert [m["path"] for m in members] == ["../a", "b"]
    assert "../a/male.pt" in json.loads((bundled / "duo" / "card.json").read_text())["files"]
    (recipe.parent / "conf" / "duo.yaml").write_text(bag + "  - path: ../missing\n")
    result = subprocess.run(
        ["bash", str(recipe), *args], env=RECIPE_ENV, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "conf/missing.yaml: a bag's member needs a conf of one model" in result.stderr


def test_pretrained_recipe_trains_a_published_config_on_the_pools_with_settings(tmp_path):
    speakers = {f"f{i}": "female" for i in range(3)} | {f"m{i}": "male" for i in range(3)}
    make_pool_dir(tmp_path / "data" / "pool_all", speakers)
    for corpus in ("librispeech", "speechocean"):
        make_datadir(tmp_path / "data" / f"dev_{corpus}" / "test", n_utts=2, rate=8000)
    recipe = _pretrained_recipe(tmp_path, {"study": TINY_CONF.format(epochs=1)})
    args = ["--stage", "2", "--stop-stage", "2", "--models", "study", "--on_pools", "study"]
    args += ["--exp", str(tmp_path / "exp"), "--data", str(tmp_path / "data")]
    args += ["--train-set", "training.mixing_gain_db=3 training.seed=7"]  # an ablation's settings
    result = subprocess.run(
        ["bash", str(recipe), *args], env=RECIPE_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "exp" / "dev_speechocean" / "RESULTS.md").is_file()  # scored as pooled
    config = yaml.safe_load((tmp_path / "exp" / "study" / "config.yaml").read_text())
    data, training = config["data"], config["training"]
    assert data["loading"] == "pools" and data["draw"] == "speaker" and data["pairs"] == 1000
    assert training["mixing_gain_db"] == 3 and training["seed"] == 7
    assert (tmp_path / "exp" / "study" / "male.pt").is_file()
