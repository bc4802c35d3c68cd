"""Speech against background: a data dir whose sources are ``speech`` and ``background``.

``prepare_background`` takes the two references of each mixture of a source-supervised data
dir as two speech utterances (``<utt>-<source>``: 40 mixtures give 80) and mixes each with one
background (:mod:`vaesep.data.noises`): the ``--noise`` values in turn over the utterances
in a seeded order (so that no kind goes with spk1 or spk2 only), a folder's files in a seeded
order. The background is scaled to ``snr`` dB below the speech (speech-to-background
RMS over the whole utterance), or to a seeded uniform draw from ``snr_range``; where the
mixture's peak would pass 0.99, speech and background are scaled down together, so that the
mixture is exactly the sum of its references. Babble and speech-shaped noise are made of the
other mixtures' utterances, never of the utterance's own mixture nor of its speaker's where
``utt2spk`` names the speaker (it names the spk1 speaker in vaesep's data dirs; a spk2 utterance
counts as its own speaker). It writes ``wav/<utt>-<source>_{mix,speech,background}.wav``
(float WAV), ``wav.scp``, ``spk1.scp`` (speech), ``spk2.scp`` (background), ``sources``,
``utt2spk``/``spk2utt`` and ``background.json`` (the options, counts, backgrounds used, SNRs
and each mixture's background). Each split is converted on its own: ``part`` keeps a disjoint
share of a folder's recordings for train and test, and seeds the built-in kinds apart.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaesep.data.datadir import (
    DataDir,
    check_outside,
    check_replaceable,
    load_datadir,
    read_utt2spk,
    replacing,
    write_datadir,
)
from vaesep.data.mixing import rms
from vaesep.data.noises import (
    BABBLE_TALKERS,
    COLOURS,
    PARTS,
    Noise,
    babble,
    coloured,
    find_noise,
    read_recording,
    shaped,
    welch_sum,
)
from vaesep.errors import VaesepError
from vaesep.io.audio import audio_info, load_audio, save_audio
from vaesep.version import __version__

SUMMARY_FILE = "background.json"
NAMES = ("speech", "background")
PEAK = 0.99


def parse_snr(text: str) -> float:
    """The dB of an ``--snr`` value such as ``-5``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise VaesepError(f"--snr {text}: expected a number of dB such as 0 or -5")
    return value


def parse_snr_range(text: str) -> tuple[float, float]:
    """The LOW and HIGH dB of an ``--snr-range`` value such as ``-5,5``."""
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high)):
        raise VaesepError(f"--snr-range {text}: expected LOW,HIGH dB such as -5,5")
    return low, high


@dataclass(frozen=True)
class _Speech:
    """One speech utterance: ``source`` of mixture ``utt``, said by ``speaker``."""

    id: str
    utt: str
    source: str
    path: str
    speaker: str


def prepare_background(
    speech_dir: str | Path,
    out_dir: str | Path,
    noises: Sequence[str] = ("white",),
    snr: float = 0.0,
    snr_range: tuple[float, float] | None = None,
    seed: int = 0,
    part: str = "all",
    force: bool = False,
) -> dict:
    """Write the speech + background data dir of ``speech_dir`` into ``out_dir``; its summary
    (what ``background.json`` holds)."""
    speech_dir, out_dir = Path(speech_dir), Path(out_dir)
    _check_options(noises, snr, snr_range, part)
    data = load_datadir(speech_dir, require_references=False)
    if not data.has_references:
        raise VaesepError(
            f"{speech_dir}: no spk1.scp/spk2.scp (a weakly labelled dir?); the speech is the "
            "references, so pass a source-supervised data dir"
        )
    if "background" in data.names:
        raise VaesepError(
            f"{speech_dir}: its sources are {', '.join(data.names)}; pass the speech data dir "
            "it was made from"
        )
    items = _speech(data)
    rate = audio_info(items[0].path).samplerate
    found = [find_noise(spec, part, rate) for spec in noises]
    pool = _Pool(items, rate)
    needed = {"babble": BABBLE_TALKERS[0], "speech-shaped": 1}
    for noise in (n for n in found if n.kind in needed):
        if (fewest := pool.fewest_others()) < needed[noise.kind]:
            raise VaesepError(
                f"--noise {noise.spec}: needs {needed[noise.kind]} utterance(s) of other "
                f"mixtures and speakers for each one, {speech_dir} has {fewest} for some; "
                "use a data dir of more mixtures"
            )
    check_outside(out_dir, [i.path for i in items], "sources", speech_dir)
    for noise in found:
        check_outside(out_dir, [str(r.path) for r in noise.recordings], "recordings", noise.spec)
    check_replaceable(out_dir, SUMMARY_FILE, "vaesep prepare background", force)
    options = {
        "source": str(speech_dir.resolve()),
        "noises": list(noises),
        "snr": None if snr_range else snr,
        "snr_range": list(snr_range) if snr_range else None,
        "seed": seed,
        "part": part,
    }
    with replacing(out_dir) as tmp:
        return _mix(pool, found, tmp, out_dir.resolve(), options)


