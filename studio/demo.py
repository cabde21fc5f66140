"""`studio demo`: the toy-world experiment, end to end, on a CPU.

So far it generates the toy world (train/test scenes, shape and texture sets for
cue-conflict stimuli) and reports what it made; the engine stages are added as they land.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from studio.core.jobs import run_job
from studio.toyworld.generate import ToyWorldParams, generate_job


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    quick = bool(args.quick)
    seed = getattr(args, "seed", None) or 0
    quiet = bool(getattr(args, "quiet", False))
    t0 = time.time()
    metrics: dict = {"seed": seed, "quick": quick}
    n = 20 if quick else 100
    for name, kind, splits, per in (("world", "scene", ["train", "test"], n),
                                    ("shapes", "shape", None, 4),
                                    ("textures", "texture", None, 3)):
        params = ToyWorldParams(out / "toyworld" / name, per_class=per, size=64, seed=seed,
                                kind=kind, splits=splits, test_per_class=max(4, n // 4))
        summary = run_job(generate_job(params), progress=None if not quiet else False,
                          verbose=not quiet)
        metrics[f"toyworld_{name}_images"] = summary["num_items"]
    metrics["seconds"] = round(time.time() - t0, 2)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print("studio demo (toy world):")
    for k, v in metrics.items():
        print(f"  {k}: {v}")
    print(f"outputs in {out}")
    return 0
