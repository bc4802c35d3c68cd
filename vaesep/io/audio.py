"""Reading, writing and resampling audio (soundfile + soxr); mono float32 unless asked for
the channels (:func:`load_channels`, :func:`save_channels`).

Besides whole-file reads there is a block-wise path for long recordings: :func:`read_blocks`
and :class:`StreamResampler`, whose output equals :func:`resample` of the whole signal.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from vaesep.errors import VaesepError, log
from vaesep.io.atomic import WRITE_ERRORS, atomic_path, check_name, temp_beside, write_error
from vaesep.io.signals import uninterrupted

# What libsndfile reads: MP3 and Opus where this build of it has them.
_FORMATS = sf.available_formats()
AUDIO_EXTENSIONS = (
    (".wav", ".flac", ".ogg", ".sph", ".nist", ".aiff", ".aif")
    + ((".mp3",) if "MP3" in _FORMATS else ())
    + ((".opus",) if "OGG" in _FORMATS else ())
)
# Audio it cannot decode: named when a folder holds some, never skipped in silence.
FOREIGN_AUDIO = tuple(
    e
    for e in (".mp3", ".m4a", ".aac", ".mp4", ".wma", ".webm", ".opus")
    if e not in AUDIO_EXTENSIONS
)
_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError, ValueError)


def is_pipe(target: str | Path) -> bool:
    """Whether ``target`` is a Kaldi extended filename ``cmd |``: the audio is the output of
    the shell command before the ``|`` (e.g. ``sph2pipe -f wav X.WAV |``)."""
    return str(target).rstrip().endswith("|")


def _source(path: str | Path) -> str | io.BytesIO:
    """What soundfile opens: the file's name, or the output of a pipe's command."""
    if not is_pipe(path):
        if not Path(path).is_file():
            raise VaesepError(f"{path}: no such audio file; check the path")
        return str(path)
    command = str(path).rstrip()[:-1].strip()
    try:
        done = subprocess.run(command, shell=True, capture_output=True, check=False)
    except OSError as exc:
        raise VaesepError(f"{path}: cannot run the command ({exc}); fix the scp line") from None
    if done.returncode != 0 or not done.stdout:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        why = f"exit {done.returncode}" + (f": {said[-1]}" if said else ", no output")
        raise VaesepError(f"{path}: the command failed ({why}); fix the scp line or the tool")
    return io.BytesIO(done.stdout)


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information of an audio file (or a pipe's output), or a VaesepError naming it."""
    return _readable(path, _source(path))


def _readable(path: str | Path, source: str | io.BytesIO) -> sf._SoundFileInfo:
    """The header of an opened source (rewound after), or a VaesepError naming ``path``."""
    try:
        info = sf.info(source)
    except _DECODE_ERRORS as exc:
        raise VaesepError(
            f"{path}: not a readable audio file ({_reason(exc)}); use WAV, FLAC, OGG or NIST SPHERE"
        ) from None
    if isinstance(source, io.BytesIO):
        source.seek(0)
    return info


def _reason(exc: Exception) -> str:
    """libsndfile's complaint without the "Error opening '<path>': " prefix, on one line."""
    text = " ".join(str(exc).split())
    return text.split("': ", 1)[1] if text.startswith("Error opening '") else text


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32, resampled to ``sample_rate`` if given.

    Returns the samples and their rate. Multichannel files are downmixed (with a notice);
    empty files and files with NaN or infinite samples are errors.
    """
    data, rate = _read(path)
    _note_channels(path, data.shape[1])
    signal = data.mean(axis=1, dtype=np.float32)
    if sample_rate is not None and rate != sample_rate:
        signal = resample(signal, rate, sample_rate)
        rate = sample_rate
    return signal, rate


def load_channels(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as float32 ``(channels, samples)``, each channel resampled to
    ``sample_rate`` if given; the checks of :func:`load_audio`, no downmix."""
    data, rate = _read(path)
    signals = np.ascontiguousarray(data.T)
    if sample_rate is not None and rate != sample_rate:
        signals = np.stack([resample(channel, rate, sample_rate) for channel in signals])
        rate = sample_rate
    return signals, rate


