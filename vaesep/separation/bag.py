"""A bag of separators: several trained separators' estimates averaged, as demucs averages a bag
of models. Members may differ in network, STFT window, input level and frame grids; they share
the sample rate, the sources and the hop, so that chunked and streamed separation stay exact.

A bag dir holds ``bag.yaml`` (read by :func:`vaesep.expdir.read_bag`); ``--model``,
``load_separator`` and ``Separator.from_dir`` load it as a bag::

    members:               # experiment or bundle dirs, relative to this file (or absolute)
      - path: ../rnn_mask
        weight: 1.0        # optional: how much the member counts (1 each by default)
      - path: ../rnn_mask_64ms
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from vaesep.errors import VaesepError
from vaesep.expdir import read_bag
from vaesep.separation.chunking import ChunkedSeparator


class Bag(ChunkedSeparator):
    """The weighted mean of ``members``' estimates, block by block (``weights``: how much each
    member counts, equal by default). Where each member's estimates sum to the mixture (soft
    masks), so do the bag's. Separates as a :class:`Separator` does (``separate``,
    ``separate_file``, ``separate_batch``, ``separate_tensor``), long files chunk by chunk.
    """

    def __init__(
        self,
        members: Sequence[ChunkedSeparator],
        weights: Sequence[float] | None = None,
        name: str = "bag",
    ):
        super().__init__()
        members = list(members)
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        _check(members, weights)
        first = members[0]
        self.members = torch.nn.ModuleList(members)
        self.weights = [w / sum(weights) for w in weights]
        self.name = name
        # Chunking and streaming read these: the members share the rate and the hop.
        self.stft = first.stft
        self.chunk_seconds, self.crossfade_seconds = first.chunk_seconds, first.crossfade_seconds
        self.eval()

    @property
    def sources(self) -> tuple[str, ...]:
        return self.members[0].sources

    @property
    def sample_rate(self) -> int:
        return self.members[0].sample_rate

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    @property
    def receptive_field(self) -> int | None:
        """The widest member's frames on each side (None: some member's is unbounded)."""
        fields = [m.receptive_field for m in self.members]
        return None if None in fields else max(fields)

    @torch.no_grad()
    def _separate_block(self, signal: torch.Tensor) -> torch.Tensor:
        """(sources, samples): the weighted mean of the members' estimates of one block."""
        parts = [w * m._separate_block(signal) for w, m in zip(self.weights, self.members)]
        return torch.stack(parts).sum(0)

    def _chunking(self) -> tuple[int, int]:
        """As :meth:`ChunkedSeparator._chunking`; for finite receptive fields, the widest margin
        any member needs."""
        chunk, margin = super()._chunking()
        if self.receptive_field is None:
            return chunk, margin  # the cross-fade between chunks
        return chunk, max(m._chunking()[1] for m in self.members)


def bag_from_dir(bag_dir: str | Path, load_member: Callable[[Path], ChunkedSeparator]) -> Bag:
    """The bag a bag dir's ``bag.yaml`` describes, each member dir loaded by ``load_member``."""
    entries = read_bag(bag_dir)
    members = [load_member(path) for path, _ in entries]
    return Bag(members, [w for _, w in entries], name=Path(bag_dir).name)


def _check(members: list[ChunkedSeparator], weights: list[float]) -> None:
    """One-line errors for members that cannot be averaged, or weights that do not fit them."""
    if not members:
        raise VaesepError("Bag: give at least one member separator")
    if len(weights) != len(members) or any(not w > 0 for w in weights):
        raise VaesepError(
            f"Bag: weights {weights}: give one positive weight per member ({len(members)})"
        )
    first = members[0]
    for m in members:
        if not isinstance(m, ChunkedSeparator):
            raise VaesepError(
                f"Bag: {type(m).__name__} does not separate mono audio; a bag averages such "
                "separators' estimates"
            )
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
