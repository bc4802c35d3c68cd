import pytest
import torch

from vaesep.device import resolve_device
from vaesep.errors import VaesepError


def test_auto_is_cuda_when_present_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_device_names_the_key():
    with pytest.raises(VaesepError, match=r"^--device: unknown device 'gpu'; use auto, cpu"):
        resolve_device("gpu", "--device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(VaesepError, match="training.device: cuda:1 requested but no GPU"):
        resolve_device("cuda:1", "training.device")
