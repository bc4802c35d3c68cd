"""A small TIMIT-layout corpus synthesized with espeak-ng and flite (``vaesep synth-corpus``).

``OUT/{TRAIN,TEST}/DRn/<F|M>SYxn/{SXn,SIn}.WAV`` (NIST SPHERE, 16-bit, 16 kHz) with TIMIT
``.TXT`` transcripts beside them, and ``OUT/corpus.json`` describing the speakers. The same
seed gives the same files. About a quarter of each gender's speakers are test speakers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vaesep.data.corpora.sentences import SHARED, SINGLE
from vaesep.errors import VaesepError, log, optional
from vaesep.io.atomic import atomic_path, remove_if_empty, write_text_atomic
from vaesep.io.audio import load_audio
from vaesep.version import __version__

SAMPLE_RATE = 16000
TOOLS = ("espeak-ng", "flite")
# "en" is British English: espeak-ng 1.51 ignores variants given as "en-gb+f2".
ESPEAK_VOICES = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
ESPEAK_VARIANTS = {
    "F": ("f1", "f2", "f3", "f4", "f5"),
    "M": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
}
FLITE_VOICES = {"F": ("slt",), "M": ("kal16", "awb", "rms")}
# Pitch: espeak-ng's -p (0-99) or flite's int_f0_target_mean (Hz); rate: words per minute
# (espeak-ng's -s) or flite's duration_stretch (larger is slower).
PITCH = {"espeak-ng": {"F": (35, 70), "M": (30, 65)}, "flite": {"F": (165, 215), "M": (90, 135)}}
RATE = {"espeak-ng": (140, 185), "flite": (0.9, 1.15)}
TEST_SHARE = 0.25
TARGET_RMS = 0.05
MAX_PEAK = 0.95
TRIM_TOP_DB = 35  # silence = quieter than the loudest frame by this much
TRIM_MARGIN_S = 0.15  # silence kept at each end
_ID_LETTERS = "NOPQRSTUVWXYZABCDEFGHIJKLM"  # FSYN0..FSYN9, FSYO0 ...
_SPEAKER_DIR = re.compile(r"[FM]SY[A-Z]\d")


@dataclass(frozen=True)
class SynthSpeaker:
    """One synthetic speaker: a TTS engine, voice (and espeak-ng variant), pitch and rate."""

    speaker: str
    gender: str
    split: str
    dialect: str
    engine: str
    voice: str
    variant: str | None
    pitch: float
    rate: float


@dataclass(frozen=True)
class _Job:
    speaker: SynthSpeaker
    name: str  # SX12, SI503 ...
    text: str
    path: Path


def check_tools() -> dict[str, str]:
    """Versions of espeak-ng and flite, or a VaesepError saying how to install them."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise VaesepError(
            f"{' and '.join(missing)} not found; the built-in corpus needs them: "
            "sudo apt-get install espeak-ng flite"
        )
    versions = {}
    for tool in TOOLS:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
        found = re.search(r"(\d+\.\d+(?:\.\d+)?)", out)
        versions[tool] = found.group(1) if found else "unknown"
    return versions


def plan_speakers(speakers_per_gender: int, seed: int) -> list[SynthSpeaker]:
    """Distinct speakers per gender: every fourth uses flite, the others espeak-ng voices and
    variants in turn; pitch and rate spread evenly over their ranges in a seeded order."""
    rng = np.random.default_rng([seed, 0])
    speakers = []
    for gender in ("F", "M"):
        n = speakers_per_gender
        pitches, rates = (
            rng.permutation(np.linspace(0, 1, n)),
            rng.permutation(np.linspace(0, 1, n)),
        )
        voices = list(rng.permutation(ESPEAK_VOICES))
        variants = list(rng.permutation(ESPEAK_VARIANTS[gender]))
        flite = list(rng.permutation(FLITE_VOICES[gender]))
        test = set(rng.permutation(n)[: max(1, round(n * TEST_SHARE))].tolist())
        n_espeak = n_flite = 0
        for i in range(n):
            if i % 4 == 1:
                engine, voice, variant = "flite", flite[n_flite % len(flite)], None
                n_flite += 1
            else:
                engine, voice = "espeak-ng", voices[n_espeak % len(voices)]
                variant = variants[n_espeak % len(variants)]
                n_espeak += 1
            low, high = PITCH[engine][gender]
            slow, fast = RATE[engine]
            speakers.append(
                SynthSpeaker(
                    speaker=f"{gender}SY{_ID_LETTERS[i // 10]}{i % 10}",
                    gender=gender,
                    split="test" if i in test else "train",
                    dialect=f"DR{i % 8 + 1}",
                    engine=engine,
                    voice=str(voice),
                    variant=None if variant is None else str(variant),
                    pitch=float(round(low + pitches[i] * (high - low))),
                    rate=_rate(engine, slow + rates[i] * (fast - slow)),
                )
            )
    return speakers


def _rate(engine: str, value: float) -> float:
    """espeak-ng takes whole words per minute; flite's duration_stretch two decimals."""
    return round(float(value), 2) if engine == "flite" else float(round(value))


