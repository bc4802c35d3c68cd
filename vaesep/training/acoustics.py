"""Rooms and noise for dynamic mixing from pools (``data.reverb``, ``data.noise``).

A pair drawn for reverberation is played in one of ``ROOMS`` seeded shoebox rooms (the
geometry of ``vaesep prepare rooms``: two voices 1-2 m from the microphone, walls set for an
RT60 drawn within ``data.rt60`` by ``pyroomacoustics.inverse_sabine``); each voice's image at
the microphone, scaled back to the dry crop's RMS so that the level ratio holds, replaces the
voice and is its target (the networks learn to separate reverberant voices, not to
dereverberate them). A room's impulse responses are computed when it is first drawn and kept
for the process. A pair drawn for noise gets white, pink or brown noise added to the mixture
only (the targets stay clean) at a mixture-to-noise ratio drawn within ``data.noise_snr``.
Each pair's draws come from its own seed, so pairs stay reproducible whatever reads them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vaesep.data.mixing import rms
from vaesep.data.noises import coloured
from vaesep.data.options import DataConfig
from vaesep.errors import optional

ROOMS = 200  # rooms in the bank
NOISES = ("white", "pink", "brown")
_STREAM = 7  # random stream of the rooms' geometry


def augment(
    voices: tuple[np.ndarray, np.ndarray], data: DataConfig, seed: int, rate: int
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray | None]:
    """The pair's ``voices`` (equal lengths), reverberant when the pair is drawn for a room,
    and the noise to add to their mixture (or None)."""
    rng = np.random.default_rng([seed, _STREAM])
    room, noise = rng.random(), rng.random()  # both drawn always: one never shifts the other
    if room < data.reverb:
        responses = room_responses(int(rng.integers(ROOMS)), tuple(data.rt60), rate)
        voices = tuple(_image(v, h) for v, h in zip(voices, responses))
    if noise >= data.noise:
        return voices, None
    length = len(voices[0])
    sound = coloured(NOISES[int(rng.integers(len(NOISES)))], length, rate, rng)
    snr = rng.uniform(*data.noise_snr)
    level = rms(voices[0] + voices[1]) * 10 ** (-snr / 20)
    return voices, (sound * level / max(rms(sound), 1e-12)).astype(np.float32)


@lru_cache(maxsize=ROOMS)
def room_responses(index: int, rt60: tuple[float, float], rate: int) -> list[np.ndarray]:
    """Room ``index``'s impulse responses from its two voices' places to the microphone."""
    pra = optional("pyroomacoustics", "rooms", "data.reverb")  # before rooms, which needs it
    from vaesep.data.rooms import draw_geometry, room_acoustics

    rng = np.random.default_rng([_STREAM, index])
    geometry = draw_geometry(rng, 2, 0.05, 1.0)
    absorption, max_order = room_acoustics(float(rng.uniform(*rt60)), geometry["dims"])
    room = pra.ShoeBox(
        geometry["dims"], fs=rate, materials=pra.Material(absorption), max_order=max_order
    )
    room.add_microphone_array(np.array(geometry["mics"][:1]).T)
    for position in geometry["sources"]:
        room.add_source(position)
    room.compute_rir()
    return [np.asarray(room.rir[0][k], dtype=np.float32) for k in range(2)]


def _image(voice: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``voice`` through ``response``, cut to its length, at its RMS."""
    signal = optional("scipy.signal", "rooms", "data.reverb")  # pyroomacoustics needs scipy
    image = signal.fftconvolve(voice, response)[: len(voice)]
    reached = rms(image)
    return (image * (rms(voice) / reached if reached > 0 else 1.0)).astype(np.float32)