def _check_options(
    noises: Sequence[str], snr: float, snr_range: tuple[float, float] | None, part: str
) -> None:
    if not noises:
        raise VaesepError("--noise: give at least one (e.g. white, or a folder of recordings)")
    if repeated := next((n for n in noises if list(noises).count(n) > 1), None):
        raise VaesepError(f"--noise {repeated}: given twice; list each background once")
    if not math.isfinite(snr):
        raise VaesepError(f"--snr {snr}: expected a number of dB such as 0 or -5")
    if snr_range is not None:
        low, high = snr_range
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise VaesepError(
                f"--snr-range {low:g},{high:g}: expected LOW,HIGH dB with LOW <= HIGH (e.g. -5,5)"
            )
    if part not in PARTS:
        raise VaesepError(f"--part {part}: use train, test or all")


def _speech(data: DataDir) -> list[_Speech]:
    """Both references of every mixture, in utterance order."""
    speakers = read_utt2spk(data.root, data.utt_ids)
    items = []
    for utt in data.utt_ids:
        for index, source in enumerate(data.names):
            speaker = speakers[utt] if index == 0 else f"{utt}-{source}"  # spk2's is unknown
            items.append(
                _Speech(f"{utt}-{source}", utt, source, data.sources[source][utt], speaker)
            )
    return items


class _Pool:
    """The speech utterances, read at one rate, and which others each one's babble and
    speech-shaped noise may draw on (not of its mixture, not of its speaker)."""

    def __init__(self, items: list[_Speech], rate: int):
        self.items, self.rate = items, rate
        self._groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            for key in (f"utt:{item.utt}", f"spk:{item.speaker}"):
                self._groups.setdefault(key, []).append(index)
        self._psd: tuple[np.ndarray, np.ndarray] | None = None

    def read(self, index: int) -> np.ndarray:
        path = self.items[index].path
        signal, rate = load_audio(path)
        if rate != self.rate:
            raise VaesepError(
                f"{path}: {rate} Hz, other sources {self.rate} Hz; make the data dir with one "
                "--sample-rate"
            )
        return signal

    def _excluded(self, index: int) -> set[int]:
        item = self.items[index]
        return {*self._groups[f"utt:{item.utt}"], *self._groups[f"spk:{item.speaker}"]}

    def fewest_others(self) -> int:
        return len(self.items) - max(len(self._excluded(i)) for i in range(len(self.items)))

    def others(self, index: int) -> np.ndarray:
        mask = np.ones(len(self.items), dtype=bool)
        mask[list(self._excluded(index))] = False
        return np.flatnonzero(mask)

    def ltas(self, index: int) -> np.ndarray:
        """The long-term average spectrum of the utterances :meth:`others` names."""
        if self._psd is None:  # every utterance's periodograms, read once
            sums, counts = zip(*(welch_sum(self.read(i)) for i in range(len(self.items))))
            self._psd = np.stack(sums), np.array(counts)
        sums, counts = self._psd
        others = self.others(index)
        return sums[others].sum(axis=0) / counts[others].sum()


