"""Typed experiment configuration: dataclasses, YAML loading, ``--set`` overrides, validation.

A config has three sections, ``features``, ``model`` and ``training``. Unknown keys, wrong types
and impossible values raise :class:`VaesepError` naming the key (with the closest valid key).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from vaesep.errors import VaesepError

_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass
class FeatureConfig:
    """STFT features; the study's words: window and overlap in ms, hop = window − overlap."""

    sample_rate: int = 16000
    window_ms: float = 16.0
    overlap_ms: float = 8.0
    window: Literal["hann", "hamming"] = "hann"
    spectrogram: Literal["magnitude", "power"] = "magnitude"
    # Input compression: "log" feeds log(1 + x) of the mixture spectrogram to the network.
    compression: Literal["none", "log"] = "none"
    # Per-frequency standardization of the network input ("mean_std") or a global scale ("max").
    normalization: Literal["mean_std", "max", "none"] = "mean_std"
    # Neighbouring mixture frames on each side stacked onto the input (0 = the study's setting).
    context_frames: int = 0

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * (self.window_ms - self.overlap_ms) / 1000))

    @property
    def n_fft(self) -> int:
        return self.win_length

    @property
    def num_bins(self) -> int:
        return self.n_fft // 2 + 1

    def validate(self) -> None:
        _require(self.sample_rate >= 1000, "features.sample_rate", "must be at least 1000 Hz")
        _require(self.window_ms > 0, "features.window_ms", "must be positive")
        _require(self.overlap_ms >= 0, "features.overlap_ms", "must be zero or positive")
        _require(
            self.overlap_ms < self.window_ms,
            "features.overlap_ms",
            f"must be smaller than features.window_ms ({self.window_ms})",
        )
        _require(self.win_length >= 16, "features.window_ms", "gives fewer than 16 samples")
        _require(self.hop_length >= 1, "features.overlap_ms", "leaves a hop below one sample")
        _require(self.context_frames >= 0, "features.context_frames", "must be zero or positive")


@dataclass
class ModelConfig:
    """Per-source model; ``type`` picks the registry entry (vae, beta_vae, itl_ae, nmf, oracle)."""

    type: str = "vae"
    encoder_layers: list[int] = field(default_factory=lambda: [256, 256, 128])
    decoder_layers: list[int] = field(default_factory=lambda: [256, 256])
    latent_dim: int = 64
    activation: Literal["relu", "tanh", "leaky_relu", "elu"] = "relu"
    dropout: float = 0.0
    # Non-negative magnitude output.
    output_activation: Literal["softplus", "relu"] = "softplus"
    # What the decoder estimates: the source's spectrum (the study), or a [0, 1] mask of the
    # mixture spectrum trained on the masked mixture (signal approximation; not in the study).
    estimate: Literal["spectrum", "mask"] = "spectrum"
    # VAE / beta-VAE: z = mu + sigma * eps, eps ~ N(0, epsilon_std^2 I); loss = rec + beta * KL.
    epsilon_std: float = 0.01
    beta: float = 1.0
    # ITL-AE: loss = rec + lambda * D(codes, prior samples) with Gaussian-kernel estimates.
    divergence: Literal["cs", "euclidean"] = "cs"
    prior: Literal["gaussian", "laplace"] = "gaussian"
    kernel_sigma: float = 1.0
    itl_lambda: float = 0.1
    # Reconstruction loss between estimate and target spectra.
    reconstruction: Literal["mse", "l1"] = "mse"
    # Oracle baseline: ideal ratio |S_k| / Σ|S_j|, Wiener |S_k|² / Σ|S_j|², or binary mask.
    mask: Literal["ratio", "wiener", "binary"] = "ratio"
    # Supervised NMF baseline: K dictionary columns per source, beta-divergence, L1 weight on
    # the activations, multiplicative-update iterations for the dictionaries and at separation.
    nmf_components: int = 100
    nmf_divergence: Literal["euclidean", "kl"] = "kl"
    nmf_sparsity: float = 0.0
    nmf_iterations: int = 20
    nmf_test_iterations: int = 100

    def validate(self) -> None:
        from vaesep.models import MODELS

        if self.type not in MODELS:
            raise VaesepError(
                f"model.type: unknown model {self.type!r}; choose one of {', '.join(MODELS)}"
            )
        for key in ("encoder_layers", "decoder_layers"):
            sizes = getattr(self, key)
            _require(all(s > 0 for s in sizes), f"model.{key}", "sizes must be positive")
        _require(self.latent_dim > 0, "model.latent_dim", "must be positive")
        _require(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)")
        _require(self.epsilon_std >= 0, "model.epsilon_std", "must be zero or positive")
        _require(self.beta >= 0, "model.beta", "must be zero or positive")
        _require(self.kernel_sigma > 0, "model.kernel_sigma", "must be positive")
        _require(self.itl_lambda >= 0, "model.itl_lambda", "must be zero or positive")
        _require(self.nmf_components > 0, "model.nmf_components", "must be positive")
        _require(self.nmf_sparsity >= 0, "model.nmf_sparsity", "must be zero or positive")
        _require(self.nmf_iterations >= 1, "model.nmf_iterations", "must be at least 1")
        _require(self.nmf_test_iterations >= 1, "model.nmf_test_iterations", "must be at least 1")


