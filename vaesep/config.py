"""Typed experiment configuration: dataclasses, YAML loading, ``--set`` overrides, validation.

A config has the sections ``features``, ``model``, ``training`` and ``data``. Unknown keys,
wrong types and impossible values raise :class:`VaesepError` naming the key (and the closest).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from vaesep.data.options import DataConfig
from vaesep.errors import VaesepError
from vaesep.io.atomic import write_text_atomic
from vaesep.io.overrides import apply_overrides
from vaesep.io.yamlfile import read_yaml

_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass
class FeatureConfig:
    """STFT features; the study's words: window and overlap in ms, hop = window − overlap."""

    sample_rate: int = 16000
    window_ms: float = 16.0
    overlap_ms: float = 8.0
    window: Literal["hann", "hamming"] = "hann"
    spectrogram: Literal["magnitude", "power", "complex"] = "magnitude"  # complex: re | im
    # Input compression: "log" feeds log(1 + x) of the mixture spectrogram to the network.
    compression: Literal["none", "log"] = "none"
    # Per-frequency standardization of the network input ("mean_std") or a global scale ("max").
    normalization: Literal["mean_std", "max", "none"] = "mean_std"
    # Neighbouring mixture frames on each side stacked onto the input (0 = the study's setting).
    context_frames: int = 0
    # Separation only: each mixture (each chunk of a long one) is scaled to this RMS level in
    # dBFS before the networks see it; the masks apply to the mixture as it came. 0: as it comes.
    input_level_db: float = 0.0
    # Separation only: the estimates averaged over this many STFT frame grids, the k-th with
    # the mixture delayed by k * hop / shifts samples (1: one grid, the study's).
    shifts: int = 1

    def as_trained(self) -> FeatureConfig:
        """These features without the separation-only settings: what a network learned from."""
        return dataclasses.replace(self, input_level_db=0.0, shifts=1)

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
        require(self.sample_rate >= 1000, "features.sample_rate", "must be at least 1000 Hz")
        require(self.window_ms > 0, "features.window_ms", "must be positive")
        require(self.overlap_ms >= 0, "features.overlap_ms", "must be zero or positive")
        require(
            self.overlap_ms < self.window_ms,
            "features.overlap_ms",
            f"must be smaller than features.window_ms ({self.window_ms})",
        )
        require(self.win_length >= 16, "features.window_ms", "gives fewer than 16 samples")
        require(self.hop_length >= 1, "features.overlap_ms", "leaves a hop below one sample")
        require(self.context_frames >= 0, "features.context_frames", "must be zero or positive")
        require(
            -100 <= self.input_level_db <= 0,
            "features.input_level_db",
            "must be within -100 and 0 dBFS (0: the mixture's own level), e.g. -23",
        )
        require(
            1 <= self.shifts <= self.hop_length,
            "features.shifts",
            f"must be within 1 and the hop in samples ({self.hop_length}), e.g. 4",
        )


@dataclass
class ModelSection:
    """Base of every model's config section; ``type`` names the registry entry.

    Each registered model declares its own section (a subclass with its keys and a
    ``validate``), so a key of another model is an error naming it.
    """

    type: str = "vae"

    @property
    def segment_frames(self) -> int:
        """Frames per training example (1: frame-wise models)."""
        return 1

    @property
    def mask_power(self) -> float:
        """Exponent p of separation's soft masks Ŝk^p / Σ Ŝj^p (1: the study's ratio)."""
        return 1.0

    def validate(self) -> None:
        """Check the section's values; raise :class:`VaesepError` naming the key."""


