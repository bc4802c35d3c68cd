"""vaesep's LibriSpeech-only recipe against a peer, open-unmix 1.3.0, same data and CPU.

    bash benchmarks/peers_setup.sh               # once: the peer's own venv, .venv-peers
    python -m benchmarks.peers [--config recipes/pretrained/conf/rnn_mask_librispeech.yaml]
                               [--set K=V ...] [--cpu-minutes M] [--work DIR] [--out FILE]
    python -m benchmarks.peers --pools --ours rnn_mask --ours-cpu-minutes M [--snapshot M2]
    python -m benchmarks.peers --pools --ours EXP --ours-cpu-minutes M2 --peer DIR/cpu<M2>min

The data are the bundled models' (``recipes/pretrained/run.sh`` stages 0-1 into ``--work``):
LibriSpeech train-clean-100's 251 utterances to train on; LibriSpeech test-other and the
built-in corpus's test set, female+male at 0 dB, to score on. vaesep trains ``--config`` on
the training mixtures (the default's recipe until the default learned from both corpora);
its CPU time (all its processes and threads) is the peer's budget unless ``--cpu-minutes``
is given. The peer (``openunmix_peer.py``, in ``.venv-peers``: PyPI's torchaudio is a CUDA
build, so that venv holds its pure-Python parts next to the CPU torch) trains on random 4 s
crops of the same female and male utterances, mixed anew at 0 dB every step, as its own
recipe does. Both are scored by ``vaesep evaluate`` and compared by ``vaesep report
--claim`` on the paired per-mixture differences. Writes a Markdown summary (with the
command) to ``--out`` and everything else under ``--work``; a finished step (training,
separation, scoring) is not run again.

With ``--pools`` the peer learns from what the default learns from: the recipe's speaker
pools of both corpora (``data/pool_all``, the dev speakers held out), a speaker drawn first as
the default's ``data.draw: speaker`` does, without the speakers the default holds out for
validation (``--hold-out``: its ``training.validation_fraction`` with seed 0; the runs of
2026-12-03 in ``benchmarks/results`` predate it, ``--hold-out 0``). ``--ours`` scores a model
already trained (an experiment dir or a bundled name) whose CPU time ``--ours-cpu-minutes``
gives; ``--snapshot`` keeps the peer as it is after fewer CPU minutes too, and ``--peer``
scores such a model."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAESEP = [sys.executable, "-m", "vaesep"]
TESTS = {"librispeech test-other": "librispeech_snr0", "built-in test": "builtin_snr0"}


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    """Run a command; stop with its last lines when it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if done.returncode:
        sys.exit(f"{' '.join(map(str, args[:4]))} ... failed:\n{done.stderr[-2000:]}")
    return done


def _cpu_seconds() -> float:
    """CPU time of every finished child process so far (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_venv(venv: Path) -> Path:
    """The peer venv's python, or exit naming the setup command."""
    python = venv / "bin" / "python"
    if not python.is_file() or subprocess.run([python, "-c", "import openunmix.model"]).returncode:
        sys.exit(f"{venv}: no open-unmix venv; make it with: bash benchmarks/peers_setup.sh {venv}")
    return python


def train_ours(work: Path, config: str, sets: list[str]) -> dict:
    """Train vaesep's config on the training mixtures (once); its CPU and wall time."""
    exp, record = work / "ours", work / "ours_time.json"
    if record.is_file():
        return json.loads(record.read_text())
    cpu, wall = _cpu_seconds(), time.perf_counter()
    command = [*VAESEP, "train", "--config", config, "--data", work / "data/librispeech_snr0/train"]
    command += ["--exp-dir", exp, "--force", "--set", "training.progress=false"]
    _run([*command, *(x for kv in sets for x in ("--set", kv))])
    spent = {"cpu_s": _cpu_seconds() - cpu, "wall_s": time.perf_counter() - wall}
    record.write_text(json.dumps(spent) + "\n")
    return spent


def write_lists(work: Path, pools: bool, hold_out: float = 0.0) -> None:
    """The peer's female.txt and male.txt: the training mixtures' utterances, or with
    ``pools`` every pooled utterance as ``speaker<TAB>path`` but those of the speakers our
    training holds out for validation at ``hold_out`` (seed 0)."""
    from vaesep.data.datadir import load_datadir, read_scp, read_utt2spk
    from vaesep.training.pools import read_pools

    if pools:
        pool = work / "data/pool_all"
        held = read_pools(pool, hold_out, 0)[1]  # no speaker at hold_out 0
        for name in ("female", "male"):
            utts = read_scp(pool / f"{name}.scp")
            speaker = read_utt2spk(pool, list(utts))
            skip = {s for part in held[name].parts for s in part}
            lines = (f"{speaker[u]}\t{p}\n" for u, p in utts.items() if speaker[u] not in skip)
            (work / f"{name}.txt").write_text("".join(lines))
        return

    data = load_datadir(work / "data/librispeech_snr0/train")
    for name, source in zip(("female", "male"), data.names):
        (work / f"{name}.txt").write_text("\n".join(data.sources[source].values()) + "\n")


