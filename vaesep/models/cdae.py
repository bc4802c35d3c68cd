"""A fully convolutional denoising autoencoder of one source (Grais & Plumbley 2017, [118]).

The mixture's normalized segment is an image ``(1, T, F)`` (the ``features.context_frames``
neighbours stacked onto a frame become input channels); every layer is a 2-D convolution over
(time, frequency) with 'same' zero padding and stride 1 in time, so the network is
translation-equivariant in time, its output as long as its input and each output frame depends
on exactly ``time_field`` frames on each side::

    encoder  conv (stride 2 in frequency) + act   channels [*encoder_layers, latent_dim]
    decoder  transposed conv (×2 in frequency) + act   channels decoder_layers, one per
                                                   encoder layer, back to F bins
    Ŝ        softplus(conv → 1 channel)            (``estimate: mask``: sigmoid(·) ⊙ X)

The code is ``latent_dim`` channels over F / 2^n bins per frame (``frequency_stride: 1`` keeps
all bins). Layer sizes are ours ([118] gives none we could use); small channel counts keep it
cheap on the CPU. Trained on segments of ``segment_frames`` frames (zero padding at their
edges); no penalties. Its receptive field is the stack's exact ``time_field``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from vaesep.config import require
from vaesep.models.base import GradientModel, Penalties
from vaesep.models.layers import ACTIVATIONS, NetworkConfig, output_layer, spectrum_estimate


@dataclass
class CDAEConfig(NetworkConfig):
    """``model`` section of ``cdae``."""

    type: str = "cdae"
    # Channels of the encoder's convs before the code, the code's (latent_dim), and those of
    # the decoder's transposed convs (one per encoder conv, including the code's).
    encoder_layers: list[int] = field(default_factory=lambda: [16])
    latent_dim: int = 32
    decoder_layers: list[int] = field(default_factory=lambda: [16, 8])
    # Kernel (time, frequency) of every layer, both odd ('same' padding).
    kernel: list[int] = field(default_factory=lambda: [3, 3])
    # The encoder's stride in frequency, undone by the decoder (1: no downsampling).
    frequency_stride: int = 2
    # Frames per training segment (overrides the base property).
    segment_frames: int = 32

    @property
    def layers(self) -> int:
        """Convolutions in the stack, the output layer included."""
        return len(self.encoder_layers) + 1 + len(self.decoder_layers) + 1

    @property
    def time_field(self) -> int:
        """Frames on each side an output frame depends on."""
        return self.layers * (self.kernel[0] // 2)

    def validate(self) -> None:
        super().validate()
        require(
            len(self.kernel) == 2 and all(k >= 1 and k % 2 == 1 for k in self.kernel),
            "model.kernel",
            "must be [time, frequency], two odd sizes like [3, 3]",
        )
        require(
            len(self.decoder_layers) == len(self.encoder_layers) + 1,
            "model.decoder_layers",
            f"must have one layer per encoder conv ({len(self.encoder_layers) + 1}: "
            "model.encoder_layers and the code's)",
        )
        require(self.frequency_stride in (1, 2), "model.frequency_stride", "must be 1 or 2")
        require(self.segment_frames >= 1, "model.segment_frames", "must be positive")


class CDAE(GradientModel):
    """One source's convolutional denoising autoencoder (see the module docstring)."""

    receptive_field = 5  # the default stack's time_field; set per instance

    def __init__(self, input_dim: int, output_dim: int, config: CDAEConfig):
        super().__init__()
        self.config = config
        self.receptive_field = config.time_field
        self.bins = output_dim
        self.in_channels = input_dim // output_dim  # 1 + 2 · features.context_frames
        if self.in_channels * output_dim != input_dim:
            raise ValueError(f"input size {input_dim} is not a multiple of {output_dim} bins")
        kt, kf = config.kernel
        pad, stride = (kt // 2, kf // 2), (1, config.frequency_stride)
        chans = [self.in_channels, *config.encoder_layers, config.latent_dim]
        self.encoder = nn.ModuleList(
            nn.Conv2d(a, b, (kt, kf), stride=stride, padding=pad) for a, b in zip(chans, chans[1:])
        )
        chans = [config.latent_dim, *config.decoder_layers]
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(a, b, (kt, kf), stride=stride, padding=pad)
            for a, b in zip(chans, chans[1:])
        )
        self.out = nn.Conv2d(chans[-1], 1, (kt, kf), padding=pad)
        self.act = ACTIVATIONS[config.activation]()
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.final = output_layer(config.estimate, config.output_activation)

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """The estimate ``(B, T, F)`` of inputs ``(B, T, D)``, any number of frames."""
        batch, frames, _ = x.shape
        h = x.reshape(batch, frames, self.in_channels, self.bins).transpose(1, 2)
        sizes = []
        for conv in self.encoder:
            sizes.append(h.shape[-2:])
            h = self.dropout(self.act(conv(h)))
        for deconv, size in zip(self.decoder, reversed(sizes)):
            h = self.dropout(self.act(deconv(h, output_size=size)))
        output = self.final(self.out(h))[:, 0]
        return spectrum_estimate(output, mixture, self.config.estimate)

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        """The estimate of a batch of segments; no penalties."""
        return self(x, mixture), {}
