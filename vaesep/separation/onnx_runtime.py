"""The per-source networks as ONNX graphs run by onnxruntime, in float32 or int8.

Only the networks leave torch: each source's module is exported (torch's TorchScript-based
``torch.onnx.export``) as a graph from the featurized mixture ``inputs (batch, frames, D)``
and the ``mixture`` spectrum in the target scale ``(batch, frames, F)`` to that source's
estimate ``(batch, frames, F)``, frames and batch dynamic; the STFT, the features and the
masks stay in vaesep. ``int8`` is onnxruntime's dynamic quantization: weights of the matrix
products (linear layers, LSTMs) stored in int8 per output channel, activations quantized per
call from their range. We chose onnxruntime's int8 path over ``torch.ao.quantization``, which
torch deprecates in favour of torchao, a further dependency whose int8 kernels target GPUs.

A model whose estimates are not one network pass per source (test-time inference of priors,
NMF, an oracle, demixing), or whose module says it cannot be traced (its ``onnx_refusal``),
cannot be exported: :func:`refusal` says why, in one line.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
import weakref
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaesep.config import Config
from vaesep.errors import VaesepError, optional
from vaesep.features import Featurizer
from vaesep.registry import ModelSpec

INPUTS = ("inputs", "mixture")  # the graph's inputs, in forward's order
OUTPUT = "estimate"
OPSET = 17
EXAMPLE_FRAMES = 64  # the frames of the example input the graph is traced with


def require_onnxruntime():
    """The ``onnxruntime`` module, or a one-line error that says how to install it."""
    onnxruntime = optional("onnxruntime", "onnx", "ONNX export or the onnxruntime backend")
    onnxruntime.set_default_logger_severity(3)  # errors only: no notes on stderr
    return onnxruntime


def refusal(config: Config, spec: ModelSpec, name: str) -> str | None:
    """Why ``name``'s networks cannot run as ONNX graphs (one line), or None if they can."""
    if spec.estimate == "per_source" and not spec.multichannel and not spec.module.onnx_refusal:
        return None
    if spec.module.onnx_refusal:
        why = spec.module.onnx_refusal
    elif spec.multichannel:
        why = "it demixes the channels by iterative test-time inference"
    elif spec.needs_references:
        why = "an oracle mask has no network (it is made from the true sources)"
    else:
        why = "its estimates are fitted to each mixture at test time, not one network pass"
    return (
        f"{name}: a {config.model.type} model cannot be exported to ONNX or run on "
        f"onnxruntime: {why}; use the torch backend"
    )


def example_inputs(featurizer: Featurizer) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic positive mixture spectrogram as the graph's example ``(1, T, ·)`` inputs."""
    generator = torch.Generator().manual_seed(0)
    bins = featurizer.config.num_bins
    spec = torch.rand(EXAMPLE_FRAMES, bins, generator=generator) + 0.01
    return featurizer.network_input(spec).unsqueeze(0), featurizer.target(spec).unsqueeze(0)


def export_graph(model: nn.Module, example: tuple[torch.Tensor, torch.Tensor]) -> bytes:
    """One source's module as a serialized ONNX graph with dynamic batch and frames."""
    optional("onnx", "onnx", "ONNX export")  # torch.onnx's exporter needs it
    axes = {name: {0: "batch", 1: "frames"} for name in (*INPUTS, OUTPUT)}
    buffer = io.BytesIO()
    model = model.cpu().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript tracer's notes on RNNs and shapes
        torch.onnx.export(
            model,
            example,
            buffer,
            dynamo=False,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
        )
    return buffer.getvalue()


def quantize_int8(graph: bytes) -> bytes:
    """The graph with onnxruntime's dynamic int8 quantization (per-channel int8 weights)."""
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its advice on pre-processing goes to root
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp, "model.onnx"), Path(tmp, "model.int8.onnx")
            src.write_bytes(graph)
            quantize_dynamic(src, dst, per_channel=True, weight_type=QuantType.QInt8)
            return dst.read_bytes()
    finally:
        logging.getLogger().setLevel(quiet)


# Every OnnxSourceModel alive, and the sessions a forked child inherited from them: those are
# never freed in the child, whose copy of their thread pool has no threads (freeing one there
# waits for them forever, e.g. when the garbage collector meets it in a training worker).
_MODELS: weakref.WeakSet = weakref.WeakSet()
_INHERITED: list = []


def _forget_sessions_in_child() -> None:
    for model in list(_MODELS):
        if model._session is not None:
            _INHERITED.append(model._session)
            model._session, model._pid = None, None


os.register_at_fork(after_in_child=_forget_sessions_in_child)


class OnnxSourceModel(nn.Module):
    """One source's network on onnxruntime, called like the torch module it was exported from
    (``forward(x, mixture)``; CPU tensors in and out). Each process opens its own session on
    first use, on as many threads as torch has there (a session does not survive a fork)."""

    def __init__(self, graph: bytes, receptive_field: int | None):
        super().__init__()
        require_onnxruntime()
        self.graph = graph
        self.receptive_field = receptive_field
        self._session, self._pid = None, None
        _MODELS.add(self)

    def session(self):
        """This process's onnxruntime session of the graph."""
        if self._pid != os.getpid():
            ort = require_onnxruntime()
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            # Idle threads sleep instead of spinning: each source's session has its own pool,
            # and spinning ones take the cores from the next session and from torch's STFT.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(
                self.graph, options, providers=["CPUExecutionProvider"]
            )
            self._pid = os.getpid()
        return self._session

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_session": None, "_pid": None}  # a spawned worker reopens it

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        _MODELS.add(self)

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        session = self.session()
        given = dict(zip(INPUTS, (x, mixture)))
        feeds = {
            i.name: np.ascontiguousarray(given[i.name].numpy(), np.float32)
            for i in session.get_inputs()  # an input the network does not read is dropped
        }
        return torch.from_numpy(session.run([OUTPUT], feeds)[0])


def onnx_models(
    models: dict[str, nn.Module], featurizer: Featurizer, int8: bool = False
) -> dict[str, OnnxSourceModel]:
    """Each source's module exported and loaded into onnxruntime (int8: quantized first)."""
    example = example_inputs(featurizer)
    out = {}
    for source, model in models.items():
        graph = export_graph(model, example)
        out[source] = OnnxSourceModel(
            quantize_int8(graph) if int8 else graph, model.receptive_field
        )
    return out


def on_onnxruntime(
    config: Config,
    spec: ModelSpec,
    models: dict,
    featurizer: Featurizer,
    precision: str,
    name: str,
) -> dict[str, torch.nn.Module]:
    """The sources' networks exported to onnxruntime (CPU only), or why they cannot be."""
    reason = refusal(config, spec, name)
    if reason:
        raise VaesepError(reason)
    if any(p.device.type != "cpu" for m in models.values() for p in m.parameters()):
        raise VaesepError("--backend onnxruntime runs on the CPU; pass --device cpu")
    return onnx_models(models, featurizer, int8=precision == "int8")
