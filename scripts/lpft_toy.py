"""LP, FT and LP-FT (Kumar et al., ICLR 2022) in the toy world: docs/texture_bias.md.

    python scripts/lpft_toy.py OUT [--seeds 0 1 2] [--epochs 4] [--lr 0.4] [--per-class 100]

The pretrained model is the shipped toy teacher (trained on the texture-correlated toy
world). The downstream task is the *stylised* toy world (ID: its test split); the OOD sets
are AdaIN cue-conflict stimuli (a shape wearing another category's texture, labelled by
shape) and the toy world re-drawn with textures independent of the shape. Every mode
trains with `studio train classifier` settings only (`--init` the teacher, `--new-head`
for FT as in the paper, `--mode`); the table is mean ± sd over the seeds. Resumable: a
finished run (train.json) is not redone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import torch

from studio.core.checkpoints import find_model
from studio.core.jobs import drive
from studio.texture_shape.cue_conflict import CueConflictParams, cue_conflict_job
from studio.texture_shape.experiment import _adain_net, test_accuracy
from studio.texture_shape.params import ExperimentParams
from studio.texture_shape.stylized import TOY_PRESET, StylizedParams, build_stylized
from studio.toyworld.generate import SHAPES, ToyWorldParams, generate_job
from studio.toyworld.standard import SIZE, shapes_params, textures_params, world_params
from studio.trainer.trainer import TrainParams, train_job

MODES = ("linear-probe", "finetune", "lp-ft")
SETS = ("stylised test (ID)", "cue-conflict, shape label (OOD)", "texture-shuffled (OOD)",
        "original toy world test")


def make_data(out: Path, per_class: int, test_per_class: int) -> dict[str, Path]:
    """The toy world, its stylised copy (train + test) and the two OOD sets."""
    world, styles, stylised = out / "world", out / "style_scenes", out / "stylised"
    shuffled, cc = out / "texture_shuffled", out / "cue_conflict"
    jobs = [world_params(world, per_class=per_class, test_per_class=test_per_class),
            ToyWorldParams(styles, per_class=20, size=SIZE, seed=7, kind="scene",
                           shape_texture_correlation=1.0 / len(SHAPES)),
            dataclasses.replace(world_params(shuffled, per_class=test_per_class, seed=11),
                                shape_texture_correlation=1.0 / len(SHAPES), splits=["test"],
                                test_per_class=None),
            shapes_params(out / "shapes"), textures_params(out / "textures")]
    for p in jobs:
        if not (Path(p.out) / "dataset.json").is_file():
            drive(generate_job(p))
    if not (stylised / "dataset.json").is_file():
        sp = StylizedParams(**{**TOY_PRESET, "content": world, "styles": styles,
                               "out": stylised, "splits": ["train", "test"], "seed": 0,
                               "workers": 0, "device": "cpu"})
        drive(build_stylized(sp, None, net=_adain_net(ExperimentParams(out=out))))
    if not (cc / "dataset.json").is_file():
        drive(cue_conflict_job(CueConflictParams(
            shapes=out / "shapes", textures=out / "textures", out=cc, size=SIZE, model="toy",
            include_same_category=False, device="cpu", seed=0)))
    return {"world": world, "stylised": stylised, "sets": {
        SETS[0]: (stylised, ["test"]), SETS[1]: (cc, None), SETS[2]: (shuffled, ["test"]),
        SETS[3]: (world, ["test"])}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.4, help="base lr (x batch / 256)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--test-per-class", type=int, default=30)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = make_data(a.out, a.per_class, a.test_per_class)
    teacher = find_model("toy-teacher")
    results: dict[str, dict[str, list[float]]] = {m: {s: [] for s in SETS} for m in MODES}
    results["teacher (no training)"] = {
        name: [test_accuracy("toyvgg", teacher, folder, splits=splits)["top1"]]
        for name, (folder, splits) in data["sets"].items()}
    for seed in a.seeds:
        for mode in MODES:
            # the probe has no learning rate: one run serves every --lr
            run = a.out / (f"{mode}-s{seed}" if mode == "linear-probe" else
                           f"{mode}-lr{a.lr:g}-s{seed}")
            if not (run / "train.json").is_file():
                drive(train_job(TrainParams(
                    data=[data["stylised"]], out=run, arch="toyvgg", classes=list(SHAPES),
                    init=teacher, mode=mode, new_head=True, epochs=a.epochs, batch_size=64,
                    lr=a.lr, weight_decay=5e-4, warmup_epochs=0.3, image_size=SIZE,
                    augment="cifar", workers=0, threads=1, device="cpu", seed=seed)))
            for name, (folder, splits) in data["sets"].items():
                results[mode][name].append(
                    test_accuracy("toyvgg", run / "model.pth", folder, splits=splits)["top1"])
            print(mode, seed, {k: round(v[-1], 1) for k, v in results[mode].items()},
                  flush=True)
    (a.out / f"lpft-lr{a.lr:g}.json").write_text(json.dumps({"args": {k: str(v) for k, v in
                                                          vars(a).items()},
                                                 "top1": results}, indent=1))
    print("| mode | " + " | ".join(SETS) + " |")
    print("|---|" + "---|" * len(SETS))
    for m in results:
        cells = []
        for s in SETS:
            xs = results[m][s]
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            cells.append(f"{statistics.fmean(xs):.1f} ± {sd:.1f}")
        print(f"| {m} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
