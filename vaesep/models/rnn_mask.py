"""A plain (bidirectional) recurrent mask network for one source; no latent variables.

The ablation of :mod:`vaesep.models.vrnn`: the same φ and recurrent network (``model.cell``)
without the stochastic layer, so comparing the two measures what the variational part adds.
With ``model.shared`` (joint training) the sources' models share φ and the recurrent network.
With ``x`` ``(B, T, D)``::

    h_1..T = RNN(φ(x_1..T))                      (B, T, H·dirs), dirs = 2 if bidirectional
    m_t    = sigmoid(W h_t + b)                  (B, T, F)
    Ŝ_t    = m_t ⊙ mixture_t                     loss = reconstruction(Ŝ, target)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaesep.models.base import GradientModel, Penalties
from vaesep.models.recurrent import RecurrentConfig, input_network, recurrent


@dataclass
class RNNMaskConfig(RecurrentConfig):
    """``model`` section of ``rnn_mask``."""

    type: str = "rnn_mask"
    # Joint training: every source's model shares the first one's φ and recurrent network,
    # only the mask layers are their own (one network, a mask per source, as uPIT's BLSTM;
    # speaker-independent with training.permutation_invariant). Each source's file keeps the
    # whole network, so separation is unchanged.
    shared: bool = False


class RNNMask(GradientModel):
    """φ(x) → LSTM/GRU → sigmoid mask of the mixture spectrum."""

    receptive_field = None

    def __init__(self, input_dim: int, output_dim: int, config: RNNMaskConfig):
        super().__init__()
        self.config = config
        self.phi, phi_dim = input_network(input_dim, config)
        self.rnn = recurrent(phi_dim, config, config.bidirectional)
        directions = 2 if config.bidirectional else 1
        self.mask = nn.Sequential(
            nn.Linear(directions * config.hidden_size, output_dim), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """The masked mixture ``(B, T, F)``."""
        h, _ = self.rnn(self.phi(x))
        return self.mask(h) * mixture

    def share(self, other: RNNMask) -> None:
        """Use ``other``'s φ and recurrent network as this model's own (``model.shared``)."""
        self.phi, self.rnn = other.phi, other.rnn

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        return self(x, mixture), {}
