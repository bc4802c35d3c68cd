"""vaesep: speech source separation with variational autoencoders and the separators around
them (VAE, beta-VAE, ITL-AE and the models the Entropy 2022 review surveys).

The public API: everything a library user needs, importable from the top so that user code
never depends on the package's layout::

    from vaesep import Separator, load_config, train, evaluate

    estimates = Separator.pretrained().separate("mix.wav")

The names resolve on first use (PEP 562), so ``import vaesep`` stays cheap (no torch) and the
command line starts fast. The stages behind them, in the order data flows: ``io`` (audio and
files), ``data`` (corpora, data dirs, mixtures), ``models`` (one module per model type, with
``registry``), ``training``, ``zoo`` (bundled models), ``separation``, ``scoring``; ``cli`` is
the command line over them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from vaesep.errors import VaesepError
from vaesep.version import __version__

# Public name -> the module that defines it.
_API = {
    # configs and the model registry
    "Config": "vaesep.config",
    "load_config": "vaesep.registry",
    "MODELS": "vaesep.registry",
    # data
    "load_corpus": "vaesep.data.corpora",
    "MixOptions": "vaesep.data.mixing",
    "prepare_mixtures": "vaesep.data.preparation",
    "prepare_background": "vaesep.data.background",
    "load_datadir": "vaesep.data.datadir",
    "load_audio": "vaesep.io.audio",
    "save_audio": "vaesep.io.audio",
    # training
    "train": "vaesep.training.experiment",
    # bundled models
    "pretrained_models": "vaesep.zoo.pretrained",
    # separation
    "Separator": "vaesep.separation.separator",
    "Bag": "vaesep.separation.bag",
    "Demixer": "vaesep.separation.demixer",
    "OracleSeparator": "vaesep.separation.oracle_separator",
    "load_separator": "vaesep.separation.loading",
    "export_onnx": "vaesep.separation.onnx_export",
    # scoring
    "evaluate": "vaesep.scoring.evaluation",
    "evaluate_separated": "vaesep.scoring.evaluation",
    "report": "vaesep.scoring.reports",
    "run_seeds": "vaesep.scoring.runs",
}
# Public names whose definition is named otherwise in its module.
_RENAMED = {"pretrained_models": "names"}

__all__ = [
    "VaesepError",
    "__version__",
    "Config",
    "load_config",
    "MODELS",
    "load_corpus",
    "MixOptions",
    "prepare_mixtures",
    "prepare_background",
    "load_datadir",
    "load_audio",
    "save_audio",
    "train",
    "pretrained_models",
    "Separator",
    "Bag",
    "Demixer",
    "OracleSeparator",
    "load_separator",
    "export_onnx",
    "evaluate",
    "evaluate_separated",
    "report",
    "run_seeds",
]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'vaesep' has no attribute {name!r}")
    value = getattr(import_module(_API[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ does this
    from vaesep.config import Config
    from vaesep.data.background import prepare_background
    from vaesep.data.corpora import load_corpus
    from vaesep.data.datadir import load_datadir
    from vaesep.data.mixing import MixOptions
    from vaesep.data.preparation import prepare_mixtures
    from vaesep.io.audio import load_audio, save_audio
    from vaesep.registry import MODELS, load_config
    from vaesep.scoring.evaluation import evaluate, evaluate_separated
    from vaesep.scoring.reports import report
    from vaesep.scoring.runs import run_seeds
    from vaesep.separation.bag import Bag
    from vaesep.separation.demixer import Demixer
    from vaesep.separation.loading import load_separator
    from vaesep.separation.onnx_export import export_onnx
    from vaesep.separation.oracle_separator import OracleSeparator
    from vaesep.separation.separator import Separator
    from vaesep.training.experiment import train
    from vaesep.zoo.pretrained import names as pretrained_models
