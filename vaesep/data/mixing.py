"""How one mixture is made: the options, and the signal work on one female + male pair.

Each mixture is one female and one male utterance (optionally cropped), cut or padded to a
common length, normalized to equal level, set to the requested female-to-male ratio and
scaled down together if needed, so that the mixture is exactly the sum of its references.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaesep.data.corpora import SPLITS, Utterance
from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio, save_audio

TARGET_RMS = 0.05  # level of each source at 0 dB, before the ratio is applied
TARGET_PEAK = 0.5
PEAK_LIMIT = 0.99
_CROP_TRIES = 8  # redraw a crop this often when it is mostly silence


@dataclass
class MixOptions:
    """How mixtures are made; the defaults reproduce the study (80 + 10 mixtures at 0 dB)."""

    num_train: int = 80
    num_test: int = 10
    seed: int = 0
    snr_db: float = 0.0  # female-to-male level ratio in dB
    snr_range: tuple[float, float] | None = None  # draw the ratio uniformly from this range
    level: str = "rms"  # "rms" or "peak": what is made equal before the ratio is applied
    length: str = "min"  # "min": cut to the shorter source; "max": zero-pad the shorter one
    crop: tuple[float, float] | None = None  # crop each utterance to a random segment (seconds)
    sample_rate: int = 16000
    split: str = "corpus"  # "corpus": the corpus's train/test split when it has one; "random"
    allow_speaker_overlap: bool = False  # random split by utterance, not by speaker
    max_uses: int | None = None  # most mixtures one utterance may appear in (None: no limit)
    force: bool = False

    def validate(self) -> None:
        """Raise VaesepError naming the first bad option."""
        if self.num_train < 0 or self.num_test < 0 or self.num_train + self.num_test == 0:
            raise VaesepError("--num-train and --num-test must be >= 0 and not both 0")
        if self.level not in ("rms", "peak"):
            raise VaesepError(f"--level {self.level!r}: use rms or peak")
        if self.length not in ("min", "max"):
            raise VaesepError(f"--length {self.length!r}: use min or max")
        if self.split not in ("corpus", "random"):
            raise VaesepError(f"--split {self.split!r}: use corpus or random")
        if self.snr_range is not None and self.snr_range[0] > self.snr_range[1]:
            raise VaesepError(f"--snr-range {self.snr_range}: LOW must not exceed HIGH")
        if self.crop is not None and not 0 < self.crop[0] <= self.crop[1]:
            raise VaesepError(f"--crop {self.crop}: use MIN-MAX seconds with 0 < MIN <= MAX")
        if self.sample_rate < 1000:
            raise VaesepError(f"--sample-rate {self.sample_rate}: use a rate such as 16000")
        if self.max_uses is not None and self.max_uses < 1:
            raise VaesepError(f"--max-uses {self.max_uses}: use 1 or more")


@dataclass(frozen=True)
class MixturePlan:
    """One mixture to make: mixture ``index`` of ``split``, from these two utterances."""

    split: str
    index: int
    female: Utterance
    male: Utterance

    @property
    def utt_id(self) -> str:
        return f"{self.female.utt_id}__{self.male.utt_id}"


def parse_crop(text: str) -> tuple[float, float] | None:
    """``"2-4"`` → (2.0, 4.0), ``"3"`` → (3.0, 3.0), ``"off"``/``"none"`` → None."""
    text = text.strip().lower()
    if text in ("off", "none", "no", ""):
        return None
    low, _, high = text.partition("-")
    try:
        crop = (float(low), float(high or low))
    except ValueError:
        raise VaesepError(f"--crop {text!r}: use MIN-MAX seconds such as 2-4, or off") from None
    if not 0 < crop[0] <= crop[1]:
        raise VaesepError(f"--crop {text!r}: use MIN-MAX seconds with 0 < MIN <= MAX")
    return crop


def make_mixture(plan: MixturePlan, out_dir: Path, options: MixOptions) -> dict:
    """Build and write one mixture and its two references; return its mixtures.csv row."""
    sr = options.sample_rate
    rng = np.random.default_rng([options.seed, 3, SPLITS.index(plan.split), plan.index])
    female, f_start = _crop(load_audio(plan.female.path, sr)[0], options.crop, sr, rng)
    male, m_start = _crop(load_audio(plan.male.path, sr)[0], options.crop, sr, rng)
    female, male = _common_length(female, male, options.length)
    snr = float(rng.uniform(*options.snr_range)) if options.snr_range else options.snr_db
    female, male = _set_levels(female, male, snr, options.level)
    peak = max(np.abs(female).max(), np.abs(male).max(), np.abs(female + male).max())
    gain = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
    female = (female * gain).astype(np.float32)
    male = (male * gain).astype(np.float32)
    stem = out_dir / "wav" / plan.split / plan.utt_id
    paths = {k: stem.parent / f"{stem.name}_{k}.wav" for k in ("mix", "female", "male")}
    save_audio(paths["mix"], female + male, sr)
    save_audio(paths["female"], female, sr)
    save_audio(paths["male"], male, sr)
    return {
        "utt_id": plan.utt_id,
        "female_path": str(plan.female.path),
        "female_start_s": round(f_start / sr, 4),
        "male_path": str(plan.male.path),
        "male_start_s": round(m_start / sr, 4),
        "seconds": round(len(female) / sr, 4),
        "snr_db": round(snr, 3),
        "gain": round(float(gain), 4),
        **{f"{k}_wav": str(v.resolve()) for k, v in paths.items()},
    }


def _crop(
    signal: np.ndarray, crop: tuple[float, float] | None, sr: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """A random segment of ``crop`` seconds (redrawn while mostly silent) and its start."""
    if crop is None:
        return signal, 0
    length = int(round(rng.uniform(*crop) * sr))
    if len(signal) <= length:
        return signal, 0
    full = rms(signal)
    best = (-1.0, 0)
    for _ in range(_CROP_TRIES):
        start = int(rng.integers(0, len(signal) - length + 1))
        level = rms(signal[start : start + length])
        best = max(best, (level, start))
        if level >= 0.25 * full:
            break
    return signal[best[1] : best[1] + length], best[1]


def _common_length(a: np.ndarray, b: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    if mode == "min":
        n = min(len(a), len(b))
        return a[:n], b[:n]
    n = max(len(a), len(b))
    return np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))


def _set_levels(
    female: np.ndarray, male: np.ndarray, snr_db: float, level: str
) -> tuple[np.ndarray, np.ndarray]:
    """Equal level (RMS or peak), then the female-to-male ratio split evenly between both."""
    measure, target = (rms, TARGET_RMS) if level == "rms" else (_peak, TARGET_PEAK)
    half = 10 ** (snr_db / 40)
    return (
        female * (target * half / max(measure(female), 1e-9)),
        male * (target / half / max(measure(male), 1e-9)),
    )


def rms(x: np.ndarray) -> float:
    """Root mean square in float64 (0 for an empty signal)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _peak(x: np.ndarray) -> float:
    return float(np.abs(x).max()) if len(x) else 0.0
