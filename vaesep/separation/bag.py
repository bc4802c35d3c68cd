"""A bag of separators: several trained separators' estimates averaged, as demucs averages a bag
of models. Members may differ in network, STFT window, input level and frame grids; they share
the sample rate, the sources and the hop, so that chunked and streamed separation stay exact.

A bag dir holds ``bag.yaml``, read by :meth:`Bag.from_dir` (and so by ``--model``)::

    members:               # experiment or bundle dirs, relative to this file (or absolute)
      - path: ../rnn_mask
        weight: 1.0        # optional: how much the member counts (1 each by default)
      - path: ../rnn_mask_64ms
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from vaesep.errors import VaesepError
from vaesep.expdir import BAG_FILE, Experiment, is_bag
from vaesep.io.yamlfile import read_yaml
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
    def from_dir(
        cls, exp_dir: str | Path, device: str = "auto", overrides: list[str] | None = None, **kwargs
    ) -> Bag:
        """The bag a bag dir's ``bag.yaml`` describes, each member loaded as ``--model`` loads
        it (``device``, ``overrides``: separation settings such as
        ``features.shifts=4``, and ``kwargs``: chunking, ``precision``, ``backend``, go to
        every member)."""
        from vaesep.separation.loading import load_separator  # it loads bags through here

        if not is_bag(exp_dir):
            raise VaesepError(
                f"{exp_dir}: not a bag dir (no {BAG_FILE}); load one model with "
                "Separator.from_dir, or list members in a bag.yaml"
            )
        entries = read_bag(exp_dir)
        members = [
            load_separator(path, device, separating=True, overrides=overrides, **kwargs)
            for path, _ in entries
        ]
        return cls(members, [w for _, w in entries], name=Path(exp_dir).name)

    @classmethod
    def from_experiment(cls, experiment: Experiment, device: str = "auto", **kwargs) -> Separator:
        """Refused: an experiment is one model; a bag is built from several."""
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


def read_bag(bag_dir: str | Path) -> list[tuple[Path, float]]:
    """A bag dir's members (their dirs) and weights, from its ``bag.yaml``; every problem a
    one-line error naming the file and the entry."""
    file = Path(bag_dir) / BAG_FILE
    members = read_yaml(file).get("members")
    if not isinstance(members, list) or not members:
        raise VaesepError(
            f"{file}: members: list the member dirs, e.g. 'members: [{{path: ../exp_a}}, "
            "{path: ../exp_b}]'"
        )
    entries = []
    for i, entry in enumerate(members):
        where = f"{file}: members[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise VaesepError(f"{where}: give 'path' (a model dir, relative to {BAG_FILE})")
        unknown = sorted(set(entry) - {"path", "weight"})
        if unknown:
            raise VaesepError(f"{where}: unknown key {unknown[0]}; a member has path and weight")
        path = file.parent / entry["path"]
        if not path.is_dir():
            raise VaesepError(f"{where}.path {entry['path']}: no such dir ({path}); fix the path")
        if is_bag(path):
            raise VaesepError(f"{where}.path {entry['path']}: a bag; list its members instead")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise VaesepError(f"{where}.weight {weight}: give a positive number")
        entries.append((path, float(weight)))
    return entries
