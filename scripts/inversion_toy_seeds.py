"""NaturalInversion vs DeepInversion on the toy teacher over seeds: equal iterations and
equal compute (docs/inversion.md, "The toy preset").

Runs (or, with --aggregate, only reads) for each seed::

    studio eval inversion-comparison --out OUT/eqit_s{seed} --preset toy        # NI, DI, noise
        --num-images 100 --batch-size 50 --distill-epochs 60 ...                # 80 it each
    studio eval inversion-comparison --out OUT/eqcpu_s{seed} --preset toy \\
        --methods deep --deep-iterations N ...                                  # DI, N it

and prints one markdown table, mean ± sd over the seeds, of the teacher's top-1 on the
synthetic images, the synthesis CPU time per 100 images and the distilled student's real
top-1. Usage::

    OMP_NUM_THREADS=1 python scripts/inversion_toy_seeds.py --out /tmp/inv --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

COMMON = ["--batch-size", "50", "--preset", "toy",
          "--distill-epochs", "60", "--distill-eval-every", "10", "--distill-batch-size", "32",
          "--device", "cpu"]


def run(out: Path, seed: int, deep_iterations: int, num_images: int = 100) -> None:
    real = out / "eqit_s0" / "toyworld"
    base = [sys.executable, "-m", "studio", "eval", "inversion-comparison", *COMMON,
            "--num-images", str(num_images), "--seed", str(seed)]
    if seed != 0 or real.is_dir():
        base += ["--real", str(real)]
    if not (out / f"eqit_s{seed}" / "comparison.json").is_file():
        subprocess.run([*base, "--out", str(out / f"eqit_s{seed}")], check=True)
        if "--real" not in base:
            base += ["--real", str(real)]
    if deep_iterations and not (out / f"eqcpu_s{seed}" / "comparison.json").is_file():
        subprocess.run([*base, "--out", str(out / f"eqcpu_s{seed}"), "--methods", "deep",
                        "--deep-iterations", str(deep_iterations)], check=True)


def _ms(xs: list[float], scale: float = 1.0, digits: int = 1) -> str:
    if not xs:
        return "—"
    m = statistics.mean(xs) * scale
    sd = statistics.stdev(xs) * scale if len(xs) > 1 else 0.0
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def aggregate(out: Path, seeds: list[int]) -> str:
    rows: dict[str, dict[str, list[float]]] = {}
    iters: dict[str, int] = {}
    for seed in seeds:
        for kind in ("eqit", "eqcpu"):
            f = out / f"{kind}_s{seed}" / "comparison.json"
            if not f.is_file():
                continue
            summary = json.loads(f.read_text())
            prm = summary["params"]
            for r in summary["rows"]:
                key = r["method"] if kind == "eqit" else "deep (equal compute)"
                it = (prm.get("deep_iterations") if kind == "eqcpu" else prm.get("iterations"))
                iters[key] = 0 if r["method"] == "noise" else (it or 80)
                d = rows.setdefault(key, {"teacher": [], "cpu100": [], "student": [],
                                          "best": [], "teacher_real": []})
                d["teacher"].append(r["teacher_acc_on_synthetic"])
                d["cpu100"].append(r["synth_cpu_s"] * 100 / max(1, r["num_images"]))
                d["student"].append(r["student_final_real_acc"])
                d["best"].append(r["student_best_real_acc"])
                d["teacher_real"].append(r["teacher_real_acc"])
    lines = ["| synthesis | iterations | seeds | teacher top-1 on the images (%) | "
             "synthesis CPU-s / 100 images | student real top-1 (%) | best epoch (%) |",
             "|---|---|---|---|---|---|---|"]
    for key, d in rows.items():
        lines.append(f"| {key} | {iters[key]} | {len(d['student'])} | "
                     f"{_ms(d['teacher'], 100)} | {_ms(d['cpu100'], 1, 0)} | "
                     f"{_ms(d['student'], 100)} | {_ms(d['best'], 100)} |")
    teacher = [x for d in rows.values() for x in d["teacher_real"]]
    if teacher:
        lines.append(f"\nteacher real top-1: {statistics.mean(teacher) * 100:.1f} %")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--deep-iterations", type=int, default=145,
                    help="DeepInversion iterations at NaturalInversion's compute (80 it); "
                    "0: equal iterations only")
    ap.add_argument("--num-images", type=int, default=100,
                    help="synthetic images per method and seed (the issue allows <= 1000)")
    ap.add_argument("--aggregate", action="store_true", help="only read finished runs")
    a = ap.parse_args()
    if not a.aggregate:
        for seed in a.seeds:
            run(a.out, seed, a.deep_iterations, a.num_images)
    print(aggregate(a.out, a.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