@dataclass
class TrainingConfig:
    """Optimization; ``device: auto`` uses CUDA when present, the CPU otherwise."""

    epochs: int = 40
    batch_size: int = 128
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    # The rate times lr_decay after lr_patience epochs without a lower validation loss (1: none).
    lr_decay: float = 1.0
    lr_patience: int = 5
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    validation_fraction: float = 0.1
    early_stopping_patience: int = 8
    # Stop after the first epoch that ends past this many minutes of this run's training of a
    # model (0: no limit): the best epoch is kept and --resume goes on (job limits, GPU leases).
    max_minutes: float = 0.0
    # Pair the training sources anew every epoch (complex STFT sum; not in the study). Under weak
    # class supervision: one-class recordings mixed anew into two-class mixtures, beside them.
    dynamic_mixing: bool = False
    # With dynamic_mixing: each new male segment scaled by a random ratio within +-this many dB.
    mixing_gain_db: float = 0.0
    # With dynamic_mixing: each new source segment coloured by a smooth random response (+-dB).
    mixing_colouring_db: float = 0.0
    # The training target: the magnitude |S|, or |S| cos(angle S - angle X) truncated to
    # [0, |X|] (phase-sensitive, Erdogan et al. 2015; magnitude spectrograms only).
    target: Literal["magnitude", "phase_sensitive"] = "magnitude"
    # spectrum: the model's own loss (the study's); si_sdr: negative SI-SDR of the waveforms.
    loss: Literal["spectrum", "si_sdr"] = "spectrum"
    # Sequence models: cut the training utterances into segments from a new random first
    # frame every epoch (more distinct segments from the same recordings).
    random_segments: bool = False
    # Train the sources' models together through their soft masks: the loss is each source's
    # masked mixture against its reference, minus ``discriminative`` times its error against
    # the other source (Huang et al. 2015); not in the study, which trains them apart.
    joint: bool = False
    discriminative: float = 0.0
    # Joint training: each segment scored under the assignment of outputs to references that
    # fits it best (permutation-invariant training, Kolbæk et al. 2017): speaker-independent
    # outputs, scored by the best permutation (with data.genders: any).
    permutation_invariant: bool = False
    # Joint training: weight of each model's own error (the independent loss), 0: masks alone.
    joint_direct: float = 0.0
    # source: the references supervise each model; class (weak): only the mixtures and which
    # sources each holds, the estimates summed to the mixture (Karamatli et al. 2019), jointly.
    supervision: Literal["source", "class"] = "source"
    # Fine-tuning: start from a trained model's weights (experiment dir or bundled name).
    init_from: str = ""
    # On a multi-core CPU, train the sources' models side by side, one process each.
    parallel_sources: bool = True
    num_threads: int = 0
    progress: bool = True

    def validate(self) -> None:
        checks = {
            "epochs": (self.epochs >= 1, "must be at least 1"),
            "batch_size": (self.batch_size >= 1, "must be at least 1"),
            "learning_rate": (self.learning_rate > 0, "must be positive"),
            "weight_decay": (self.weight_decay >= 0, "must be zero or positive"),
            "lr_decay": (0 < self.lr_decay <= 1, "must be in (0, 1] (1: a constant rate)"),
            "lr_patience": (self.lr_patience >= 0, "must be zero or positive"),
            "validation_fraction": (0 <= self.validation_fraction < 1, "must be in [0, 1)"),
            "early_stopping_patience": (
                self.early_stopping_patience >= 0,
                "must be 0 (off) or more",
            ),
            "max_minutes": (self.max_minutes >= 0, "must be 0 (no limit) or positive"),
            "mixing_gain_db": (self.mixing_gain_db >= 0, "must be zero or positive"),
            "mixing_colouring_db": (self.mixing_colouring_db >= 0, "must be zero or positive"),
            "num_threads": (self.num_threads >= 0, "must be 0 (auto) or positive"),
            "discriminative": (0 <= self.discriminative < 1, "must be in [0, 1)"),
            "joint_direct": (self.joint_direct >= 0, "must be zero or positive"),
        }
        for key, (ok, message) in checks.items():
            require(ok, f"training.{key}", message)
        for key in ("discriminative", "joint_direct"):
            require(
                getattr(self, key) == 0 or self.joint,
                f"training.{key}",
                "needs training.joint: true (it weighs a term of the joint loss)",
            )
        require(
            not self.permutation_invariant
            or (self.joint and not self.discriminative and not self.joint_direct),
            "training.permutation_invariant",
            "needs training.joint: true, training.discriminative: 0 and training.joint_direct: "
            "0 (it chooses which output is which source; those terms assume a fixed one)",
        )
        require(
            self.supervision == "source" or not self.joint,
            "training.joint",
            "is for source supervision; class supervision always trains the models together",
        )

    @property
    def trains_together(self) -> bool:
        """Whether all sources' models train as one (joint or weak class supervision)."""
        return self.joint or self.supervision == "class"