def _mix(pool: _Pool, noises: list[Noise], tmp: Path, final: Path, options: dict) -> dict:
    """Mix every utterance with its background into ``tmp`` (scp paths naming ``final``)."""
    seed, part = options["seed"], PARTS.index(options["part"])
    # a seeded slot per utterance: the noises in turn, yet not in step with female, male
    slots = np.random.default_rng([seed, part, 2]).permutation(len(pool.items))
    orders = [
        np.random.default_rng([seed, part, 1, k]).permutation(len(n.recordings))
        for k, n in enumerate(noises)
    ]
    mixtures: dict[str, str] = {}
    refs: dict[str, dict[str, str]] = {name: {} for name in NAMES}
    records: dict[str, dict] = {}
    for index, item in enumerate(pool.items):
        rng = np.random.default_rng([seed, part, 0, index])
        k, use = slots[index] % len(noises), slots[index] // len(noises)
        speech = pool.read(index)
        record = {"speech": item.path, "background": noises[k].spec}
        background = _background(pool, index, noises[k], orders[k], use, len(speech), rng, record)
        snr = float(rng.uniform(*options["snr_range"])) if options["snr_range"] else options["snr"]
        level = rms(speech)
        if level == 0 or rms(background) == 0:
            what = item.path if level == 0 else f"the {noises[k].spec} background"
            raise VaesepError(f"{what}: silent for {item.id}; drop the utterance or recording")
        background = background * (level / rms(background) / 10 ** (snr / 20))
        peak = float(np.abs(speech + background).max())
        gain = PEAK / peak if peak > PEAK else 1.0
        signals = {"speech": (speech * gain).astype(np.float32)}
        signals["background"] = (background * gain).astype(np.float32)
        signals["mix"] = signals["speech"] + signals["background"]
        for name, signal in signals.items():
            save_audio(tmp / "wav" / f"{item.id}_{name}.wav", signal, pool.rate)
        mixtures[item.id] = str(final / "wav" / f"{item.id}_mix.wav")
        for name in NAMES:
            refs[name][item.id] = str(final / "wav" / f"{item.id}_{name}.wav")
        seconds = len(speech) / pool.rate
        records[item.id] = {**record, "seconds": seconds, "snr_db": snr, "gain": gain}
    write_datadir(tmp, mixtures, refs, {i.id: i.speaker for i in pool.items}, names=NAMES)
    summary = _summary(pool, noises, records, options)
    (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _background(
    pool: _Pool,
    index: int,
    noise: Noise,
    order: np.ndarray,
    use: int,
    length: int,
    rng: np.random.Generator,
    record: dict,
) -> np.ndarray:
    """The ``use``-th background of ``noise``, ``length`` samples for utterance ``index``;
    what it is made of goes into ``record``."""
    if noise.kind in COLOURS:
        return coloured(noise.kind, length, pool.rate, rng)
    if noise.kind == "speech-shaped":
        return shaped(pool.ltas(index), length, rng)
    if noise.kind == "babble":
        others = pool.others(index)
        count = min(int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1)), len(others))
        talkers = sorted(int(t) for t in rng.choice(others, size=count, replace=False))
        record["talkers"] = [pool.items[t].id for t in talkers]
        return babble([pool.read(t) for t in talkers], length, pool.rate, rng)
    recording = noise.recordings[order[use % len(order)]]
    signal, offset = read_recording(recording, length, pool.rate, rng)
    record.update(file=recording.key, offset_s=round(offset, 4))
    return signal


def _summary(pool: _Pool, noises: list[Noise], records: dict[str, dict], options: dict) -> dict:
    snrs = [r["snr_db"] for r in records.values()]
    backgrounds = {}
    for noise in noises:
        used = [r for r in records.values() if r["background"] == noise.spec]
        entry: dict = {"kind": noise.kind, "mixtures": len(used)}
        if noise.recordings:
            files = Counter(r["file"] for r in used)
            entry.update(files_found=noise.found, files_in_part=len(noise.recordings))
            entry["files_used"] = dict(sorted(files.items()))
        backgrounds[noise.spec] = entry
    return {
        **options,
        "sample_rate": pool.rate,
        "source_mixtures": len({i.utt for i in pool.items}),
        "mixtures": len(records),
        "seconds": sum(r["seconds"] for r in records.values()),
        "snr_db": {"min": min(snrs), "mean": float(np.mean(snrs)), "max": max(snrs)},
        "peak_scaled": sum(r["gain"] < 1 for r in records.values()),
        "backgrounds": backgrounds,
        "utterances": records,
        "vaesep_version": __version__,
    }
