"""Reading, writing and resampling audio (soundfile + librosa/soxr); mono float32 throughout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from vaesep.errors import VaesepError, log

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".sph", ".nist", ".aiff", ".aif")


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information of an audio file, or a VaesepError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise VaesepError(f"{path}: no such audio file; check the path")
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise VaesepError(
            f"{path}: not a readable audio file ({exc}); use WAV, FLAC, OGG or NIST SPHERE"
        ) from None


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32, resampled to ``sample_rate`` if given.

    Returns the samples and their rate. Multichannel files are downmixed (with a notice);
    empty files and files with NaN or infinite samples are errors.
    """
    path = Path(path)
    audio_info(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise VaesepError(
            f"{path}: cannot decode audio ({exc}); re-encode it as WAV or FLAC"
        ) from None
    if data.shape[0] == 0:
        raise VaesepError(f"{path}: the file has no samples; remove it or record it again")
    if not np.isfinite(data).all():
        raise VaesepError(f"{path}: the file contains NaN or infinite samples; repair it")
    if data.shape[1] > 1:
        log.info("%s: %d channels downmixed to mono", path, data.shape[1])
    signal = data.mean(axis=1, dtype=np.float32)
    if sample_rate is not None and rate != sample_rate:
        signal = resample(signal, rate, sample_rate)
        rate = sample_rate
    return signal, rate


def resample(signal: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a mono signal with soxr (high quality); a no-op when the rates agree."""
    if orig_rate == target_rate:
        return signal.astype(np.float32, copy=False)
    import librosa

    out = librosa.resample(signal, orig_sr=orig_rate, target_sr=target_rate, res_type="soxr_hq")
    return out.astype(np.float32, copy=False)


def save_audio(
    path: str | Path, signal: np.ndarray, sample_rate: int, subtype: str = "FLOAT"
) -> None:
    """Write a mono signal; float WAV by default so that mixtures equal the sum of their parts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "NIST" if path.suffix.lower() in (".sph", ".nist") else None
    sf.write(
        str(path), np.asarray(signal, dtype=np.float32), sample_rate, subtype=subtype, format=fmt
    )


def is_audio_file(path: Path) -> bool:
    """Whether the name ends with an audio extension we read (any case)."""
    return path.suffix.lower() in AUDIO_EXTENSIONS
