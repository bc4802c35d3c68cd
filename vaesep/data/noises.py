"""Backgrounds for ``vaesep prepare background`` (:mod:`vaesep.data.background`).

Built-in kinds need no download: ``white`` (Gaussian white noise, as in Do et al. 2020),
``pink`` and ``brown`` (white noise shaped in the frequency domain to a power spectrum ∝ 1/f
and 1/f²: amplitude ∝ 1/√f and 1/f, no DC, flat below 20 Hz so that sub-audio drift does not
take the level), ``speech-shaped`` (white noise shaped by a long-term average spectrum,
Welch's estimate, :func:`welch_sum`) and ``babble`` (a sum of
talkers at equal level, :func:`babble`). Recordings come from a folder (searched recursively),
a text manifest (one path per line, relative to its folder) or one audio file; ``part`` keeps
80 % (``train``) or the other 20 % (``test``) of them by a hash of their path, so that the
train and test runs on one folder use disjoint files. A recording is downmixed, resampled to
the speech's rate (soxr) and cut to the speech's length at a random offset, or looped with a
short crossfade where it is shorter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaesep.data.mixing import rms
from vaesep.errors import VaesepError, log, optional
from vaesep.io.audio import (
    AUDIO_EXTENSIONS,
    FOREIGN_AUDIO,
    audio_info,
    fit_length,
    is_audio_file,
    load_excerpt,
    resample,
)

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ∝ 1/f^exponent
BUILTIN = (*COLOURS, "speech-shaped", "babble")
PARTS = ("all", "train", "test")
TRAIN_PERCENT = 80  # of a folder's files, by the hash of their path
LOWEST_HZ = 20.0  # coloured spectra are flat below this
WELCH_FRAME = 512  # samples per periodogram (half-overlapping Hann frames)
BABBLE_TALKERS = (4, 6)  # fewest and most talkers of one babble
MIN_SECONDS = 1.0  # shortest recording accepted
FADE_SECONDS = 0.05  # crossfade of a looped recording (at most a quarter of it)
_MARGIN_SECONDS = 0.01  # read beyond the speech's length: resampling may round it down


@dataclass(frozen=True)
class Recording:
    """A background recording: ``key`` is its path under the folder (in a manifest: as
    written), which ``--part`` hashes and the summary names."""

    path: Path
    key: str
    rate: int
    frames: int
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


@dataclass
class Noise:
    """One ``--noise`` value: a built-in kind, or ``recordings`` (of ``found`` files before
    the part was taken)."""

    spec: str
    kind: str
    recordings: list[Recording] = field(default_factory=list)
    found: int = 0


def find_noise(spec: str, part: str, rate: int) -> Noise:
    """The built-in kind or the recordings (of ``part``) that ``spec`` names; a note on those
    to be resampled to ``rate`` or downmixed."""
    if spec in BUILTIN:
        return Noise(spec, spec)
    path = Path(spec)
    if spec and path.is_dir():
        found = _folder(path)
    elif spec and path.is_file():
        found = [(path, path.name)] if is_audio_file(path) else _manifest(path)
    else:
        raise VaesepError(
            f"--noise {spec}: not a built-in kind ({', '.join(BUILTIN)}) nor an existing "
            "folder or manifest of recordings; fix the name or the path"
        )
    kept = [_recording(p, key) for p, key in found if in_part(key, part)]
    if not kept:
        raise VaesepError(
            f"--noise {spec}: none of its {len(found)} recording(s) falls in --part {part} "
            f"(about {100 - TRAIN_PERCENT} % do, by a hash of their path); add recordings or "
            "use --part all"
        )
    if others := [r for r in kept if r.rate != rate]:
        log.info("%s: %d recording(s) resampled to %d Hz (soxr)", spec, len(others), rate)
    if several := [r for r in kept if r.channels > 1]:
        log.info("%s: %d recording(s) of several channels downmixed to mono", spec, len(several))
    return Noise(spec, "recordings", kept, len(found))


def in_part(key: str, part: str) -> bool:
    """Whether the recording ``key`` belongs to ``part`` (``train``: 80 % by its hash)."""
    if part == "all":
        return True
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 100
    return (bucket < TRAIN_PERCENT) == (part == "train")


def _folder(folder: Path) -> list[tuple[Path, str]]:
    """The audio files under ``folder`` (any depth), sorted, with their relative paths."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and is_audio_file(p))
    foreign = [p for p in folder.rglob("*") if p.suffix.lower() in FOREIGN_AUDIO]
    if not files:
        also = f", but {len(foreign)} that libsndfile cannot read" if foreign else ""
        raise VaesepError(
            f"{folder}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder{also}; "
            "add recordings or convert them to WAV or FLAC"
        )
    if foreign:
        log.warning("%s: skipping %d file(s) libsndfile cannot read", folder, len(foreign))
    return [(p, p.relative_to(folder).as_posix()) for p in files]