def synth_corpus(
    out_dir: str | Path,
    speakers_per_gender: int = 8,
    utterances: int = 10,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Synthesize the corpus into ``out_dir``; returns what corpus.json holds."""
    if not 2 <= speakers_per_gender <= 100:
        raise VaesepError("--speakers-per-gender must be 2 to 100 (one train, one test at least)")
    if not 1 <= utterances <= 50:
        raise VaesepError("--utterances must be 1 to 50")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise VaesepError(f"{out_dir}: exists and is not a directory; choose another OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise VaesepError(f"{out_dir}: exists and is not empty; pass --force to write into it")
    versions = check_tools()
    optional("librosa", "train", "vaesep synth-corpus")  # before any work
    speakers = plan_speakers(speakers_per_gender, seed)
    jobs = _plan_jobs(speakers, utterances, seed, out_dir)
    if force:
        _clear_previous(out_dir)
    workers = min(8, os.cpu_count() or 2)
    log.info(
        "synthesizing %d utterances of %d speakers (%d at a time)",
        len(jobs),
        len(speakers),
        workers,
    )
    try:  # outside the pool: its running jobs have finished writing when this clears up
        with (
            tempfile.TemporaryDirectory(prefix="vaesep-tts-") as tmp,
            ThreadPoolExecutor(workers) as pool,
        ):
            samples = list(pool.map(lambda job: _synthesize(job, Path(tmp)), jobs))
    except BaseException:  # a failed tool, a full disk, Ctrl-C, SIGTERM: nothing half-written
        _clear_previous(out_dir)
        raise
    info = {
        "generator": "vaesep synth-corpus",
        "vaesep_version": __version__,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "speakers_per_gender": speakers_per_gender,
        "utterances_per_speaker": utterances,
        "tools": versions,
        "units": {
            "espeak-ng": {"pitch": "-p (0-99)", "rate": "-s (words per minute)"},
            "flite": {"pitch": "int_f0_target_mean (Hz)", "rate": "duration_stretch"},
        },
        "utterances": len(jobs),
        "seconds": round(sum(samples) / SAMPLE_RATE, 2),
        "speakers": [asdict(s) for s in speakers],
    }
    write_text_atomic(out_dir / "corpus.json", json.dumps(info, indent=2) + "\n")
    return info


def _plan_jobs(speakers: list[SynthSpeaker], count: int, seed: int, out_dir: Path) -> list[_Job]:
    """Per speaker ~60% shared (SX) sentences drawn at random and the rest SI sentences taken
    in turn from a shuffled list, so that SI sentences repeat only once all were used."""
    rng = np.random.default_rng([seed, 1])
    single_order = rng.permutation(len(SINGLE))
    n_shared = round(count * 0.6)
    jobs = []
    next_single = 0
    for spk in speakers:
        folder = out_dir / spk.split.upper() / spk.dialect / spk.speaker
        chosen = [(f"SX{10 + i}", SHARED[i]) for i in rng.choice(len(SHARED), n_shared, False)]
        for _ in range(count - n_shared):
            i = int(single_order[next_single % len(SINGLE)])
            chosen.append((f"SI{500 + i}", SINGLE[i]))
            next_single += 1
        jobs.extend(_Job(spk, name, text, folder / f"{name}.WAV") for name, text in chosen)
    return jobs


def _synthesize(job: _Job, tmp: Path) -> int:
    """Run the TTS for one job, then resample, trim, normalize and write it; returns samples."""
    spk = job.speaker
    raw = tmp / f"{spk.speaker}_{job.name}.wav"
    if spk.engine == "flite":
        settings = [f"duration_stretch={spk.rate}", f"int_f0_target_mean={spk.pitch:g}"]
        cmd = ["flite", "-voice", spk.voice, "-t", job.text, "-o", str(raw)]
        cmd += [arg for setting in settings for arg in ("--setf", setting)]
    else:
        voice = f"{spk.voice}+{spk.variant}"
        cmd = ["espeak-ng", "-v", voice, "-p", f"{spk.pitch:g}", "-s", f"{spk.rate:g}"]
        cmd += ["-w", str(raw), job.text]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not raw.is_file():
        detail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise VaesepError(f"{spk.engine} failed for {spk.speaker}/{job.name}: {detail}")
    signal = _normalize(_trim(load_audio(raw, SAMPLE_RATE)[0]))
    with atomic_path(job.path) as out:  # TIMIT's layout: NIST SPHERE files named .WAV
        sf.write(str(out), signal, SAMPLE_RATE, subtype="PCM_16", format="NIST")
    write_text_atomic(job.path.with_suffix(".TXT"), f"0 {len(signal)} {job.text}\n")
    return len(signal)


def _trim(signal: np.ndarray) -> np.ndarray:
    """Cut leading and trailing silence, keeping a short margin."""
    librosa = optional("librosa", "train", "vaesep synth-corpus")
    _, (start, end) = librosa.effects.trim(signal, top_db=TRIM_TOP_DB)
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return signal[max(0, start - margin) : min(len(signal), end + margin)]


def _normalize(signal: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    if rms == 0:
        return signal
    signal = signal * (TARGET_RMS / rms)
    peak = float(np.abs(signal).max())
    return (signal * min(1.0, MAX_PEAK / peak)).astype(np.float32)


def _clear_previous(out_dir: Path) -> None:
    """Remove what an earlier synth-corpus run wrote here (and nothing else)."""
    (out_dir / "corpus.json").unlink(missing_ok=True)
    for split in ("TRAIN", "TEST"):
        for folder in sorted((out_dir / split).glob("DR[1-8]/*")):
            if not _SPEAKER_DIR.fullmatch(folder.name):
                continue
            for path in folder.iterdir():
                if path.suffix in (".WAV", ".TXT"):
                    path.unlink()
            remove_if_empty(folder, folder.parent, folder.parent.parent)
