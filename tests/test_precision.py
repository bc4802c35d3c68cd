"""``--precision bf16``: the networks in bfloat16 (autocast), the STFT and masks in float32,
fp32 untouched; refused where there is no network to run in lower precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run
from synthetic import make_datadir, make_pair

from vaesep.errors import VaesepError
from vaesep.separation.separator import Separator
from vaesep.zoo.pretrained import verified_dir

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", ["vae", "rnn_mask"])
def test_bf16_estimates_stay_close_to_fp32_and_still_sum_to_the_mixture(name):
    female, male = make_pair(np.random.default_rng(0), 1.0, 16000)
    mixture = torch.from_numpy((female + male).astype(np.float32))
    exact = Separator.from_dir(verified_dir(name)).separate_tensor(mixture)
    low = Separator.from_dir(verified_dir(name), precision="bf16")
    reduced = low.separate_tensor(mixture)
    assert reduced.dtype == torch.float32 and reduced.shape == exact.shape
    assert torch.allclose(reduced.sum(0), exact.sum(0), atol=1e-4), "the masks still sum to 1"
    error = (reduced - exact).norm() / exact.norm()
    assert 0 < error < 0.05, error  # bfloat16 really ran, and moved the estimates only a little


def test_an_unknown_precision_is_one_line():
    with pytest.raises(VaesepError, match=r"^--precision 'fp16': use fp32, bf16, int8$"):
        Separator.from_dir(verified_dir("vae"), precision="fp16")


def test_cli_precision_and_where_it_is_refused(tmp_path):
    data = make_datadir(tmp_path / "d", n_utts=1, seconds=0.3, rate=16000)
    separate = ["separate", data / "wav.scp", "--out-dir", tmp_path / "o", "--model", "vae"]
    assert run(*separate, "--precision", "bf16").exit_code == 0
    assert_user_error(run(*separate, "--precision", "fp16"), "--precision 'fp16': use fp32")
    evaluate = ["evaluate", "--data", data, "--out-dir", tmp_path / "e", "--jobs", "1"]
    assert_user_error(
        run(*evaluate, "--separated", tmp_path / "o", "--precision", "bf16"),
        "--precision: only with --model",
    )
    irm = tmp_path / "irm"
    trained = run(
        "train", "--config", CONFIGS / "oracle_irm.yaml", "--data", data, "--exp-dir", irm
    )
    assert trained.exit_code == 0, trained.output
    assert_user_error(
        run(*evaluate, "--model", irm, "--precision", "bf16"), "oracle runs in fp32 only"
    )