def load_excerpt(path: str | Path, position: float, seconds: float) -> tuple[np.ndarray, int]:
    """``seconds`` of ``path`` as mono float32 at the file's own rate (the whole file when it
    is shorter), starting ``position`` (in [0, 1]) of the way along the starts that fit; only
    the excerpt is read (all of a pipe's output). The checks of :func:`load_audio`."""
    source = _source(path)
    info = _readable(path, source)
    rate = info.samplerate
    need = round(seconds * rate)
    start = int(position * max(info.frames - need, 0))
    data, rate = _read(path, source, start=start, frames=need)
    return data.mean(axis=1, dtype=np.float32), rate


def _read(
    path: str | Path, source: str | io.BytesIO | None = None, **where: int
) -> tuple[np.ndarray, int]:
    """The samples ``(samples, channels)`` and rate of a non-empty file of finite samples
    (``where``: soundfile's ``start`` and ``frames``, for a part of it)."""
    if source is None:
        source = _source(path)
        _readable(path, source)
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True, **where)
    except _DECODE_ERRORS as exc:
        raise VaesepError(
            f"{path}: cannot decode audio ({_reason(exc)}); re-encode it as WAV or FLAC"
        ) from None
    _check_samples(path, data)
    if data.shape[0] == 0:
        raise VaesepError(f"{path}: the file has no samples; remove it or record it again")
    return data, rate


def read_blocks(path: str | Path, block_frames: int) -> Iterator[np.ndarray]:
    """Yield ``path`` as mono float32 blocks of ``block_frames`` samples (the last shorter).

    Checks as :func:`load_audio` does, block by block; only one block is held in memory.
    """
    source = _source(path)
    _note_channels(path, _readable(path, source).channels)
    total = 0
    try:
        with sf.SoundFile(source) as f:
            while len(data := f.read(max(1, block_frames), dtype="float32", always_2d=True)):
                _check_samples(path, data)
                total += len(data)
                yield data.mean(axis=1, dtype=np.float32)
    except _DECODE_ERRORS as exc:
        raise VaesepError(
            f"{path}: cannot decode audio ({_reason(exc)}); re-encode it as WAV or FLAC"
        ) from None
    if total == 0:
        raise VaesepError(f"{path}: the file has no samples; remove it or record it again")


def _check_samples(path: str | Path, data: np.ndarray) -> None:
    if not np.isfinite(data).all():
        raise VaesepError(
            f"{path}: the file contains NaN or infinite samples; repair or re-export it"
        )


_NOTED_FOLDERS: set[Path] = set()  # folders whose multichannel files were noted already


def _note_channels(path: str | Path, channels: int) -> None:
    """A note on a downmix: once per folder (a data dir of room recordings has hundreds)."""
    folder = Path(str(path)).parent
    if channels > 1 and folder not in _NOTED_FOLDERS:
        _NOTED_FOLDERS.add(folder)
        log.info("%s: %d channels downmixed to mono (noted once per folder)", path, channels)


