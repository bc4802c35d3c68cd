"""Published numbers stay put: small seeded trainings give the weights pinned before the model
interface changed (segments of one frame must reproduce the study's bag of frames, its batches
and its random-number use exactly)."""

from __future__ import annotations

import pytest
import torch
from synthetic import make_datadir

from vaesep.registry import load_config
from vaesep.training.experiment import train

BASE = ["features.sample_rate=8000", "training.epochs=3", "training.progress=false"]
BASE.append("training.num_threads=1")
RUNS = {
    "vae": ["model.type=vae"],
    "itl_ae": ["model.type=itl_ae", "model.kernel_sigma=4.0"],
    "dynamic_mixing": [
        "model.type=vae",
        "training.dynamic_mixing=true",
        "features.window_ms=32",
        "features.overlap_ms=16",
    ],
    "mask_context_sgd": [
        "model.type=vae",
        "model.estimate=mask",
        "features.context_frames=2",
        "training.optimizer=sgd",
    ],
}
# (sum, sum of squares) of every weight, per source, from the code before the change.
PINNED = {
    "vae": {
        "female": (-419.1345747877476, 483.92519765367325),
        "male": (-243.1591120634621, 486.5436501677559),
    },
    "itl_ae": {
        "female": (55.51498330294453, 459.0944051971486),
        "male": (28.83016133286401, 461.7694102257773),
    },
    "dynamic_mixing": {
        "female": (28.4339991224424, 499.70247838379055),
        "male": (-54.31441806805378, 494.31367203811146),
    },
    "mask_context_sgd": {
        "female": (32.55473565332143, 456.1868644081519),
        "male": (63.25222243994632, 454.1832381347815),
    },
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_datadir(tmp_path_factory.mktemp("pinned") / "d", n_utts=8, seconds=1.0)


@pytest.mark.parametrize("name", list(RUNS))
def test_seeded_training_gives_the_pinned_weights(data, tmp_path, name):
    train(load_config(None, BASE + RUNS[name]), data, tmp_path / name)
    for source, (total, squares) in PINNED[name].items():
        weights = torch.load(tmp_path / name / f"{source}.pt")["state_dict"]
        flat = torch.cat([w.double().flatten() for w in weights.values()])
        assert float(flat.sum()) == pytest.approx(total, rel=1e-9, abs=1e-9)
        assert float(flat.square().sum()) == pytest.approx(squares, rel=1e-9)
