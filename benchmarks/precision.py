"""SDR/SIR/SAR of every reduced precision and backend against fp32, on both recipes' test sets.

    python -m benchmarks.precision [--sets timit_mf librispeech_mf] [--out benchmarks/results]

For every trained per-source network model of each recipe (``recipes/SET/exp/MODEL``) it scores
the test mixtures (``recipes/SET/data/mixtures/test``) as ``vaesep evaluate --model ...
--jobs 1 --examples 0`` does, once per way of running the networks: torch fp32, torch bf16,
onnxruntime fp32 and onnxruntime int8; ``published`` is the recipe's ``exp/MODEL/eval``. A
model that cannot run on onnxruntime shows its one-line reason instead of those columns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path

from benchmarks.roofline import VARIANTS
from vaesep.errors import VaesepError
from vaesep.scoring.evaluation import evaluate
from vaesep.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("vae", "beta_vae", "itl_ae", "vae_tuned", "rnn_mask", "vrnn", "cdae", "class_vae")
WAYS = {"fp32": {}, **dict(VARIANTS)}  # label: Separator options (the roofline's, and fp32)
METRICS = ("sdr", "sir", "sar")


def score(exp: Path, data: Path, options: dict) -> dict[str, float] | str:
    """Mean metrics of ``exp`` on ``data`` run with ``options``, or why it cannot run."""
    try:
        separator = Separator.from_dir(exp, **options)
    except VaesepError as exc:
        return str(exc)
    with tempfile.TemporaryDirectory() as out:
        summary = evaluate(separator, data, out, jobs=1, keep_examples=0)
    return {m: summary[m] for m in METRICS}


def bench_precision(sets: list[str]) -> dict:
    """Every model's scores on every set, each way."""
    results = {}
    for name in sets:
        recipe = ROOT / "recipes" / name
        data = recipe / "data" / "mixtures" / "test"
        for model in MODELS:
            exp = recipe / "exp" / model
            if not (exp / "config.yaml").is_file():
                continue
            published = json.loads((exp / "eval" / "summary.json").read_text())
            row = {"published": {m: published[m] for m in METRICS}}
            row.update({way: score(exp, data, options) for way, options in WAYS.items()})
            results[f"{name}/{model}"] = row
            print(name, model, {w: r if isinstance(r, str) else r["sdr"] for w, r in row.items()})
    return results


def markdown(results: dict) -> str:
    """The table: fp32 SDR, then each other way's difference from it."""
    lines = [
        "| set | model | published SDR | fp32 SDR | bf16 − fp32 SDR | onnxruntime fp32 − fp32 "
        "SDR | int8 − fp32: SDR | SIR | SAR |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, row in results.items():
        name, model = key.split("/")
        fp32 = row["fp32"]

        def delta(way: str, metric: str, row: dict = row, fp32: dict = fp32) -> str:
            if isinstance(row[way], str):
                return "refused"
            return f"{row[way][metric] - fp32[metric]:+.3f}"

        lines.append(
            f"| {name} | {model} | {row['published']['sdr']:.3f} | {fp32['sdr']:.3f} | "
            f"{delta('bf16', 'sdr')} | {delta('ort_fp32', 'sdr')} | "
            f"{' | '.join(delta('int8', m) for m in METRICS)} |"
        )
    refused = {row["int8"] for row in results.values() if isinstance(row["int8"], str)}
    lines += ["", *(f"refused: {reason}" for reason in sorted(refused))]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=["timit_mf", "librispeech_mf"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    results = bench_precision(args.sets)
    stamp = dt.datetime.now().strftime("%Y-%m-%d")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"precision-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    header = (
        f"# Precisions and backends against fp32, both test sets ({stamp})\n\n"
        f"`python -m benchmarks.precision --sets {' '.join(args.sets)}` (see its docstring)\n\n"
    )
    (args.out / f"precision-{stamp}.md").write_text(header + text)
    print(text, end="")


if __name__ == "__main__":
    main()
