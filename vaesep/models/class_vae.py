"""A convolutional β-VAE of one class (source) over segments (Karamatlı et al. 2019, [117]).

With ``L = segment_frames`` and the mixture's normalized segment ``x`` ``(B, L, D)``::

    h   = act(BN(W x_t))                per frame: a conv spanning all bins → encoder_layers[0]
    h   = act(BN(conv_s2(h)))           one strided conv over time per further encoder layer
    μ, log σ² = Linear(flatten(h))      a latent_dim code per segment
    y   = act(BN(Linear(z)))            reshaped to (decoder_layers[0], L / 2^n), mirrored:
    y   = act(BN(convT_s2(y)))          one transposed conv per further decoder layer
    Ŝ_t = softplus(V y_t)               per frame (``estimate: mask``: sigmoid(V y_t) ⊙ X_t)

Training samples ``z = μ + σ ⊙ ε``, ``ε ~ N(0, epsilon_std² I)``, on one segment; the loss is
the reconstruction (Poisson by default, per frame) plus β · KL per segment / L, so β keeps the
paper's meaning (β = 10). Separation uses ``z = μ``.

**Whole recordings.** The flatten only takes ``L`` frames, so :meth:`ClassVAE.forward` slides
an ``L``-frame window with hop 1 over the recording, using only windows that lie inside it,
and averages, for every frame, the decoder's outputs of all windows containing it (overlap-add
normalized by the count). A frame depends only on frames within ``±(L − 1)`` of it, and in the
same way wherever it is at least ``L − 1`` frames from both ends, so chunked separation with
``receptive_field`` frames of context equals the whole one; frames near the ends average over
fewer windows (every window the network sees is real signal, no invented padding). A recording
shorter than ``L`` frames is padded to ``L`` by repeating its last frame (as the context stack
replicates edges) and the estimate cropped back. The receptive field is ``L − 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vaesep.config import require
from vaesep.models.base import GradientModel, Penalties
from vaesep.models.layers import ACTIVATIONS, NetworkConfig, output_layer, spectrum_estimate
from vaesep.models.vae import gaussian_kl

WINDOW_BATCH = 512  # windows through the network at once when sliding (bounds the memory)


@dataclass
class ClassVAEConfig(NetworkConfig):
    """``model`` section of ``class_vae``."""

    type: str = "class_vae"
    # Per-frame layer's width (a conv spanning all bins), then each strided conv's channels;
    # the decoder mirrors it: its first layer's channels at L / 2^n frames, ..., its last at L.
    encoder_layers: list[int] = field(default_factory=lambda: [256, 128, 64])
    decoder_layers: list[int] = field(default_factory=lambda: [64, 128, 256])
    latent_dim: int = 128
    # Time kernel of the strided (transposed) convs; stride 2, padding (kernel - 1) // 2.
    kernel_size: int = 4
    # Frames per segment, the unit the network encodes (overrides the base property).
    segment_frames: int = 32
    # z = mu + sigma * eps, eps ~ N(0, epsilon_std^2 I); loss = rec + beta * KL / L.
    epsilon_std: float = 1.0
    beta: float = 10.0
    reconstruction: Literal["mse", "l1", "poisson"] = "poisson"
    mask_power: float = 2.0

    @property
    def strided_layers(self) -> int:
        """Strided convs in the encoder (and transposed ones in the decoder)."""
        return len(self.encoder_layers) - 1

    def validate(self) -> None:
        super().validate()
        n = self.strided_layers
        require(n >= 0, "model.encoder_layers", "needs at least the per-frame layer")
        require(
            len(self.decoder_layers) == len(self.encoder_layers),
            "model.decoder_layers",
            f"must have as many layers as model.encoder_layers ({n + 1}); the decoder mirrors it",
        )
        require(self.kernel_size >= 2, "model.kernel_size", "must be at least 2")
        require(self.segment_frames >= 2, "model.segment_frames", "must be at least 2")
        require(
            self.segment_frames % 2 ** max(n, 0) == 0,
            "model.segment_frames",
            f"must be a multiple of 2^{n} (the encoder's {n} stride-2 convs)",
        )
        require(
            self.segment_frames // 2 ** max(n, 0) >= 2,
            "model.segment_frames",
            f"must leave at least 2 frames after the {n} stride-2 convs (batch norm)",
        )
        require(self.epsilon_std >= 0, "model.epsilon_std", "must be zero or positive")
        require(self.beta >= 0, "model.beta", "must be zero or positive")


def _block(layer: nn.Module, channels: int, config: ClassVAEConfig) -> list[nn.Module]:
    """``layer`` + BatchNorm + activation (+ dropout), on ``(N, channels, frames)``."""
    out = [layer, nn.BatchNorm1d(channels), ACTIVATIONS[config.activation]()]
    return out + ([nn.Dropout(config.dropout)] if config.dropout > 0 else [])


class ClassVAE(GradientModel):
    """One class's convolutional β-VAE (see the module docstring)."""

    receptive_field = 31  # segment_frames - 1; set per instance
    onnx_refusal = "its decoding loops over each recording's windows in Python, by its length"

    def __init__(self, input_dim: int, output_dim: int, config: ClassVAEConfig):
        super().__init__()
        self.config = config
        enc, dec, k = config.encoder_layers, config.decoder_layers, config.kernel_size
        self.frames, self.bins = config.segment_frames, output_dim
        self.receptive_field = config.segment_frames - 1
        self.bottleneck = self.frames // 2**config.strided_layers
        pad = (k - 1) // 2
        # The per-frame layer runs once over a whole recording before the windows are cut.
        self.frame_layer = nn.Sequential(*_block(nn.Conv1d(input_dim, enc[0], 1), enc[0], config))
        strided = [
            m
            for c_in, c_out in zip(enc[:-1], enc[1:])
            for m in _block(nn.Conv1d(c_in, c_out, k, stride=2, padding=pad), c_out, config)
        ]
        self.encoder = nn.Sequential(*strided, nn.Flatten())
        flat = enc[-1] * self.bottleneck
        self.mu = nn.Linear(flat, config.latent_dim)
        self.logvar = nn.Linear(flat, config.latent_dim)
        self.expand = nn.Sequential(
            nn.Linear(config.latent_dim, dec[0] * self.bottleneck),
            nn.Unflatten(1, (dec[0], self.bottleneck)),
            *_block(nn.Identity(), dec[0], config),
        )
        upsample = [
            m
            for c_in, c_out in zip(dec[:-1], dec[1:])
            for m in _block(
                nn.ConvTranspose1d(c_in, c_out, k, stride=2, padding=pad, output_padding=k % 2),
                c_out,
                config,
            )
        ]
        self.decoder = nn.Sequential(
            *upsample,
            nn.Conv1d(dec[-1], output_dim, 1),
            output_layer(config.estimate, config.output_activation),
        )

    def encode(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) ``(N, latent_dim)`` of per-frame features ``(N, C0, L)``."""
        flat = self.encoder(h)
        return self.mu(flat), self.logvar(flat)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output ``(N, F, L)`` (a spectrum, or a mask) of codes ``(N, latent)``."""
        return self.decoder(self.expand(z))

    def estimate_for_training(
        self, x: torch.Tensor, mixture: torch.Tensor
    ) -> tuple[torch.Tensor, Penalties]:
        """The estimate of a sampled code for segments of exactly ``segment_frames`` frames,
        and β · KL per segment / ``segment_frames``."""
        if x.shape[1] != self.frames:
            raise ValueError(
                f"class_vae trains on segments of {self.frames} frames, not {x.shape[1]}"
            )
        mu, logvar = self.encode(self.frame_layer(x.transpose(1, 2)))
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) * self.config.epsilon_std
        output = self.decode(z).transpose(1, 2)
        kl = gaussian_kl(mu, logvar).mean() / self.frames
        return spectrum_estimate(output, mixture, self.config.estimate), {
            "kl": (kl, self.config.beta)
        }

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        """Deterministic estimate ``(B, T, F)`` of any number of frames (z = μ), by sliding
        windows (see the module docstring)."""
        frames = x.shape[1]
        if frames < self.frames:  # repeat the last frame up to one segment, crop afterwards
            x = torch.cat([x, x[:, -1:].expand(-1, self.frames - frames, -1)], dim=1)
        output = self._slide(self.frame_layer(x.transpose(1, 2)))[..., :frames]
        return spectrum_estimate(output.transpose(1, 2), mixture, self.config.estimate)

    def _slide(self, h: torch.Tensor) -> torch.Tensor:
        """Mean decoder output ``(B, F, T)`` over the windows inside per-frame features
        ``(B, C0, T)`` that contain each frame."""
        batch, _, total = h.shape
        length = self.frames
        windows = total - length + 1
        step = max(1, WINDOW_BATCH // batch)
        out = h.new_zeros(batch, self.bins, total)
        for first in range(0, windows, step):
            n = min(step, windows - first)
            cut = h[:, :, first : first + n + length - 1].unfold(2, length, 1)  # (B, C0, n, L)
            cut = cut.permute(0, 2, 1, 3).reshape(batch * n, -1, length)
            decoded = self.decode(self.encode(cut)[0])  # (B·n, F, L)
            columns = decoded.reshape(batch, n, self.bins * length).transpose(1, 2)
            summed = F.fold(columns, (1, n + length - 1), (1, length))
            out[..., first : first + n + length - 1] += summed.reshape(batch, self.bins, -1)
        t = torch.arange(total, device=h.device)
        counts = t.clamp_max(windows - 1) - (t - length + 1).clamp_min(0) + 1
        return out / counts.to(out.dtype)
