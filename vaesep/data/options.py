"""The ``data`` config section: how training reads its examples from a data dir."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vaesep.data.datadir import DEFAULT_SOURCES, check_source_names
from vaesep.errors import VaesepError

LOADINGS = ("memory", "stream", "pools")
MIN_RT60, MAX_RT60 = 0.15, 1.0  # seconds: shorter needs walls absorbing more than all of
# vaesep.data.rooms' largest room; longer rooms take seconds each to simulate


@dataclass
class DataConfig:
    """``data``: in memory (the study's way), streamed from disk, or mixed anew from pools."""

    # memory: every utterance's STFT in memory before training (the study's way; every
    # published number). stream: the data dir's mixtures read from disk a group at a time by
    # worker processes as training needs them, so memory is bounded by the group and the
    # prefetch, never by the corpus. pools: no fixed mixtures: every example a fresh random
    # female + male pair of crops of the data dir's sources (female.scp/male.scp of a pool
    # dir, or spk1.scp/spk2.scp of a mixture dir), at a random level ratio
    # (training.mixing_gain_db) and speed (data.speeds); validation a fixed seeded set of
    # pairs of held-out speakers (pool dirs) or utterances (mixture dirs).
    loading: Literal["memory", "stream", "pools"] = "memory"
    # The sources' names in the data dirs' spk1.scp, spk2.scp order (their ``sources`` file;
    # female, male without one), e.g. [speech, background]. Empty: the training dir's. The
    # trained experiment records them; its outputs, checkpoints and reports carry them.
    sources: list[str] = field(default_factory=list)
    # Processes reading and featurizing ahead of each model (0: in its training process; on a
    # CPU whose cores the sources' processes already fill that is faster; with a GPU or cores
    # to spare, 2-4 keep the model fed).
    workers: int = 0
    # Utterances (stream) or pairs (pools) read together: the window examples are shuffled in.
    group: int = 32
    # pools: pairs per epoch (validation: training.validation_fraction of this many, fixed).
    pairs: int = 2000
    # pools: seconds of each source's crop (a shorter utterance is used whole).
    crop_seconds: float = 4.0
    # pools: how each source's utterance of a pair is drawn: uniformly over the utterances
    # (utterance), or over the speakers, then one of theirs (speaker: a speaker with many
    # utterances, or a corpus of many, does not dominate). A merged pool dir with weights
    # (vaesep prepare pool-merge --weights) first draws a part (corpus) by its weight.
    draw: Literal["utterance", "speaker"] = "utterance"
    # pools: whose voices a pair mixes: a female and a male speaker (opposite: the sources
    # are female, male), or any two distinct speakers, each of either gender drawn in turn
    # (any: F+F, M+M and F+M alike; for speaker-independent models,
    # training.permutation_invariant).
    genders: Literal["opposite", "any"] = "opposite"
    # pools: which voice of a pair is the first source: as drawn (the female one with genders:
    # opposite), or the one of higher median pitch over its crop (pitch: librosa's YIN), so
    # that with genders: any the outputs are the higher and the lower voice, a fixed order
    # learned without a permutation search.
    order: Literal["drawn", "pitch"] = "drawn"
    # pools: speed factors (sox speed: tempo and pitch), one drawn per source and pair.
    speeds: list[float] = field(default_factory=lambda: [1.0])
    # pools: share of pairs played in a simulated room (0: none, 1: all), of RT60 within rt60
    # seconds; each voice's reverberant image becomes its target (vaesep.training.acoustics).
    reverb: float = 0.0
    rt60: list[float] = field(default_factory=lambda: [0.2, 0.6])
    # pools: share of pairs with white, pink or brown noise added to the mixture (the targets
    # stay clean), at a mixture-to-noise ratio drawn within noise_snr dB.
    noise: float = 0.0
    noise_snr: list[float] = field(default_factory=lambda: [20.0, 40.0])
    # stream, pools: mixtures (utterances or pairs) the input normalization is estimated on.
    stats_examples: int = 1000
    # stream: MB of read utterances (their STFTs) each training process keeps for the next
    # epochs (0: none). A study-sized set fits whole and then trains at in-memory speed; a
    # corpus fills it and streams the rest. Counted in peak memory.
    cache_mb: int = 0

    def validate(self) -> None:
        checks = {
            "workers": (self.workers >= 0, "must be 0 (read in the training process) or more"),
            "group": (self.group >= 1, "must be at least 1"),
            "pairs": (self.pairs >= 1, "must be at least 1"),
            "crop_seconds": (self.crop_seconds > 0, "must be positive"),
            "stats_examples": (self.stats_examples >= 1, "must be at least 1"),
            "cache_mb": (self.cache_mb >= 0, "must be 0 (no cache) or more"),
            "speeds": (
                bool(self.speeds) and all(0.5 <= s <= 2.0 for s in self.speeds),
                "must be a non-empty list of factors in [0.5, 2], e.g. [0.9, 1.0, 1.1]",
            ),
            "reverb": (0 <= self.reverb <= 1, "must be a share of pairs in [0, 1]"),
            "rt60": (
                len(self.rt60) == 2 and MIN_RT60 <= self.rt60[0] <= self.rt60[1] <= MAX_RT60,
                f"must be [LOW, HIGH] seconds with {MIN_RT60} <= LOW <= HIGH <= {MAX_RT60}",
            ),
            "noise": (0 <= self.noise <= 1, "must be a share of pairs in [0, 1]"),
            "noise_snr": (
                len(self.noise_snr) == 2 and self.noise_snr[0] <= self.noise_snr[1],
                "must be [LOW, HIGH] dB with LOW <= HIGH, e.g. [20, 40]",
            ),
        }
        pools_only = {"genders": "opposite", "order": "drawn", "reverb": 0, "noise": 0}
        for key, off in pools_only.items():
            if self.loading != "pools" and getattr(self, key) != off:  # pools-only settings
                checks[key] = (
                    False,
                    f"{getattr(self, key)} draws pairs from speaker pools; data.loading: "
                    f"{self.loading} reads fixed mixtures: set data.loading: pools or "
                    f"data.{key}: {off}",
                )
        for key, (ok, message) in checks.items():
            if not ok:
                raise VaesepError(f"data.{key}: {message}")
        if self.sources:
            check_source_names(self.sources, "data.sources")

    @property
    def names(self) -> tuple[str, ...]:
        """The sources' names: ``sources``, else female, male."""
        return tuple(self.sources) or DEFAULT_SOURCES

    @property
    def streams(self) -> bool:
        """Whether training reads its examples as it goes (stream or pools)."""
        return self.loading != "memory"
