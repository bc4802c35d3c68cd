"""Pack a speaker-pool dir into a small self-contained copy, to train on a machine without the
corpora (a lent GPU node that takes 64 MiB of files with the repo).

    python -m benchmarks.device_pack recipes/pretrained/data/pool_all .device/pool_all
    python -m benchmarks.device_pack POOL OUT --kbps 24 --force

Every utterance of ``POOL``'s ``female.scp`` and ``male.scp`` is written as Ogg Opus (soundfile,
``--kbps`` kilobits a second: about 11 MB an hour of 16 kHz speech at 24) into ``OUT/audio/``,
and the scp files name them relative to ``OUT``, so that the copy trains wherever it lies
(``vaesep train --data OUT`` with ``data.loading: pools``). ``utt2spk``, ``spk2utt`` and
``pool.json`` (the parts' prefixes and weights) are copied as they are, where present. Opus is
lossy: a model trained on the copy heard coded speech, which its card must say; it is scored on
the uncoded test sets as every other model. Nothing is half-written; an existing ``OUT``
needs ``--force``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import soundfile as sf

from vaesep.data.datadir import check_replaceable, read_scp, replacing
from vaesep.data.pool_dir import POOL_JSON, POOL_SCP
from vaesep.errors import VaesepError
from vaesep.io.audio import load_audio

COPIED = ("utt2spk", "spk2utt", POOL_JSON)
PACKED = "packed.json"  # what was packed, and how


def pack(pool: Path, out: Path, kbps: float = 24.0, force: bool = False) -> dict:
    """Write the packed copy of ``pool`` into ``out``; returns what ``packed.json`` says."""
    if not all((pool / scp).is_file() for scp in POOL_SCP.values()):
        raise VaesepError(
            f"{pool}: not a pool dir (no female.scp and male.scp); give 'vaesep prepare pool' "
            "output"
        )
    if not 6 <= kbps <= 256:
        raise VaesepError(f"--kbps {kbps}: Opus codes 6 to 256 kbit/s; 24 suits speech")
    check_replaceable(out, PACKED, "benchmarks.device_pack", force)
    seconds, written = 0.0, 0
    with replacing(out) as tmp:
        (tmp / "audio").mkdir()
        for scp in POOL_SCP.values():
            entries = {}
            for utt, path in read_scp(pool / scp).items():
                audio, rate = load_audio(path)  # as training reads it: mono, pipes too
                target = tmp / "audio" / f"{utt}.ogg"
                sf.write(
                    target,
                    audio,
                    rate,
                    format="OGG",
                    subtype="OPUS",
                    compression_level=_level(kbps),
                )
                entries[utt] = f"audio/{target.name}"
                seconds += len(audio) / rate
                written += target.stat().st_size
            # Relative to the scp's folder (read_scp's rule), not write_scp's absolute paths.
            (tmp / scp).write_text("".join(f"{u} {p}\n" for u, p in sorted(entries.items())))
        for name in COPIED:
            if (pool / name).is_file():
                shutil.copyfile(pool / name, tmp / name)
        summary = {"from": str(pool.resolve()), "codec": "Ogg Opus", "kbps": kbps,
                   "hours": seconds / 3600, "audio_bytes": written}  # fmt: skip
        (tmp / PACKED).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _level(kbps: float) -> float:
    """soundfile's ``compression_level`` (0: best quality, 1: smallest) for Opus at ``kbps``:
    libsndfile 1.2 maps it linearly from 256 to 6 kbit/s (measured on a 14 s LibriSpeech
    utterance: 16.3, 23.9 and 31.9 kbit/s asked 16, 24 and 32)."""
    return (256.0 - kbps) / (256.0 - 6.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", type=Path, help="a pool dir ('vaesep prepare pool' output)")
    parser.add_argument("out", type=Path, help="the packed copy to write")
    parser.add_argument("--kbps", type=float, default=24.0, help="Opus bit rate (kbit/s)")
    parser.add_argument("--force", action="store_true", help="replace an earlier packed copy")
    args = parser.parse_args()
    try:
        done = pack(args.pool, args.out, args.kbps, args.force)
    except VaesepError as exc:
        raise SystemExit(f"device_pack: error: {exc}") from None
    print(f"wrote {args.out}: {done['hours']:.2f} h in {done['audio_bytes'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
