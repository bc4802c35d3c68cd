"""``vaesep export EXP --onnx DIR``: the per-source networks as ONNX files, checked on export.

DIR holds ``{source}.onnx`` (float32) for each source, with ``int8`` also
``{source}.int8.onnx`` (:mod:`vaesep.separation.onnx_runtime` says how both are made), the
experiment's ``config.yaml`` and ``stats.npz`` (the STFT, the input normalization and the masks they
describe stay outside the graphs), and ``onnx.json``: the graphs' inputs and outputs, where
they came from, their checksums, and how far onnxruntime's estimates were from torch's on an
example input when they were written. A float32 graph further than ``TOLERANCE`` from torch is
an error, never a file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from vaesep.data.datadir import check_replaceable, replacing
from vaesep.errors import VaesepError
from vaesep.expdir import CONFIG_FILE, STATS_FILE, load
from vaesep.registry import SECTIONS, spec_of
from vaesep.separation.onnx_runtime import (
    INPUTS,
    OPSET,
    OUTPUT,
    OnnxSourceModel,
    example_inputs,
    export_graph,
    quantize_int8,
    refusal,
    require_onnxruntime,
)
from vaesep.separation.separator import Separator
from vaesep.zoo.pretrained import sha256

MANIFEST = "onnx.json"  # written last: the dir is one --force may replace
TOLERANCE = 1e-4  # the float32 graph's largest deviation from torch, relative to the estimate


def deviation(model: torch.nn.Module, graph: bytes, example: tuple) -> float:
    """Largest |onnxruntime − torch| of the graph's estimate on ``example``, relative to the
    largest |torch| estimate."""
    with torch.no_grad():
        reference = model(*example)
    got = OnnxSourceModel(graph, model.receptive_field)(*example)
    return float((got - reference).abs().max() / reference.abs().max().clamp_min(1e-12))


def export_onnx(
    exp_dir: str | Path, out_dir: str | Path, int8: bool = False, force: bool = False
) -> dict[str, Any]:
    """Write the ONNX export of an experiment dir into ``out_dir``; return its manifest."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    experiment = load(exp_dir, SECTIONS)
    reason = refusal(experiment.config, spec_of(experiment.config), exp_dir.name)
    if reason:
        raise VaesepError(reason)
    ort = require_onnxruntime()
    check_replaceable(out_dir, MANIFEST, "vaesep export", force)
    separator = Separator.from_experiment(experiment)
    example = example_inputs(separator.featurizer)
    graphs, checks = {}, {}
    for source, model in separator.models.items():
        graph = export_graph(model, example)
        checks[source] = {"float32": deviation(model, graph, example)}
        if checks[source]["float32"] > TOLERANCE:
            raise VaesepError(
                f"{exp_dir}: the {source} graph's estimates differ from torch's by "
                f"{checks[source]['float32']:.1e} (relative); report this model type"
            )
        graphs[f"{source}.onnx"] = graph
        if int8:
            graphs[f"{source}.int8.onnx"] = quantize_int8(graph)
            checks[source]["int8"] = deviation(model, graphs[f"{source}.int8.onnx"], example)
    features = experiment.config.features
    manifest = {
        "exported_from": str(exp_dir),
        "model_type": experiment.config.model.type,
        "sources": list(separator.sources),
        "inputs": {
            INPUTS[0]: ["batch", "frames", separator.featurizer.input_dim],
            INPUTS[1]: ["batch", "frames", features.num_bins],
        },
        "output": {OUTPUT: ["batch", "frames", features.num_bins]},
        "receptive_field": next(iter(separator.models.values())).receptive_field,
        "opset": OPSET,
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "deviation_from_torch": checks,
        "use": "inputs: the featurized mixture (vaesep.features.Featurizer.network_input with "
        "stats.npz); mixture: the mixture magnitude in the target scale (Featurizer.target); "
        "estimate: the source's spectrum in that scale (Featurizer.to_spectrogram); the "
        "soft masks and the iSTFT follow config.yaml",
    }
    with replacing(out_dir) as tmp:
        for name, graph in graphs.items():
            (tmp / name).write_bytes(graph)
        manifest["files"] = {name: sha256(tmp / name) for name in graphs}
        for name in (CONFIG_FILE, STATS_FILE):
            shutil.copyfile(exp_dir / name, tmp / name)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
