"""Reverberant multichannel mixtures: a mono supervised data dir played in simulated rooms.

``prepare_rooms`` turns a source-supervised data dir (``wav.scp`` = ``spk1`` + ``spk2``) into a
reverberant one with pyroomacoustics' image source method: per utterance a seeded shoebox room
whose walls give the requested RT60 (``pra.inverse_sabine``), a linear microphone array near its
centre, and the female and male sources 1-2 m (``min_distance`` + up to 1 m) away at azimuths at
least 30° apart. It writes ``wav/<utt>.wav`` (the multichannel mixture, one channel per mic),
``wav/<utt>_female.wav`` and ``wav/<utt>_male.wav``, ``wav.scp``, ``spk1.scp``, ``spk2.scp``,
``dry1.scp``, ``dry2.scp``, ``utt2spk``/``spk2utt`` and ``rooms.json`` (parameters and geometry).

The references in ``spk1.scp``/``spk2.scp`` are the reverberant source images at the reference
microphone (mic 0): evaluation scores against them, and the mixture's channel 0 is exactly
their sum. Each source's images are scaled so that its image at mic 0 has the RMS of its dry
source, so the input's level ratio holds there. The dry sources stay in ``dry1.scp``/``dry2.scp``
(the input's files, not copied). Each data dir is converted on its own, so training and test
utterances stay as disjoint as in the input dirs.
"""

from __future__ import annotations

import json
import math
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
    write_scp,
)
from vaesep.data.mixing import rms
from vaesep.errors import VaesepError, optional
from vaesep.io.audio import audio_info, fit_length, load_audio, save_audio, save_channels

pra = optional("pyroomacoustics", "rooms", "vaesep prepare rooms")

SUMMARY_FILE = "rooms.json"
DRY_SCP = ("dry1.scp", "dry2.scp")  # the dry sources, in the sources' order
REFERENCE_MIC = 0
ROOM_SIZE = ((4.0, 7.0), (4.0, 7.0), (2.5, 3.2))  # length, width, height ranges (m)
ARRAY_HEIGHT = 1.5
ARRAY_JITTER = 0.2  # the array centre moves up to this far from the room centre (m)
MAX_APERTURE = 2.0  # (mics - 1) * spacing at most (m)
SOURCE_HEIGHT = (1.5, 1.7)
WALL_MARGIN = 0.5
MIN_SEPARATION = 30.0  # degrees between the sources' directions of arrival
AXIS_ZONE = 15.0  # degrees from the array axis within which a source counts as on the axis
MIN_MIC_DISTANCE = 0.25
PEAK = 0.99
_ATTEMPTS = 1000