@dataclass
class Config:
    """A whole experiment configuration; ``model`` is the section of the chosen ``model.type``."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> Config:
        self.features.validate()
        self.model.validate()
        self.training.validate()
        self.data.validate()
        t, loading, streams = self.training, self.data.loading, self.data.streams
        for key in ("mixing_gain_db", "mixing_colouring_db"):
            anew = getattr(t, key) == 0 or t.dynamic_mixing or loading == "pools"
            require(anew, f"training.{key}", "needs training.dynamic_mixing: true or "
                    "data.loading: pools (it acts on the mixtures drawn anew)")  # fmt: skip
        require(
            not (t.dynamic_mixing and streams),
            "training.dynamic_mixing",
            f"mixes in-memory utterances; data.loading: {loading} cannot: set it to false "
            "(data.loading: pools draws pairs anew from disk) or use data.loading: memory",
        )
        require(
            t.loss == "spectrum"
            or (self.features.spectrogram == "magnitude" and t.supervision == "source"),
            "training.loss",
            "si_sdr needs features.spectrogram: magnitude and references "
            "(training.supervision: source)",
        )
        require(
            t.supervision == "source" or not streams,
            "data.loading",
            f"{loading} needs training.supervision: source; weak data train in memory",
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def require(ok: bool, key: str, message: str) -> None:
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


def _build(cls: type, data: Any, prefix: str, sections: Mapping[str, type]) -> Any:
    if not isinstance(data, dict):
        raise VaesepError(f"{prefix}: expected a mapping of keys, got {data!r}")
    if cls is ModelSection:
        cls = _model_section(data, sections)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            why = _unknown(cls, str(key), names, data, sections)
            raise VaesepError(f"{prefix}.{key}: {why}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{prefix}.{key}", sections)
        else:
            kwargs[key] = _coerce(value, hint, f"{prefix}.{key}".lstrip("."))
    return cls(**kwargs)


def _model_section(data: dict[str, Any], sections: Mapping[str, type]) -> type:
    """The section class of ``model.type`` (default ``vae``)."""
    kind = data.get("type", ModelSection.type)
    if kind not in sections:
        raise VaesepError(
            f".model.type: unknown model {kind!r}; choose one of {', '.join(sections)}"
        )
    return sections[kind]


def _unknown(
    cls: type, key: str, names: list[str], data: dict, sections: Mapping[str, type]
) -> str:
    """Why ``key`` is refused: a key of other model types, or unknown (closest key named)."""
    if issubclass(cls, ModelSection):
        owners = [t for t, c in sections.items() if key in {f.name for f in dataclasses.fields(c)}]
        if owners:
            kind = data.get("type", ModelSection.type)
            return f"a key of model.type {', '.join(owners)}, not of {kind}; remove it"
    return f"unknown key{_closest(key, names)}"


def config_from_dict(
    data: dict[str, Any], sections: Mapping[str, type], source: str = "config"
) -> Config:
    """Build and validate a :class:`Config`; errors name the offending key.

    ``sections`` maps each ``model.type`` to its config section class (the registry's).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise VaesepError(f"{source}: expected sections features/model/training/data, got {data!r}")
    data = {"model": {}, **data}  # the model section is built even when absent
    try:
        return _build(Config, data, "", sections).validate()
    except VaesepError as exc:
        raise VaesepError(f"{source}: {str(exc).lstrip('.')}") from None


def load_config(
    path: str | Path | None,
    overrides: list[str] | None,
    sections: Mapping[str, type],
) -> Config:
    """Load a YAML config (or the defaults), apply ``--set`` overrides and validate
    (``sections``: the model sections by ``model.type``, as ``vaesep.registry`` passes)."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return config_from_dict(data, sections, source=str(path) if path is not None else "config")


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
