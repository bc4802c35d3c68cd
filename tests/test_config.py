from pathlib import Path

import pytest

from vaesep.errors import VaesepError
from vaesep.registry import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["vae", "beta_vae", "itl_ae"])
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.features.window_ms == 16 and cfg.features.hop_length == 128
    assert cfg.model.type == name


def test_overrides_apply_with_yaml_types():
    cfg = load_config(
        CONFIGS / "vae.yaml",
        ["training.epochs=3", "model.encoder_layers=[64, 32]", "features.window_ms=32"],
    )
    assert cfg.training.epochs == 3
    assert cfg.model.encoder_layers == [64, 32]
    assert cfg.features.window_ms == 32.0


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "overrides", "needle"),
    [
        (
            "model:\n  latnet_dim: 3\n",
            [],
            "model.latnet_dim: unknown key; did you mean 'latent_dim'",
        ),
        ("training:\n  epochs: many\n", [], "training.epochs: expected an integer"),
        ("features:\n  window_ms: -16\n", [], "features.window_ms: must be positive"),
        ("features:\n  overlap_ms: 16\n", [], "features.overlap_ms: must be smaller"),
        ("", ["features.input_level_db=6"], "features.input_level_db: must be within -100 and 0"),
        ("model:\n  type: gann\n", [], "model.type: unknown model 'gann'"),
        (
            "model:\n  type: itl_ae\n  divergence: kl\n",
            [],
            "model.divergence: 'kl' is not one of cs, euclidean",
        ),
        (
            "model:\n  type: itl_ae\n  beta: 2\n",
            [],
            "model.beta: a key of model.type vae, beta_vae",
        ),
        ("", ["model.nmf_components=3"], "model.nmf_components: a key of model.type nmf, not of"),
        ("modle:\n  type: vae\n", [], "modle: unknown key; did you mean 'model'"),
        ("features: [1, 2\n", [], "fix the YAML syntax"),
        ("", ["training.epochs"], "expected section.key=value"),
        ("", ["training.bach_size=3"], "did you mean 'batch_size'"),
        ("", ["model.encoder_layers=[0]"], "model.encoder_layers: sizes must be positive"),
        ("", ["training.mixing_gain_db=3"], "training.mixing_gain_db: needs training.dynamic"),
        (
            "",
            ["training.dynamic_mixing=true", "training.mixing_colouring_db=-1"],
            "training.mixing_colouring_db: must be zero or positive",
        ),
        ("", ["training.target=phase"], "training.target: 'phase' is not one of magnitude"),
    ],
)
def test_invalid_configs_name_the_key(tmp_path, text, overrides, needle):
    with pytest.raises(VaesepError) as info:
        load_config(_write(tmp_path, text), overrides)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(VaesepError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_saved_config_holds_only_the_models_keys(tmp_path):
    from vaesep.config import save_config

    cfg = load_config(CONFIGS / "itl_ae.yaml")
    save_config(cfg, tmp_path / "config.yaml")
    saved = (tmp_path / "config.yaml").read_text()
    assert "kernel_sigma" in saved and "beta" not in saved and "nmf_components" not in saved
    assert load_config(tmp_path / "config.yaml") == cfg