def _manifest(path: Path) -> list[tuple[Path, str]]:
    """The recordings a manifest lists, one path per line (blank and ``#`` lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise VaesepError(
            f"{path}: neither audio nor a text manifest; list one recording path per line"
        ) from None
    found = []
    for lineno, line in enumerate(lines, start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        target = Path(name) if Path(name).is_absolute() else path.parent / name
        if not target.is_file():
            raise VaesepError(f"{path}:{lineno}: {target} does not exist; fix or drop the line")
        found.append((target, name))
    if not found:
        raise VaesepError(f"{path}: lists no recordings; write one audio file path per line")
    return found


def _recording(path: Path, key: str) -> Recording:
    """A readable recording of at least MIN_SECONDS, or a one-line error naming it."""
    info = audio_info(path)
    recording = Recording(path, key, info.samplerate, info.frames, info.channels)
    if recording.seconds < MIN_SECONDS:
        raise VaesepError(
            f"{path}: {recording.seconds:.2f} s, shorter than {MIN_SECONDS:g} s; drop it or "
            "use a longer recording"
        )
    return recording


def read_recording(
    recording: Recording, length: int, rate: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """``length`` samples of ``recording`` at ``rate`` from a random offset (looped where it is
    shorter); the offset in seconds."""
    need = length / rate + _MARGIN_SECONDS
    if recording.seconds > need:
        position = float(rng.uniform())
        signal, file_rate = load_excerpt(recording.path, position, need)
        start = int(position * max(recording.frames - round(need * file_rate), 0))
        return fit_length(resample(signal, file_rate, rate), length), start / file_rate
    signal, file_rate = load_excerpt(recording.path, 0.0, recording.seconds)
    signal = resample(signal, file_rate, rate)
    start = int(rng.integers(len(signal)))
    return loop(signal, length, start, rate), start / rate


def loop(signal: np.ndarray, length: int, start: int, rate: int) -> np.ndarray:
    """``length`` samples of ``signal`` repeated from ``start`` on, each seam an equal-power
    crossfade of FADE_SECONDS (at most a quarter of the signal)."""
    n = len(signal)
    if start + length <= n:
        return signal[start : start + length]
    fade = min(int(FADE_SECONDS * rate), n // 4)
    angle = (np.arange(fade) + 0.5) / max(fade, 1) * np.pi / 2
    seam = signal[n - fade :] * np.cos(angle) + signal[:fade] * np.sin(angle)
    pieces, total = [signal[: n - fade]], n - fade
    while total < start + length:
        pieces += [seam, signal[fade : n - fade]]
        total += n - fade
    return np.concatenate(pieces)[start : start + length]


def coloured(kind: str, length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of white, pink or brown noise (see the module's docstring)."""
    white = rng.standard_normal(length)
    if kind == "white":
        return white
    freqs = np.fft.rfftfreq(length, 1 / rate)
    gain = np.maximum(freqs, LOWEST_HZ) ** (-COLOURS[kind] / 2)
    gain[0] = 0.0
    return np.fft.irfft(np.fft.rfft(white) * gain, n=length)


def welch_sum(signal: np.ndarray) -> tuple[np.ndarray, int]:
    """Welch's power spectrum of ``signal`` (``scipy.signal.welch``: half-overlapping Hann
    frames of WELCH_FRAME samples, one zero-padded frame where it is shorter) times its frame
    count, and the count: sums of these over utterances average them by frames."""
    signal_module = optional("scipy.signal", "train", "--noise speech-shaped")
    x = np.asarray(signal, dtype=np.float64)
    x = np.pad(x, (0, max(WELCH_FRAME - len(x), 0)))
    hop = WELCH_FRAME // 2
    count = 1 + (len(x) - WELCH_FRAME) // hop
    _, psd = signal_module.welch(
        x, window="hann", nperseg=WELCH_FRAME, noverlap=WELCH_FRAME - hop, detrend=False
    )
    return psd * count, count


def shaped(psd: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of white noise shaped to the power spectrum ``psd`` (evenly spaced
    bins from 0 to half the rate, e.g. of :func:`welch_sum`)."""
    bins = np.linspace(0.0, 1.0, length // 2 + 1)
    gain = np.sqrt(np.interp(bins, np.linspace(0.0, 1.0, len(psd)), psd))
    return np.fft.irfft(np.fft.rfft(rng.standard_normal(length)) * gain, n=length)


def babble(
    talkers: list[np.ndarray], length: int, rate: int, rng: np.random.Generator
) -> np.ndarray:
    """The sum of ``talkers`` at equal RMS, each cut at a random offset or looped to
    ``length`` samples."""
    total = np.zeros(length)
    for signal in talkers:
        n = len(signal)
        start = int(rng.integers(n - length + 1 if n >= length else n))
        part = loop(signal, length, start, rate)
        total += part / max(rms(part), 1e-12)
    return total
