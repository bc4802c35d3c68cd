"""Quality, speed and memory of vaesep and its baselines, in one command.

    python -m benchmarks [--quick] [--librispeech PATH] [--out benchmarks/results]

Writes ``<out>/<date>.json`` and ``<out>/<date>.md`` and prints the Markdown tables. Speed
figures are ratios measured within one run (these machines are noisy); every result records
the core count, library versions and git commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.roofline import bench_roofline, best_time
from benchmarks.roofline import markdown as roofline_markdown
from vaesep import __version__
from vaesep.data.corpora import load_corpus
from vaesep.data.corpora.synth import synth_corpus
from vaesep.data.mixing import MixOptions, parse_crop
from vaesep.data.preparation import prepare_mixtures
from vaesep.features import Stft
from vaesep.registry import load_config
from vaesep.scoring.evaluation import evaluate
from vaesep.separation.loading import load_separator
from vaesep.separation.oracle_separator import OracleSeparator
from vaesep.separation.separator import Separator
from vaesep.training.experiment import train

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("vae", "beta_vae", "itl_ae", "vae_tuned", "rnn_mask", "vrnn", "nmf", "oracle_irm",
          "oracle_wiener", "oracle_ibm")  # fmt: skip
NEURAL = ("vae", "beta_vae", "itl_ae", "vae_tuned", "rnn_mask", "vrnn")


def environment() -> dict:
    """Machine, versions and commit the figures were measured with."""
    import librosa
    import mir_eval

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {
            "vaesep": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "librosa": librosa.__version__,
            "mir_eval": mir_eval.__version__,
        },
        "commit": commit,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def make_corpora(work: Path, librispeech: Path | None, quick: bool) -> dict[str, Path]:
    """The built-in corpus (cached under ``work``) and, when given, LibriSpeech mixtures."""
    counts = {"num_train": 40 if quick else 80, "num_test": 10}
    out = {}
    synth = work / "synth"
    if not (synth / "corpus.json").is_file():
        synth_corpus(synth, force=True)
    out["built-in"] = _mixtures(work / "synth_mf", "timit", synth, MixOptions(**counts))
    if librispeech is not None and (librispeech / "SPEAKERS.TXT").is_file():
        options = MixOptions(**counts, crop=parse_crop("2-4"))
        readers = {"train_subsets": ["train-clean-100"], "test_subsets": ["test-other"]}
        out["librispeech"] = _mixtures(
            work / "libri_mf", "librispeech", librispeech, options, **readers
        )
    return out


def _mixtures(out: Path, kind: str, root: Path, options: MixOptions, **reader) -> Path:
    if not (out / "prepare.json").is_file():
        options.force = True
        prepare_mixtures(load_corpus(kind, root, **reader), out, options)
    return out


def bench_quality(data: Path, work: Path, quick: bool) -> dict:
    """Train and score every model on one corpus; training wall time and frames per second.

    A model whose STFT differs from the baselines' (e.g. vae_tuned) is also compared with NMF
    and the oracle ratio mask at its own STFT (rows ``nmf@W/O`` and ``oracle_irm@W/O``).
    """
    results = {}
    for name in MODELS:
        if (ROOT / "configs" / f"{name}.yaml").is_file():
            results[name] = _train_and_score(name, name, [], data, work, quick)
    base = _stft("oracle_irm")
    suffix: dict[str, str] = {}  # a model's baselines: nmf<suffix>, oracle_irm<suffix>
    for name in [n for n in NEURAL if n in results and _stft(n) != base]:
        window, overlap = _stft(name)
        suffix[name] = f"@{window:g}/{overlap:g}"
        sets = [f"features.window_ms={window}", f"features.overlap_ms={overlap}"]
        for baseline in ("nmf", "oracle_irm"):
            if baseline + suffix[name] not in results:
                row = _train_and_score(baseline, baseline + suffix[name], sets, data, work, quick)
                results[baseline + suffix[name]] = row
    for name, row in results.items():
        _, at, stft = name.partition("@")  # a baseline row at another STFT: its own baselines
        own = suffix.get(name, at + stft)
        oracle = results.get(f"oracle_irm{own}", {}).get("sdr")
        nmf = results.get(f"nmf{own}", {}).get("sdr")
        row["sdr_vs_oracle_irm"] = round(row["sdr"] / oracle, 3) if oracle and row["sdr"] else None
        row["sdr_minus_nmf"] = round(row["sdr"] - nmf, 2) if nmf is not None else None
    return results


def _stft(config: str) -> tuple[float, float]:
    """(window_ms, overlap_ms) of a config in configs/."""
    features = load_config(ROOT / "configs" / f"{config}.yaml").features
    return features.window_ms, features.overlap_ms


def _train_and_score(
    config: str, name: str, sets: list[str], data: Path, work: Path, quick: bool
) -> dict:
    overrides = ["training.progress=false", *sets] + (["training.epochs=8"] * quick)
    cfg = load_config(ROOT / "configs" / f"{config}.yaml", overrides)
    exp = work / name.replace("/", "-")
    started = time.perf_counter()
    summary = train(cfg, data / "train", exp, force=True)
    train_s = time.perf_counter() - started
    frames = sum(s.get("train_frames", 0) * s.get("epochs_run", 0)
                 for s in summary["sources"].values())  # fmt: skip
    scores = evaluate(load_separator(exp), data / "test", exp / "eval", force=True)
    return {
        "train_s": round(train_s, 2),
        "train_frames_per_s": round(frames / train_s) if frames else None,
        **{k: scores.get(k) for k in ("sdr", "sir", "sar", "si_sdr", "sdri", "si_sdri")},
        "mixture_sdr": scores.get("mixture", {}).get("sdr"),
    }


def _dsp_floor(stft: Stft, x: torch.Tensor) -> float:
    """Time of STFT → identity mask → iSTFT of ``x``: what any mask-based separator must pay."""
    return best_time(lambda: stft.istft(stft.stft(x) * 1.0, len(x)).cpu())


def bench_separation(exp_root: Path, seconds: float = 60.0, device: str = "cpu") -> dict:
    """Real-time factor of each model on a 60 s mixture, and its ratio to the DSP floor of its
    own STFT setting."""
    rng = np.random.default_rng(0)
    signal = (0.05 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    results = {}
    floors: dict[tuple[int, int], float] = {}
    for name in MODELS:
        exp = exp_root / name
        if not (exp / "config.yaml").is_file():
            continue
        sep = load_separator(exp, device=device)
        if isinstance(sep, OracleSeparator):
            continue
        features = sep.config.features
        key = (features.win_length, features.hop_length)
        if key not in floors:
            floors[key] = _dsp_floor(Stft(features), torch.from_numpy(signal).to(device))
        took = best_time(lambda: sep.separate(signal, 16000))  # noqa: B023
        results[name] = {
            "seconds": round(took, 4),
            "x_realtime": round(seconds / took),
            "dsp_floor_s": round(floors[key], 4),
            "vs_dsp_floor": round(took / floors[key], 2),
        }
    return {"models": results}


def bench_scoring(data: Path, exp: Path, work: Path) -> dict:
    """Seconds per mixture of ``evaluate`` (separate + score) on the training mixtures (more
    of them than the test set: steadier figures), one process vs one per core."""
    sep = Separator.from_dir(exp)
    timings = {}
    for jobs in (1, os.cpu_count() or 1):
        started = time.perf_counter()
        summary = evaluate(sep, data / "train", work / f"eval_jobs{jobs}", jobs=jobs, force=True)
        timings[jobs] = (time.perf_counter() - started) / summary["num_utterances"]
    serial, parallel = timings[1], timings[max(timings)]
    return {
        "mixtures": summary["num_utterances"],
        "serial_s_per_mixture": round(serial, 3),
        "parallel_s_per_mixture": round(parallel, 3),
        "jobs": max(timings),
        "speedup": round(serial / parallel, 2),
    }


def _peak_rss_mb(code: str) -> float | None:
    """Peak RSS (MB) of a fresh Python process running ``code``."""
    probe = f"{code}\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return None
    return round(int(done.stdout.strip().splitlines()[-1]) / 1024, 1)


def bench_memory(exp: Path, librispeech: Path | None, work: Path) -> dict:
    """Peak RSS of separating a 1-hour mixture and of preparing + featurizing LibriSpeech."""
    out: dict = {}
    long_memory = ROOT / "benchmarks" / "long_memory.py"
    if long_memory.is_file():
        done = subprocess.run(
            [sys.executable, str(long_memory), "--model", str(exp), "--json"],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        if done.returncode == 0:
            out["separate_1h"] = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            out["separate_1h"] = {"error": done.stderr.strip().splitlines()[-1:]}
    if librispeech is not None:
        code = (
            "from vaesep.data.corpora import load_corpus\n"
            "from vaesep.data.mixing import MixOptions, parse_crop\n"
            "from vaesep.data.preparation import prepare_mixtures\n"
            "from vaesep.registry import load_config\n"
            "from vaesep.training.segments import load_stfts\n"
            f"c = load_corpus('librispeech', {str(librispeech)!r})\n"
            f"prepare_mixtures(c, {str(work / 'mem_libri')!r}, MixOptions(crop=parse_crop('2-4'),"
            " force=True))\n"
            f"load_stfts({str(work / 'mem_libri' / 'train')!r}, load_config(None))"
        )
        out["prepare_featurize_librispeech_mb"] = _peak_rss_mb(code)
    return out


def markdown(report: dict) -> str:
    """The report as Markdown tables."""
    env = report["environment"]
    lines = [
        f"# vaesep benchmark {env['date']}",
        "",
        f"{env['cores']} cores, torch {env['versions']['torch']} ({env['torch_threads']} threads),"
        f" commit {env['commit']}, GPU: {env['cuda'] or 'none (GPU figures skipped)'};"
        f" {'quick' if report['quick'] else 'full'} run, {report['seconds']:.0f} s.",
    ]
    for corpus, rows in report["quality"].items():
        lines += ["", f"## Quality and training time: {corpus} test set", "",
                  "| model | SDR | SIR | SAR | SI-SDR | SDRi | SDR − NMF | SDR / oracle IRM | "
                  "train s | frames/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        mix = next(iter(rows.values()), {}).get("mixture_sdr")
        lines.append(f"| mixture | {_f(mix)} | | | | 0.00 | | | | |")
        for name, r in rows.items():
            lines.append(
                f"| {name} | {_f(r['sdr'])} | {_f(r['sir'])} | {_f(r['sar'])} | "
                f"{_f(r['si_sdr'])} | {_f(r['sdri'])} | {_f(r['sdr_minus_nmf'])} | "
                f"{_f(r['sdr_vs_oracle_irm'])} | {r['train_s']:.1f} | "
                f"{r['train_frames_per_s'] or ''} |"
            )
        lines += [
            "",
            "SDR − NMF and SDR / oracle IRM compare each model with those baselines at "
            "its own STFT setting (rows `@window/overlap` for a model whose STFT differs).",
        ]
    for device, sep in report["separation"].items():
        lines += [
            "",
            f"## Separation speed ({device}, 60 s mixture; DSP floor = STFT → identity mask → "
            "iSTFT with the model's STFT setting)",
            "",
            "| model | seconds | × real time | DSP floor s | × DSP floor |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in sep["models"].items():
            lines.append(
                f"| {name} | {r['seconds']} | {r['x_realtime']} | {r['dsp_floor_s']} | "
                f"{r['vs_dsp_floor']} |"
            )
    lines += [
        "",
        "## Against this machine's limit (CPU, fp32)",
        "",
        roofline_markdown(report["roofline"]),
    ]
    s = report["scoring"]
    lines += ["", "## Evaluation (separate + BSS Eval, SI-SDR, PESQ/STOI if installed)", "",
              f"{s['mixtures']} mixtures: {s['serial_s_per_mixture']} s per mixture serial, "
              f"{s['parallel_s_per_mixture']} s with {s['jobs']} processes "
              f"(×{s['speedup']})."]  # fmt: skip
    m = report["memory"]
    lines += ["", "## Memory (peak RSS)", ""]
    for key, value in m.items():
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


def _f(value) -> str:
    return "" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and mixtures")
    parser.add_argument(
        "--librispeech", type=Path, default=ROOT.parent / "shared/data/LibriSpeech-subset"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--work", type=Path, default=None, help="cache dir (default: temporary)")
    args = parser.parse_args()
    started = time.perf_counter()
    librispeech = args.librispeech if (args.librispeech / "SPEAKERS.TXT").is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        corpora = make_corpora(work, librispeech, args.quick)
        quality = {c: bench_quality(d, work / f"exp_{c}", args.quick) for c, d in corpora.items()}
        exp_root = work / "exp_built-in"
        separation = {"cpu": bench_separation(exp_root)}
        trained = [exp_root / m for m in NEURAL if (exp_root / m / "config.yaml").is_file()]
        roofline = bench_roofline(trained)
        if torch.cuda.is_available():
            separation["cuda"] = bench_separation(exp_root, device="cuda")
        report = {
            "environment": environment(),
            "quick": args.quick,
            "quality": quality,
            "separation": separation,
            "roofline": roofline,
            "scoring": bench_scoring(corpora["built-in"], exp_root / "vae", work),
            "memory": bench_memory(exp_root / "vae", librispeech, work),
        }
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / f"{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