class StreamResampler:
    """Resample a mono signal block by block with soxr (high quality).

    Call it on each block and :meth:`flush` at the end; the concatenated output equals
    :func:`resample` of the whole signal, ``ceil(n · target / orig)`` samples long.
    """

    def __init__(self, orig_rate: int, target_rate: int):
        self.orig_rate, self.target_rate = orig_rate, target_rate
        self.samples_in = self.samples_out = 0
        self._stream = None
        if orig_rate != target_rate:
            import soxr

            self._stream = soxr.ResampleStream(
                orig_rate, target_rate, 1, dtype="float32", quality="HQ"
            )

    def __call__(self, block: np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(block, dtype=np.float32)
        self.samples_in += len(block)
        out = block if self._stream is None else self._stream.resample_chunk(block, last=False)
        self.samples_out += len(out)
        return out

    def flush(self) -> np.ndarray:
        """The remaining output, padded or cut so that the whole has the expected length."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        ratio = float(self.target_rate) / self.orig_rate
        tail = fit_length(tail, max(0, math.ceil(self.samples_in * ratio) - self.samples_out))
        self.samples_out += len(tail)
        return tail


def resample(signal: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a mono signal with soxr (high quality); a no-op when the rates agree."""
    if orig_rate == target_rate:
        return signal.astype(np.float32, copy=False)
    resampler = StreamResampler(orig_rate, target_rate)
    return np.concatenate([resampler(signal), resampler.flush()])


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad the last axis of ``signal`` to ``length`` samples."""
    if signal.shape[-1] >= length:
        return signal[..., :length]
    pad = [(0, 0)] * (signal.ndim - 1) + [(0, length - signal.shape[-1])]
    return np.pad(signal, pad)


def save_audio(
    path: str | Path, signal: np.ndarray, sample_rate: int, subtype: str = "FLOAT"
) -> None:
    """Write a mono signal whole or not at all; float WAV by default so that mixtures equal the
    sum of their parts."""
    path = Path(path)
    fmt = {".sph": "NIST", ".nist": "NIST", ".flac": "FLAC"}.get(path.suffix.lower(), "WAV")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(signal, dtype=np.float32), sample_rate, subtype, format=fmt)


def save_channels(path: str | Path, signals: np.ndarray, sample_rate: int) -> None:
    """Write ``(channels, samples)`` as one float WAV, whole or not at all."""
    with atomic_path(path) as tmp:
        signals = np.asarray(signals, dtype=np.float32).T
        sf.write(str(tmp), signals, sample_rate, subtype="FLOAT", format="WAV")


class AudioWriter:
    """A mono file written block by block into a temporary name beside its target; a failed
    write is one error naming the target. Integer samples clip at full scale (with a note)."""

    def __init__(self, path: Path, sample_rate: int, fmt: str, subtype: str):
        check_name(path)
        self.path, self.tmp = path, temp_beside(path)
        self._integer = subtype.startswith("PCM")
        self._clipped = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = sf.SoundFile(
                str(self.tmp), "w", samplerate=sample_rate, channels=1, subtype=subtype, format=fmt
            )
        except WRITE_ERRORS as exc:
            self.tmp.unlink(missing_ok=True)
            raise write_error(path, exc) from None

    def write(self, samples: np.ndarray) -> None:
        self._clipped = self._clipped or (self._integer and bool(np.any(np.abs(samples) > 1)))
        try:
            self._file.write(samples)
        except WRITE_ERRORS as exc:
            raise write_error(self.path, exc) from None

    def close(self) -> None:
        """Close the file (its last samples written)."""
        try:
            self._file.close()
        except WRITE_ERRORS as exc:
            raise write_error(self.path, exc) from None

    def commit(self) -> None:
        """Move the closed file to its target."""
        try:
            os.replace(self.tmp, self.path)
        except WRITE_ERRORS as exc:
            raise write_error(self.path, exc) from None
        if self._clipped:
            log.info("%s: samples beyond full scale were clipped", self.path)

    def discard(self) -> None:
        """Close the file and remove it."""
        try:
            self._file.close()
        except WRITE_ERRORS:
            pass
        self.tmp.unlink(missing_ok=True)


@contextmanager
def audio_writers(
    paths: dict[str, Path], sample_rate: int, fmt: str = "WAV", subtype: str = "FLOAT"
) -> Iterator[dict[str, AudioWriter]]:
    """Mono writers for ``paths`` (float WAV by default); each file appears only once all are
    complete, and none of them when the block raises or a write fails."""
    writers: dict[str, AudioWriter] = {}
    try:
        with uninterrupted():  # every temporary is known, to be removed, before a stop
            for key, path in paths.items():
                writers[key] = AudioWriter(path, sample_rate, fmt, subtype)
        yield writers
        for writer in writers.values():
            writer.close()
        with uninterrupted():  # all of them or none: a stop waits for the last rename
            for writer in writers.values():
                writer.commit()
    finally:
        for writer in writers.values():
            writer.discard()  # nothing left of a committed one


def is_audio_file(path: Path) -> bool:
    """Whether the name ends with an audio extension we read (any case)."""
    return path.suffix.lower() in AUDIO_EXTENSIONS
