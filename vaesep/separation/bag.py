"""A bag of separators: several trained separators' estimates averaged, as demucs averages a bag
of models. Members may differ in network, STFT window, input level and frame grids; they share
the sample rate, the sources and the hop, so that chunked and streamed separation stay exact."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vaesep.errors import VaesepError
from vaesep.expdir import Experiment
from vaesep.separation.separator import Separator


class Bag(Separator):
    """The weighted mean of ``members``' estimates, block by block (``weights``: how much each
    member counts, equal by default). Where each member's estimates sum to the mixture (soft
    masks), so do the bag's. Separates as any :class:`Separator` does (``separate``,
    ``separate_file``, ``separate_batch``, ``separate_tensor``), long files chunk by chunk.
    """

    def __init__(
        self,
        members: Sequence[Separator],
        weights: Sequence[float] | None = None,
        name: str = "bag",
    ):
        torch.nn.Module.__init__(self)
        members = list(members)
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        _check(members, weights)
        first = members[0]
        self.members = torch.nn.ModuleList(members)
        self.weights = [w / sum(weights) for w in weights]
        self.name = name
        # Chunking and streaming (Separator's) read these: the members share rate and hop.
        self.config, self.stft = first.config, first.stft
        self.chunk_seconds, self.crossfade_seconds = first.chunk_seconds, first.crossfade_seconds
        self.precision, self.backend = first.precision, first.backend
        self.eval()

    @classmethod
    def from_experiment(cls, experiment: Experiment, device: str = "auto", **kwargs) -> Separator:
        """Refused: ``from_dir`` and ``pretrained`` load one model; a bag is built from them."""
        raise VaesepError(
            f"Bag: {experiment.path} is one model; build a bag from separators, e.g. "
            "Bag([Separator.pretrained('rnn_mask'), Separator.from_dir(EXP_DIR)])"
        )

    @property
    def sources(self) -> tuple[str, ...]:
        return self.members[0].sources

    @property
    def permute(self) -> bool:
        return False  # _check refuses permutation-invariant members

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    @property
    def receptive_field(self) -> int | None:
        """The widest member's frames on each side (None: some member's is unbounded)."""
        fields = [m.receptive_field for m in self.members]
        return None if None in fields else max(fields)

    def estimate_spectrograms(self, mixture_spec: torch.Tensor) -> dict[str, torch.Tensor]:
        raise VaesepError(
            f"{self.name}: a bag's members may use different STFTs, so it has no spectrogram "
            "estimates of its own; ask a member (bag.members[i])"
        )

    @torch.no_grad()
    def _separate_block(self, signal: torch.Tensor) -> torch.Tensor:
        """(sources, samples): the weighted mean of the members' estimates of one block."""
        parts = [w * m._separate_block(signal) for w, m in zip(self.weights, self.members)]
        return torch.stack(parts).sum(0)

    def _chunking(self) -> tuple[int, int]:
        """As :meth:`Separator._chunking`; for finite receptive fields, the widest margin any
        member needs."""
        chunk, margin = super()._chunking()
        if self.receptive_field is None:
            return chunk, margin  # the cross-fade between chunks
        return chunk, max(m._chunking()[1] for m in self.members)


def _check(members: list[Separator], weights: list[float]) -> None:
    """One-line errors for members that cannot be averaged, or weights that do not fit them."""
    if not members:
        raise VaesepError("Bag: give at least one member separator")
    if len(weights) != len(members) or any(not w > 0 for w in weights):
        raise VaesepError(
            f"Bag: weights {weights}: give one positive weight per member ({len(members)})"
        )
    first = members[0]
    for m in members:
        if not isinstance(m, Separator):
            raise VaesepError(f"Bag: {type(m).__name__} is not a Separator; a bag averages masks")
        if m.permute:
            raise VaesepError(
                f"Bag: {m.name} is permutation-invariant: its outputs have no fixed order to "
                "average; use members trained with named sources"
            )
        for what, mine, theirs in (
            ("sources", m.sources, first.sources),
            ("sample rate", m.sample_rate, first.sample_rate),
            ("hop (samples)", m.stft.hop_length, first.stft.hop_length),
        ):
            if mine != theirs:
                raise VaesepError(
                    f"Bag: {m.name} has {what} {mine}, {first.name} {theirs}; members must "
                    "share the sources, the sample rate and the hop"
                )