def prepare_rooms(
    source_dir: str | Path,
    out_dir: str | Path,
    rt60: float = 0.15,
    mics: int = 2,
    spacing: float = 0.05,
    min_distance: float = 1.0,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Write the reverberant ``mics``-channel data dir of ``source_dir`` into ``out_dir``;
    its summary (what ``rooms.json`` holds)."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    _check_options(rt60, mics, spacing, min_distance)
    data = load_datadir(source_dir)
    sources = [p for s in data.names for p in data.sources[s].values()]
    check_outside(out_dir, sources, "sources", source_dir)
    check_replaceable(out_dir, SUMMARY_FILE, "vaesep prepare rooms", force)
    with replacing(out_dir) as tmp:
        return _convert(data, tmp, out_dir.resolve(), rt60, mics, spacing, min_distance, seed)


def _check_options(rt60: float, mics: int, spacing: float, min_distance: float) -> None:
    if not rt60 > 0:
        raise VaesepError(f"--rt60 {rt60}: must be a positive time in seconds (e.g. 0.15)")
    if mics < 2:
        raise VaesepError(f"--mics {mics}: use 2 or more microphones")
    if not spacing > 0:
        raise VaesepError(f"--spacing {spacing}: must be a positive distance in metres (e.g. 0.05)")
    if not min_distance > 0:
        raise VaesepError(
            f"--min-distance {min_distance}: must be a positive distance in metres (e.g. 1.0)"
        )
    if (mics - 1) * spacing > MAX_APERTURE:
        raise VaesepError(
            f"--mics {mics} --spacing {spacing}: the array would span {(mics - 1) * spacing:g} m; "
            f"keep (mics - 1) × spacing at most {MAX_APERTURE:g} m"
        )
    room_acoustics(rt60, [hi for _, hi in ROOM_SIZE])  # the largest room needs the longest


def room_acoustics(rt60: float, dims: list[float]) -> tuple[float, int]:
    """Wall energy absorption and image source order for ``rt60`` in a ``dims`` room."""
    try:
        absorption, max_order = pra.inverse_sabine(rt60, dims)
    except ValueError:
        shortest = pra.inverse_sabine(1.0, [hi for _, hi in ROOM_SIZE])[0]  # absorption ∝ 1/RT60
        raise VaesepError(
            f"--rt60 {rt60}: too short for rooms of up to {ROOM_SIZE[0][1]:g} × "
            f"{ROOM_SIZE[1][1]:g} × {ROOM_SIZE[2][1]:g} m (the walls would absorb more than all); "
            f"use --rt60 {math.ceil(shortest * 100) / 100:g} or more"
        ) from None
    return float(absorption), int(max_order)


def _convert(
    data: DataDir,
    tmp: Path,
    final: Path,
    rt60: float,
    mics: int,
    spacing: float,
    min_distance: float,
    seed: int,
) -> dict:
    """Simulate every utterance into ``tmp`` (scp paths naming ``final``); the summary."""
    mixtures: dict[str, str] = {}
    names = data.names
    images: dict[str, dict[str, str]] = {s: {} for s in names}
    rooms: dict[str, dict] = {}
    rate = None
    (tmp / "wav").mkdir()
    for index, utt in enumerate(data.utt_ids):
        dry = {}
        for source in names:
            signal, file_rate = load_audio(data.sources[source][utt])
            if rate is not None and file_rate != rate:
                raise VaesepError(
                    f"{data.sources[source][utt]}: {file_rate} Hz, other sources {rate} Hz; "
                    "make the data dir with one --sample-rate"
                )
            rate, dry[source] = file_rate, signal
        length = audio_info(data.mixtures[utt]).frames
        geometry = draw_geometry(np.random.default_rng([seed, index]), mics, spacing, min_distance)
        absorption, max_order = room_acoustics(rt60, geometry["dims"])
        room = pra.ShoeBox(
            geometry["dims"], fs=rate, materials=pra.Material(absorption), max_order=max_order
        )
        room.add_microphone_array(np.array(geometry["mics"]).T)
        for source, position in zip(names, geometry["sources"]):
            room.add_source(position, signal=dry[source])
        premix = fit_length(room.simulate(return_premix=True), length)  # (sources, mics, time)
        for k, source in enumerate(names):
            reached = rms(premix[k, REFERENCE_MIC])
            premix[k] *= rms(fit_length(dry[source], length)) / reached if reached > 0 else 1.0
        peak = float(np.abs(premix.sum(axis=0)).max())
        gain = PEAK / peak if peak > PEAK else 1.0
        premix = (premix * gain).astype(np.float32)
        mixture = premix.sum(axis=0)
        save_channels(tmp / "wav" / f"{utt}.wav", mixture, rate)
        mixtures[utt] = str(final / "wav" / f"{utt}.wav")
        for k, source in enumerate(names):
            save_audio(tmp / "wav" / f"{utt}_{source}.wav", premix[k, REFERENCE_MIC], rate)
            images[source][utt] = str(final / "wav" / f"{utt}_{source}.wav")
        measured = float(room.measure_rt60()[REFERENCE_MIC].mean())
        rooms[utt] = {
            **geometry,
            "absorption": absorption,
            "max_order": max_order,
            "peak_gain": gain,
            "measured_rt60": measured,
        }
    write_datadir(tmp, mixtures, images, read_utt2spk(data.root, data.utt_ids), names)
    for index, source in enumerate(names):
        write_scp(tmp / DRY_SCP[index], data.sources[source])
    summary = {
        "source": str(data.root.resolve()),
        "rt60": rt60,
        "mics": mics,
        "spacing": spacing,
        "min_distance": min_distance,
        "seed": seed,
        "reference_mic": REFERENCE_MIC,
        "sample_rate": rate,
        "mixtures": len(rooms),
        "measured_rt60": float(np.mean([r["measured_rt60"] for r in rooms.values()])),
        "utterances": rooms,
    }
    (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def draw_geometry(rng: np.random.Generator, mics: int, spacing: float, min_distance: float) -> dict:
    """A room, an array near its centre and two sources that satisfy the placement rules."""
    for _ in range(_ATTEMPTS):
        dims = np.array([rng.uniform(lo, hi) for lo, hi in ROOM_SIZE])
        jitter = rng.uniform(-ARRAY_JITTER, ARRAY_JITTER, size=2)
        centre = np.array([*(dims[:2] / 2 + jitter), ARRAY_HEIGHT])
        orientation = rng.uniform(0.0, 180.0)
        axis = np.array(
            [math.cos(math.radians(orientation)), math.sin(math.radians(orientation)), 0]
        )
        mic_pos = centre + ((np.arange(mics) - (mics - 1) / 2) * spacing)[:, None] * axis
        azimuths = rng.uniform(0.0, 360.0, size=2)
        distances = rng.uniform(min_distance, min_distance + 1.0, size=2)
        heights = rng.uniform(*SOURCE_HEIGHT, size=2)
        across = np.sqrt(distances**2 - (heights - ARRAY_HEIGHT) ** 2)
        rad = np.radians(azimuths)
        src = np.stack(
            [centre[0] + across * np.cos(rad), centre[1] + across * np.sin(rad), heights], axis=1
        )
        relative = (azimuths - orientation) % 360.0
        doa = np.minimum(relative, 360.0 - relative)  # angle from the array axis, 0-180°
        on_axis = np.minimum(doa, 180.0 - doa) < AXIS_ZONE
        inside = np.all((src >= WALL_MARGIN) & (src <= dims - WALL_MARGIN))
        apart = abs(doa[0] - doa[1]) >= MIN_SEPARATION and not on_axis.all()
        near = np.linalg.norm(src[:, None] - mic_pos[None], axis=-1).min()
        if inside and apart and near >= MIN_MIC_DISTANCE:
            return {
                "dims": dims.tolist(),
                "array_centre": centre.tolist(),
                "array_orientation": orientation,
                "mics": mic_pos.tolist(),
                "sources": src.tolist(),
                "azimuths": azimuths.tolist(),
                "doa": doa.tolist(),
                "distances": distances.tolist(),
            }
    raise VaesepError(
        f"--min-distance {min_distance}: the sources do not fit {WALL_MARGIN:g} m from the walls "
        f"of {ROOM_SIZE[0][0]:g}-{ROOM_SIZE[0][1]:g} m rooms; use a smaller --min-distance"
    )
