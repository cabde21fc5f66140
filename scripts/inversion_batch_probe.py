"""One synthesis batch of the toy teacher with given settings: loss trajectory, CPU time,
teacher top-1 on the kept 8-bit images (the probe behind docs/inversion.md's toy preset).

    OMP_NUM_THREADS=1 GSEED=0 BATCH=0 python scripts/inversion_batch_probe.py natural 60 50 \
        "r_feature=0.02,first_bn_multiplier=10,var_scale=1e-4,l2_scale=1e-5"

Arguments: method (natural|deep), iterations, batch size, config overrides as Python
keyword arguments. GSEED/BATCH pick the batch seed the way `studio synthesize` derives it
(labels: image i is class i % 10, as batch 0 of a run).
"""

from __future__ import annotations

import ast
import os
import sys
import time

import torch

from studio.core.seeding import derive_seed
from studio.inversion.deep import DeepInversion, DeepInversionConfig
from studio.inversion.natural import NaturalInversion, NaturalInversionConfig
from studio.models.teachers import load_teacher


def overrides(text: str) -> dict:
    """``"a=1,b=(0.5, 0.9)"`` -> {"a": 1, "b": (0.5, 0.9)} (literals only)."""
    call = ast.parse(f"f({text})", mode="eval").body
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}  # type: ignore[attr-defined]


def main() -> int:
    torch.set_num_threads(1)
    method, iters, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    kw = overrides(sys.argv[4]) if len(sys.argv) > 4 else {}
    seed = derive_seed(int(os.environ.get("GSEED", "0")), "batch", int(os.environ.get("BATCH", "0")))
    t = load_teacher("toy")
    labels = torch.arange(bs) % 10
    if method == "natural":
        e = NaturalInversion(t, labels, NaturalInversionConfig(iterations=iters, **kw), seed)
    else:
        e = DeepInversion(t, labels, DeepInversionConfig(iterations=iters, **kw), seed)
    c0 = time.process_time()
    for i in range(iters):
        terms = e.step()
        if i % max(1, iters // 5) == 0 or i == iters - 1:
            print(i, {k: round(v, 3) for k, v in terms.items()}, flush=True)
    cpu = time.process_time() - c0
    best = e.best()
    img = (t.denormalize(best).clamp(0, 1) * 255).round() / 255
    with torch.no_grad():
        acc = (t.model(t.normalize(img)).argmax(1) == labels).float().mean().item()
        raw = (t.model(best).argmax(1) == labels).float().mean().item()
    clipped = (t.denormalize(best) - t.denormalize(best).clamp(0, 1)).ne(0).float().mean().item()
    print(f"{method} {kw} iters={iters} bs={bs} cpu={cpu:.1f}s per-it={cpu / iters:.3f}s "
          f"acc={acc:.3f} (unclipped {raw:.3f}, {clipped:.0%} of pixels clipped) "
          f"cpu/100img={cpu / bs * 100:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