@dataclass
class TrainingConfig:
    """Optimization; ``device: auto`` uses CUDA when present, the CPU otherwise."""

    epochs: int = 40
    batch_size: int = 128
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    validation_fraction: float = 0.1
    early_stopping_patience: int = 8
    # Pair the training sources anew every epoch (complex STFT sum) instead of the fixed
    # mixtures: more pairings from the same recordings (not in the study).
    dynamic_mixing: bool = False
    # On a multi-core CPU, train the sources' models side by side, one process each.
    parallel_sources: bool = True
    num_threads: int = 0
    progress: bool = True

    def validate(self) -> None:
        _require(self.epochs >= 1, "training.epochs", "must be at least 1")
        _require(self.batch_size >= 1, "training.batch_size", "must be at least 1")
        _require(self.learning_rate > 0, "training.learning_rate", "must be positive")
        _require(self.weight_decay >= 0, "training.weight_decay", "must be zero or positive")
        _require(
            0 <= self.validation_fraction < 1,
            "training.validation_fraction",
            "must be in [0, 1)",
        )
        _require(
            self.early_stopping_patience >= 0,
            "training.early_stopping_patience",
            "must be zero (off) or positive",
        )
        _require(self.num_threads >= 0, "training.num_threads", "must be 0 (auto) or positive")


@dataclass
class Config:
    """A whole experiment configuration."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def validate(self) -> Config:
        self.features.validate()
        self.model.validate()
        self.training.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise VaesepError(f"{key}: {message}")


def _closest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {match[0]!r}?" if match else f"; valid keys: {', '.join(choices)}"


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a dataclass field annotation, converting int → float only."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise VaesepError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if origin in (list, typing.List):  # noqa: UP006
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise VaesepError(f"{key}: expected a list like [256, 128], got {value!r}")
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported annotation for {key}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise VaesepError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise VaesepError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise VaesepError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise VaesepError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise VaesepError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for {key}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise VaesepError(f"{prefix}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise VaesepError(f"{prefix}.{key}: unknown key{_closest(str(key), names)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{prefix}.{key}")
        else:
            kwargs[key] = _coerce(value, hint, f"{prefix}.{key}".lstrip("."))
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], source: str = "config") -> Config:
    """Build and validate a :class:`Config`; errors name the offending key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise VaesepError(f"{source}: expected sections features/model/training, got {data!r}")
    try:
        return _build(Config, data, "").validate()
    except VaesepError as exc:
        raise VaesepError(f"{source}: {str(exc).lstrip('.')}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``section.key=value`` (value in YAML syntax) into a key path and a value."""
    if "=" not in text:
        raise VaesepError(f"--set {text!r}: expected section.key=value, e.g. training.epochs=5")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if len(path) < 2:
        raise VaesepError(f"--set {text!r}: name a section and a key, e.g. model.latent_dim=32")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw config mapping (validation happens afterwards)."""
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise VaesepError(f"--set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a parse error is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise VaesepError(f"{path}: no such config file; see configs/ for examples")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise VaesepError(f"{path}{where}: {problem}; fix the YAML syntax") from None
    except UnicodeDecodeError:
        raise VaesepError(f"{path}: not a text file; pass a YAML config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VaesepError(f"{path}: expected sections features/model/training at top level")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the defaults), apply ``--set`` overrides and validate."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return config_from_dict(data, source=str(path) if path is not None else "config")


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
