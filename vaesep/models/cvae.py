"""The conditional VAE of MVAE and FastMVAE (Kameoka et al. [119]/[120], Li et al. [123]).

Each source's complex STFT is modelled as ``y_n(f, t) ~ N_C(0, g_n · σ²(f, t; z_n, c_n))``: a
gain ``g_n`` (the level) times the variance the decoder of one conditional VAE gives for a
code ``z_n`` ``(T, Z)`` and a class label ``c_n`` ``(K,)`` (here the sources female/male,
their index among the sources; probabilities at separation). One network serves every source.

**Inputs.** A power spectrogram ``p`` ``(B, T, F)`` is scaled per item to mean 1 over
``(T, F)``: ``p̃ = p / max(mean p, MEAN_FLOOR)``; the encoder and the classifier read
``log(p̃ + LOG_FLOOR)`` (:meth:`CVAE.normalize`; the floors keep silence finite). The decoder's
``log σ²`` is in that unit-mean scale, so the gain absorbs the level.

**Network** (1-D convs over frames, the F bins as channels, kernel k odd, 'same' padding,
stride 1, so any T ≥ 1 and outputs as long as inputs; ``GLU(BN(conv → 2H))`` is a gated layer,
its batch norm as in the published MVAE networks: without it Adam at 1e-3 diverged in a few
epochs; the label tiled over the frames is concatenated to the input of every encoder/decoder
layer). Training mode needs more than one frame per batch (batch norm); eval mode any::

    encoder   [log p̃ ; c] → GLU → H, ``layers`` times, conv → 2Z: (μ, log σ_q²)
    decoder   [z ; c] → GLU → H, ``layers`` times, conv → F: log σ², clamped to LOG_RANGE
    classifier log p̃ → GLU → H, ``layers`` times, conv → K, mean over frames: logits

**Loss** (per item, averaged over the batch), the complex-Gaussian NLL (Itakura–Saito up to a
constant) per bin, the KL per bin and the auxiliary classifier's cross-entropy (ACVAE,
used by FastMVAE [123] to infer the label in one pass)::

    L = mean_{t,f} [log σ² + (p̃ + ε) / σ²] + β · mean_t Σ_z KL(q(z_t | p, c) ‖ N(0, I)) / F
        + classifier_weight · CE(classify(p), c)

with ``z = μ + σ_q ε_z`` in training mode and ``z = μ`` in eval mode; ``ε = LOG_FLOOR`` puts
the NLL's optimum of a digitally silent bin (``σ² = ε``) inside LOG_RANGE, so silence does not
push the decoder against the clamp, where its gradient vanishes. Ours: H = 128, two gated
layers, k = 5, Z = 16, K = 2; 2.2M weights at 513 bins (1.4M at 257), most in the F-channel
convs. :meth:`CVAE.forward` refuses: the model has no mono estimate; separate with the
demixing algorithm (:mod:`vaesep.separation.mvae`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaesep.config import ModelSection, require
from vaesep.errors import VaesepError
from vaesep.models.base import GradientModel
from vaesep.models.vae import gaussian_kl

MEAN_FLOOR = 1e-8  # floor of an item's mean power (absolute): all-silent items stay finite
LOG_FLOOR = 1e-5  # added to the unit-mean power before the log (50 dB below the mean)
LOG_RANGE = (-16.0, 12.0)  # log σ² is clamped to this range (unit-mean scale)
TYPES = ("mvae", "fast_mvae")


@dataclass
class CVAEConfig(ModelSection):
    """``model`` section of ``mvae`` and ``fast_mvae``."""

    type: str = "mvae"
    hidden: int = 128  # channels of the gated 1-D convs
    layers: int = 2  # gated convs of the encoder (the decoder and classifier mirror it)
    kernel: int = 5  # over frames, odd ('same' padding)
    latent_dim: int = 16
    beta: float = 1.0  # KL weight
    classifier_weight: float = 1.0  # auxiliary classifier's cross-entropy weight
    segment_frames: int = 64  # frames per training segment (overrides the base property)
    # Separation (vaesep.separation.mvae): ILRMA initialization, outer MVAE iterations, and per
    # outer iteration Adam steps on (z, c) with this learning rate (mvae only); output
    # reference mic.
    ilrma_iterations: int = 30
    iterations: int = 40
    latent_steps: int = 10
    latent_lr: float = 0.01
    reference_mic: int = 0

    def validate(self) -> None:
        require(self.type in TYPES, "model.type", f"must be one of {', '.join(TYPES)}")
        for key in ("hidden", "layers", "latent_dim", "segment_frames", "iterations"):
            require(getattr(self, key) >= 1, f"model.{key}", "must be at least 1")
        require(self.kernel >= 1 and self.kernel % 2 == 1, "model.kernel", "must be odd, like 5")
        require(self.beta >= 0, "model.beta", "must be zero or positive")
        require(self.classifier_weight >= 0, "model.classifier_weight", "must be zero or positive")
        require(
            self.type != "fast_mvae" or self.classifier_weight > 0,
            "model.classifier_weight",
            "must be positive for fast_mvae (its classifier infers the labels)",
        )
        require(self.ilrma_iterations >= 0, "model.ilrma_iterations", "must be zero or positive")
        require(self.latent_steps >= 1, "model.latent_steps", "must be at least 1")
        require(self.latent_lr > 0, "model.latent_lr", "must be positive")
        require(self.reference_mic >= 0, "model.reference_mic", "must be zero or positive")


@dataclass(frozen=True)
class LabelledBatch:
    """Power spectrogram segments ``(N, T, F)`` and their class labels ``(N,)`` (long)."""

    power: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.power.shape[0]

    def select(self, index: torch.Tensor | slice) -> LabelledBatch:
        """The segments at ``index`` (a tensor of indices or a slice)."""
        return LabelledBatch(self.power[index], self.labels[index])


def unit_mean(power: torch.Tensor) -> torch.Tensor:
    """``power`` ``(B, T, F)`` divided by its mean over ``(T, F)`` per item (floored)."""
    return power / power.mean(dim=(1, 2), keepdim=True).clamp_min(MEAN_FLOOR)


class GatedConv(nn.Module):
    """conv(in + K → 2·out), batch norm and GLU over ``(B, channels, T)``; the label joins
    the input."""

    def __init__(self, channels: int, out: int, kernel: int, labels: int = 0):
        super().__init__()
        self.conv = nn.Conv1d(channels + labels, 2 * out, kernel, padding=kernel // 2)
        self.norm = nn.BatchNorm1d(2 * out)

    def forward(self, h: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return F.glu(self.norm(self.conv(_with_label(h, label))), dim=1)


def _with_label(h: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
    """``h`` ``(B, C, T)`` with ``label`` ``(B, K)`` tiled over the frames appended."""
    if label is None:
        return h
    return torch.cat([h, label.to(h.dtype)[:, :, None].expand(-1, -1, h.shape[-1])], dim=1)


class CVAE(GradientModel):
    """The shared conditional VAE of all sources (see the module docstring)."""

    num_classes = 2  # the two sources (vaesep.data.datadir.check_source_names)
    receptive_field = 12  # encoder then decoder: 2 (layers + 1) (kernel // 2); set per instance

    def __init__(self, input_dim: int, output_dim: int, config: CVAEConfig):
        super().__init__()
        self.config = config
        self.bins = output_dim  # input_dim (mixture features) is unused: it reads power
        h, k, z, n = config.hidden, config.kernel, config.latent_dim, self.num_classes
        self.receptive_field = 2 * (config.layers + 1) * (k // 2)

        def stack(first: int, labels: int) -> nn.ModuleList:
            sizes = [first] + [h] * config.layers
            return nn.ModuleList(GatedConv(a, h, k, labels) for a in sizes[:-1])

        self.encoder = stack(output_dim, n)
        self.encoder_out = nn.Conv1d(h + n, 2 * z, k, padding=k // 2)
        self.decoder = stack(z, n)
        self.decoder_out = nn.Conv1d(h + n, output_dim, k, padding=k // 2)
        self.classifier = stack(output_dim, 0)
        self.classifier_out = nn.Conv1d(h, n, k, padding=k // 2)

    @staticmethod
    def normalize(power: torch.Tensor) -> torch.Tensor:
        """``log(p / max(mean p, MEAN_FLOOR) + LOG_FLOOR)`` of power ``(B, T, F)``, the mean
        over ``(T, F)`` per item: the encoder's and classifier's input."""
        return torch.log(unit_mean(power) + LOG_FLOOR)

    def encode(self, power: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ_q²) ``(B, T, Z)`` of power ``(B, T, F)`` and labels ``(B, K)``."""
        h = self.normalize(power).transpose(1, 2)
        for layer in self.encoder:
            h = layer(h, label)
        mu, logvar = self.encoder_out(_with_label(h, label)).transpose(1, 2).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """log σ² ``(B, T, F)`` (unit-mean scale, clamped to LOG_RANGE) of codes ``(B, T, Z)``
        and labels ``(B, K)``."""
        h = z.transpose(1, 2)
        for layer in self.decoder:
            h = layer(h, label)
        return self.decoder_out(_with_label(h, label)).transpose(1, 2).clamp(*LOG_RANGE)

    def classify(self, power: torch.Tensor) -> torch.Tensor:
        """Utterance-level class logits ``(B, K)`` of power ``(B, T, F)``: the mean over frames
        of a frame-wise conv head."""
        h = self.normalize(power).transpose(1, 2)
        for layer in self.classifier:
            h = layer(h)
        return self.classifier_out(h).mean(dim=-1)

    def batch_loss(self, batch: LabelledBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """(loss, {loss, nll, kl, ce, accuracy}) of a batch (see the module docstring)."""
        power = unit_mean(batch.power)
        onehot = F.one_hot(batch.labels, self.num_classes).to(power.dtype)
        mu, logvar = self.encode(power, onehot)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if self.training else mu
        log_var = self.decode(z, onehot)
        nll = (log_var + (power + LOG_FLOOR) * torch.exp(-log_var)).mean()
        kl = gaussian_kl(mu, logvar).mean() / self.bins
        logits = self.classify(power)
        ce = F.cross_entropy(logits, batch.labels)
        c = self.config
        loss = nll + c.beta * kl + c.classifier_weight * ce
        accuracy = (logits.argmax(-1) == batch.labels).float().mean()
        return loss, {
            "loss": loss.item(),
            "nll": nll.item(),
            "kl": kl.item(),
            "ce": ce.item(),
            "accuracy": accuracy.item(),
        }

    def forward(self, x: torch.Tensor, mixture: torch.Tensor) -> torch.Tensor:
        raise VaesepError(
            f"model.type {self.config.type}: the model is multichannel and has no mono "
            "estimate; separate with the demixing algorithm (vaesep.separation.mvae)"
        )