def train_peer(
    work: Path,
    python: Path,
    cpu_minutes: float,
    pools: bool,
    snapshots: list[float],
    hold_out: float,
) -> Path:
    """Train the peer on the female and male utterances (once; a stopped training resumes
    from its checkpoint); its model dir."""
    out = work / "open-unmix"
    if not (out / "train.json").is_file():
        write_lists(work, pools, hold_out)
        _run([python, ROOT / "benchmarks/openunmix_peer.py", "train", "--female",
              work / "female.txt", "--male", work / "male.txt", "--cpu-minutes", cpu_minutes,
              "--out", out, *(x for m in snapshots for x in ("--snapshot", m))])  # fmt: skip
    return out


def score(work: Path, python: Path, test: str, model: str, peer_dir: Path) -> list[Path]:
    """Both models' scores on one test set (once): their evaluation dirs."""
    data, evals = work / "data" / TESTS[test] / "test", work / "eval" / TESTS[test]
    ours, peer = evals / "vaesep", evals / "open-unmix"
    if not (ours / "summary.json").is_file():
        _run([*VAESEP, "evaluate", "--model", model, "--data", data, "--out-dir", ours,
              "--label", "vaesep", "--examples", "0", "--force"])  # fmt: skip
    if not (peer / "summary.json").is_file():
        separated = work / "separated" / TESTS[test]
        _run([python, ROOT / "benchmarks/openunmix_peer.py", "separate", "--model",
              peer_dir, "--scp", data / "wav.scp", "--out", separated])  # fmt: skip
        _run([*VAESEP, "evaluate", "--separated", separated, "--data", data, "--out-dir", peer,
              "--label", "open-unmix", "--examples", "0", "--force"])  # fmt: skip
    return [ours, peer]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="recipes/pretrained/conf/rnn_mask_librispeech.yaml")
    parser.add_argument("--set", action="append", default=[], help="vaesep config override")
    parser.add_argument("--cpu-minutes", type=float, help="the peer's budget (default: ours)")
    parser.add_argument("--pools", action="store_true", help="the peer learns from the pools")
    parser.add_argument("--hold-out", type=float, default=0.1,
                        help="with --pools, leave out our validation speakers")  # fmt: skip
    parser.add_argument("--ours", help="a trained model to score instead of training --config")
    parser.add_argument("--ours-cpu-minutes", type=float, help="--ours's training CPU time")
    parser.add_argument("--peer", type=Path, help="a trained peer model dir to score")
    parser.add_argument("--snapshot", type=float, action="append", default=[],
                        help="also keep the peer after this many CPU minutes")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("/tmp/vaesep-peers"))
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-peers")
    parser.add_argument(
        "--out", type=Path, default=ROOT / f"benchmarks/results/peers-{date.today()}.md"
    )
    args = parser.parse_args()
    if args.ours and not args.ours_cpu_minutes:
        parser.error("--ours needs --ours-cpu-minutes: the CPU time it was trained in")
    python = check_venv(args.venv)
    work = args.work.resolve()
    recipe = ROOT / "recipes/pretrained/run.sh"
    _run(["bash", recipe, "--stage", "0", "--stop_stage", "1", "--data", work / "data",
          "--exp", work / "exp"])  # fmt: skip
    if args.ours:
        model, ours = args.ours, {"cpu_s": args.ours_cpu_minutes * 60}
        trained = f"- vaesep `{args.ours}` (trained before): {args.ours_cpu_minutes:.1f} CPU min"
    else:
        model = work / "ours"
        ours = train_ours(work, str(Path(args.config).resolve()), args.set)
        trained = (
            f"- vaesep `{args.config}` {' '.join(args.set)}: {ours['cpu_s'] / 60:.1f} CPU min "
            f"({ours['wall_s'] / 60:.1f} min wall)"
        )
    budget = args.cpu_minutes or ours["cpu_s"] / 60
    peer_dir = args.peer or train_peer(
        work, python, budget, args.pools, args.snapshot, args.hold_out
    )
    peer = json.loads((peer_dir / "train.json").read_text())
    data = "both corpora's speaker pools" if args.pools else "LibriSpeech's 251 utterances"
    lines = [
        f"# vaesep against open-unmix 1.3.0 (same data: {data}; same CPU time)", "",
        f"`python -m benchmarks.peers {' '.join(sys.argv[1:])}` ({date.today()})", "",
        trained,
        f"- open-unmix (2 targets, {peer['parameters'] / 1e6:.2f} M weights each): "
        f"{peer['cpu_s'] / 60:.1f} CPU min ({peer['wall_s'] / 60:.1f} min wall), "
        f"{peer['steps']} steps of {peer['batch']} x {peer['crop_s']:g} s "
        f"({peer['mixture_hours']:.1f} h of mixtures)", "",
    ]  # fmt: skip
    for test in TESTS:
        dirs = score(work, python, test, str(model), peer_dir)
        report = work / "report" / TESTS[test]
        judge = ["--claim", "vaesep>open-unmix:sdr", "--claim", "vaesep>open-unmix:si_sdr"]
        _run([*VAESEP, "report", *dirs, "--out-dir", report, "--force", *judge])
        text = (report / "RESULTS.md").read_text().splitlines()
        table = [r for r in text if r.startswith("|")]
        verdicts = [r for r in text if r.startswith("- vaesep >")]
        lines += [f"## {test}, female+male at 0 dB", "", *table, "", *verdicts, ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
