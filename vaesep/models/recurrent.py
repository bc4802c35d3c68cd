"""Shared pieces of the recurrent mask models (``vrnn`` and ``rnn_mask``).

Both run a per-frame MLP ``φ(x_t) = mlp([D, *input_layers])`` (the identity when
``input_layers`` is empty) under a recurrent network over the segment's frames, and estimate
their source as ``m ⊙ mixture`` with a sigmoid mask ``m ∈ [0, 1]^F`` (signal approximation).
Training examples are segments of ``segment_frames`` consecutive frames; separation feeds a
whole recording (thousands of frames) in one call.

The recurrent cell is an LSTM by default: on the CPU, PyTorch runs ``nn.LSTM`` through oneDNN
and ``nn.GRU`` step by step, so over 3750 frames (60 s at a 16 ms hop) a GRU costs about
12 µs a step on overhead alone, 3–4× the LSTM's time at 128 units (``model.cell: gru`` for
the GRU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from vaesep.config import ModelSection, require
from vaesep.models.layers import mlp


@dataclass
class RecurrentConfig(ModelSection):
    """Keys shared by the recurrent models' ``model`` sections."""

    # Per-frame MLP φ(x) before the recurrent network; [] feeds the normalized frames directly.
    input_layers: list[int] = field(default_factory=lambda: [256])
    # Recurrent cell, units per direction, stacked layers, and whether a backward pass runs.
    cell: Literal["lstm", "gru"] = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    activation: Literal["relu", "tanh", "leaky_relu", "elu"] = "relu"
    # Dropout after each MLP layer and between stacked recurrent layers.
    dropout: float = 0.0
    # Reconstruction loss between the masked mixture and the target spectrum.
    reconstruction: Literal["mse", "l1"] = "mse"
    # Consecutive frames of one utterance per training example (overrides the base property).
    segment_frames: int = 64

    def validate(self) -> None:
        require(
            all(s > 0 for s in self.input_layers), "model.input_layers", "sizes must be positive"
        )
        require(self.hidden_size > 0, "model.hidden_size", "must be positive")
        require(self.num_layers >= 1, "model.num_layers", "must be at least 1")
        require(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)")
        require(self.segment_frames >= 2, "model.segment_frames", "must be at least 2")


def input_network(input_dim: int, config: RecurrentConfig) -> tuple[nn.Sequential, int]:
    """The per-frame MLP φ and its output size."""
    sizes = [input_dim, *config.input_layers]
    return mlp(sizes, config.activation, config.dropout), sizes[-1]


def recurrent(input_size: int, config: RecurrentConfig, bidirectional: bool) -> nn.RNNBase:
    """A batch-first LSTM or GRU of ``config``'s size (dropout only between stacked layers)."""
    cell = nn.LSTM if config.cell == "lstm" else nn.GRU
    return cell(
        input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
    )
