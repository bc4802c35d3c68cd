"""Training at scale: peak memory and throughput against the hours of training mixtures.

    python -m benchmarks.scale [--hours 0.25,1,4] [--loadings memory,stream,pools]
                               [--model vae] [--memory-max-hours 1] [--work DIR] [--out FILE]
                               [--set KEY=VALUE ...] [--epochs 1]

Builds data dirs of 0 dB female + male mixtures of 4 s (16 kHz, 16-bit WAV) from the real
speech in ``../shared/data`` (the LibriSpeech subset's train-clean-100 and speechocean762's
adults: 3.2 h of speech from 379 speakers; random pairs of random crops, seeded, so the
larger sets reuse utterances in new pairs), then for each size and ``data.loading`` runs one
epoch of ``vaesep train`` in a fresh process and reads back its peak resident memory (itself
and every process below it) and its throughput (training frames per second of the epoch,
from the sources' summaries). ``memory`` is skipped above ``--memory-max-hours``: it holds
the whole set (about 4 GB per hour of mixtures per process). ``pools`` draws as many pairs
per epoch as the set has mixtures, from the same speech. Prints a Markdown table and writes
it (with the command) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RATE, SECONDS = 16000, 4.0

_TRAIN = """
import json, resource, subprocess, sys, time
from vaesep.cli import app
procs, args = int(sys.argv[1]), sys.argv[2:]
started = time.perf_counter()
if procs > 1:
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    run += ["--nproc_per_node", str(procs), "-m", "vaesep", *args]
    code = subprocess.run(run, stdout=subprocess.DEVNULL).returncode
    assert not code, f"torchrun exited with {code}"
else:
    try:
        app(args, prog_name="vaesep")
    except SystemExit as exc:
        assert not exc.code, f"vaesep exited with {exc.code}"
who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
peak = max(resource.getrusage(w).ru_maxrss for w in who)
print(json.dumps({"peak_mb": peak / 1024, "wall_s": time.perf_counter() - started}))
"""


def speech_pools() -> dict[str, list[str]]:
    """Female and male utterance paths of the shared real speech."""
    from vaesep.data.corpora import load_corpus

    corpora = [
        load_corpus("librispeech", SHARED / "LibriSpeech-subset", test_subsets=[]),
        load_corpus("manifest", SHARED / "speechocean762-adults" / "manifest.csv"),
    ]
    pools: dict[str, list[str]] = {"female": [], "male": []}
    for corpus in corpora:
        for u in corpus.utterances:
            if u.split in (None, "train"):
                pools["female" if u.gender == "F" else "male"].append(str(u.path))
    return pools


def write_mixtures(out: Path, pools: dict[str, list[str]], hours: float, seed: int = 0) -> Path:
    """A data dir of ``hours`` of 0 dB female + male mixtures of 4 s crops."""
    from vaesep.data.datadir import write_datadir
    from vaesep.data.mixing import rms
    from vaesep.io.audio import load_excerpt, resample, save_audio

    data = out / "train"
    if (data / "wav.scp").exists():
        return data
    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600 / SECONDS))
    mixtures: dict[str, str] = {}
    sources: dict[str, dict[str, str]] = {"female": {}, "male": {}}
    for i in range(n):
        crops = []
        for source in ("female", "male"):
            path = pools[source][rng.integers(len(pools[source]))]
            signal, native = load_excerpt(path, float(rng.random()), SECONDS)
            crops.append(resample(signal, native, RATE))
        length = min(len(c) for c in crops)
        female, male = (c[:length] for c in crops)
        male = male * (rms(female) / max(rms(male), 1e-8))
        peak = max(np.abs(female + male).max(), 1e-8)
        scale = min(1.0, 0.9 / peak)
        utt = f"m{i:06d}"
        for name, signal in (("mix", female + male), ("female", female), ("male", male)):
            path = out / "wav" / f"{utt}_{name}.wav"
            save_audio(path, (signal * scale).astype(np.float32), RATE, subtype="PCM_16")
            (mixtures if name == "mix" else sources[name])[utt] = str(path)
    write_datadir(data, mixtures, sources)
    return data


def train_once(
    data: Path,
    exp: Path,
    model: str,
    loading: str,
    mixtures: int,
    extra: list[str],
    procs: int,
    epochs: int = 1,
) -> dict:
    """``epochs`` epochs of ``vaesep train`` in a fresh process (``procs`` > 1: that many
    data-parallel processes under torchrun): peak memory and throughput."""
    sets = [
        f"training.epochs={epochs}",
        "training.early_stopping_patience=0",
        "training.progress=false",
        f"data.loading={loading}",
        f"data.pairs={mixtures}",
        *extra,
    ]
    args = ["train", "--config", str(ROOT / "configs" / f"{model}.yaml"), "--data", str(data)]
    args += ["--exp-dir", str(exp), "--force"]
    for s in sets:
        args += ["--set", s]
    done = subprocess.run(
        [sys.executable, "-c", _TRAIN, str(procs), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"training failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    summaries = [json.loads((exp / f"{s}.json").read_text()) for s in ("female", "male")]
    frames = sum(s["train_frames"] * s["epochs_run"] for s in summaries)
    seconds = sum(s["seconds"] for s in summaries)
    return {**result, "frames_per_s": frames / seconds, "train_frames": frames // 2 // epochs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", default="0.25,1,4")
    parser.add_argument("--loadings", default="memory,stream,pools")
    parser.add_argument("--model", default="vae")
    parser.add_argument("--memory-max-hours", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=None, help="keep the data dirs here")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], help="a config override")
    parser.add_argument("--procs", default="1", help="data-parallel processes, e.g. 1,2")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per training")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="vaesep-scale-"))
    pools = speech_pools()
    rows = []
    for hours in (float(h) for h in args.hours.split(",")):
        started = time.perf_counter()
        data = write_mixtures(work / f"{hours:g}h", pools, hours)
        mixtures = len((data / "wav.scp").read_text().splitlines())
        print(f"{hours:g} h: {mixtures} mixtures ({time.perf_counter() - started:.0f} s)")
        for loading in args.loadings.split(","):
            if loading == "memory" and hours > args.memory_max_hours:
                continue
            for procs in (int(p) for p in args.procs.split(",")):
                if procs > 1 and loading == "memory":
                    continue  # data-parallel rows: streamed data
                exp = work / "exp" / f"{args.model}_{loading}_{hours:g}h_{procs}p"
                result = train_once(
                    data, exp, args.model, loading, mixtures, args.set, procs, args.epochs
                )
                rows.append({"hours": hours, "loading": loading, "procs": procs, **result})
                print(json.dumps(rows[-1]))
    command = "python -m benchmarks.scale " + " ".join(argv or sys.argv[1:])
    lines = [
        f"`{command}` ({args.model}, {args.epochs} epoch(s), 2 cores; 1 process: both sources "
        "side by side in 2 forked processes; N: N data-parallel processes, one source after "
        "the other; peak memory: the largest process)",
        "",
        "| mixtures (h) | data.loading | processes | peak memory (GB) | training frames/s |",
        "|---|---|---|---|---|",
        *(
            f"| {r['hours']:g} | {r['loading']} | {r['procs']} | {r['peak_mb'] / 1024:.2f} | "
            f"{r['frames_per_s']:.0f} |"
            for r in rows
        ),
    ]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
