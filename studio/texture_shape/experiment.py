"""The toy-world texture-bias experiment (Geirhos et al. 2019, in miniature).

1. the standard toy world (texture predicts the label 98 % of the time);
2. classifier A: the shipped teacher (or retrained) on that world — texture-biased;
3. a stylised copy of the training set (`build-stylized`, toy AdaIN, styles drawn at
   random from a pool of toy scenes with random textures): texture no longer predicts
   the label;
4. classifier B trained on the stylised set (same architecture and recipe);
5. cue-conflict stimuli (toy shapes x toy textures, AdaIN — and the procedural ones,
   drawn without any style transfer, as a cross-method check);
6. shape bias of A and B with per-category breakdown, and their top-1 on the
   *unstylised* test set.

The paper's direction: B's shape bias is clearly higher than A's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from studio.core.checkpoints import find_model
from studio.core.images import atomic_write
from studio.core.jobs import CancelToken, JobGen, Log, job_context, params_dict
from studio.datasets.readers import read_source
from studio.models.classifiers import load_classifier
from studio.texture_shape.params import ExperimentParams
from studio.toyworld.generate import SHAPES, ToyWorldParams, generate_job
from studio.toyworld.standard import SIZE, shapes_params, textures_params, world_params


def _adain_net(params: ExperimentParams):
    """The AdaIN that stylises B's training world: the given pair, else the shipped
    relu3_1 toy decoder (the stimuli come from the toy AdaIN at relu2_1: as in the paper,
    B is tested on another stylisation than it was trained on)."""
    from studio.adain import AdaINModel  # noqa: PLC0415 (engine: loaded when used)
    from studio.texture_shape.stylized import StyleNet  # noqa: PLC0415 (loaded when used)

    given = params.adain_encoder is not None
    enc, dec = ((params.adain_encoder, params.adain_decoder) if given else
                (find_model("toy-adain-encoder"), find_model("toy-adain-decoder-relu3_1")))
    return StyleNet.from_model(AdaINModel.from_files(enc, dec),
                               "given" if given else "toy relu3_1")


def test_accuracy(arch: str, weights: Path, world: Path, device: str | torch.device = "cpu",
                  batch_size: int = 256, splits: list[str] | None = ["test"]  # noqa: B006 (read only)
                  ) -> dict[str, float]:
    """Top-1 / top-5 (%) of a toy classifier on a folder's ``splits`` (default: the
    unstylised test split; None: every image), labels matched by class name."""
    from studio.trainer.trainer import topk_correct, transform  # noqa: PLC0415 (engine: loaded when used)

    clf = load_classifier(arch, weights, device=device)
    src = read_source(world)
    items = src.split(splits) if splits else src.items
    idx = {c: i for i, c in enumerate(clf.classes)}
    c1 = c5 = 0
    with torch.inference_mode():
        for b in range(0, len(items), batch_size):
            chunk = items[b:b + batch_size]
            x = torch.stack([transform(it.load(), clf.input_size, "none", False, None)
                             for it in chunk]).float().div(255).to(device)
            y = torch.tensor([idx[it.class_name] for it in chunk], device=device)
            a, b5 = topk_correct(clf.logits(x), y)
            c1, c5 = c1 + a, c5 + b5
    n = max(1, len(items))
    return {"top1": 100 * c1 / n, "top5": 100 * c5 / n, "count": len(items)}


def _train(params: ExperimentParams, data: Path, val: Path, out: Path, epochs: int,
           token: CancelToken) -> JobGen:
    from studio.trainer.trainer import TrainParams, train_job  # noqa: PLC0415 (engine: loaded when used)

    tp = TrainParams(data=[data], out=out, arch="toyvgg", val=val, classes=list(SHAPES),
                     epochs=epochs, batch_size=params.batch_size, lr=params.lr,
                     weight_decay=5e-4, warmup_epochs=0.3, image_size=64, augment="cifar",
                     workers=0, threads=params.threads, device=params.device,
                     seed=params.seed)
    result = yield from train_job(tp, token)
    return Path(result["model"])


def classifier_b_folder(params: ExperimentParams) -> str:
    """The folder under ``params.out`` that classifier B is trained into (one per way of
    making its training set, so runs with another pool never mix)."""
    if params.stylization != "adain":
        return "classifier_shuffled"
    return "classifier_stylized" if params.style_pool == "scene" else "classifier_stylized_textures"


def texture_bias_experiment(params: ExperimentParams, token: CancelToken | None = None
                            ) -> JobGen:
    """Run the whole experiment under ``params.out``; resumable step by step."""
    from studio.texture_shape.cue_conflict import (  # noqa: PLC0415 (loaded when used)
        CueConflictParams,
        ToyCueConflictParams,
        cue_conflict_job,
        toy_cue_conflict_job,
    )
    from studio.texture_shape.shape_bias import ShapeBiasParams, shape_bias_job  # noqa: PLC0415 (loaded when used)
    from studio.texture_shape.stylized import TOY_PRESET, StylizedParams, build_stylized  # noqa: PLC0415 (loaded when used)

    for a, b in (("adain_encoder", "adain_decoder"), ("stimuli_encoder", "stimuli_decoder")):
        if (getattr(params, a) is None) != (getattr(params, b) is None):
            raise ValueError(f"{a} and {b} go together: give both files or neither")
    token = job_context(token)
    out = Path(params.out)
    out.mkdir(parents=True, exist_ok=True)
    world = out / "toy" / "world"

    # 1. data
    yield Log("step 1/6: the standard toy world, shapes, textures and a style pool")
    styles = out / "toy" / ("styles" if params.style_pool == "texture" else "style_scenes")
    if params.style_pool == "texture":
        pool = textures_params(styles, per_class=params.style_per_class, seed=params.seed + 7)
    else:
        pool = ToyWorldParams(styles, per_class=params.style_per_class, size=SIZE,
                              seed=params.seed + 7, kind="scene",
                              shape_texture_correlation=1.0 / len(SHAPES))
    for p in (world_params(world, per_class=params.per_class,
                           test_per_class=params.test_per_class, seed=params.seed),
              shapes_params(out / "toy" / "shapes"), textures_params(out / "toy" / "textures"),
              pool):
        if not (Path(p.out) / "dataset.json").is_file():
            yield from generate_job(p, token)

    # 2. classifier A
    if params.retrain_teacher:
        yield Log("step 2/6: training classifier A on the texture-correlated world")
        model_a = out / "classifier_texture" / "model.pth"
        if not (out / "classifier_texture" / "train.json").is_file():  # else done
            model_a = yield from _train(params, world, world, out / "classifier_texture",
                                        params.teacher_epochs, token)
    else:
        model_a = find_model("toy-teacher")
        yield Log(f"step 2/6: classifier A = the shipped teacher {model_a}")

    # 3. stylised training set (not needed when classifier B is given)
    if params.stylized_model is not None:
        stylized = Path(params.stylized_model).parent
        yield Log("step 3/6: skipped (classifier B given)")
    elif params.stylization == "texture-shuffle":
        stylized = out / "texture_shuffled"
        yield Log("step 3/6: re-drawing the training world with uniformly random textures "
                  "(texture-shuffle, no style transfer)")
        if not (stylized / "dataset.json").is_file():
            shuffled = dataclasses.replace(
                world_params(stylized, per_class=params.per_class, seed=params.seed),
                shape_texture_correlation=1.0 / len(SHAPES), splits=["train"],
                test_per_class=None)
            yield from generate_job(shuffled, token)
    else:
        stylized = out / ("stylized" if params.style_pool == "scene" else "stylized_textures")
        net = _adain_net(params)
        yield Log(f"step 3/6: stylising the training set with AdaIN ({net.name})")
        if not (stylized / "dataset.json").is_file():
            sp = StylizedParams(**{**TOY_PRESET, "content": world,
                                   "styles": styles, "out": stylized,
                                   "splits": ["train"], "device": params.device,
                                   "seed": params.seed, "workers": 0})
            yield from build_stylized(sp, token, net=net)

    # 4. classifier B
    if params.stylized_model is not None:
        model_b = Path(params.stylized_model)
        yield Log(f"step 4/6: classifier B = {model_b}")
    else:
        b_dir = out / classifier_b_folder(params)
        model_b = b_dir / "model.pth"
        yield Log(f"step 4/6: training classifier B on {stylized.name}")
        if not (b_dir / "train.json").is_file():  # else done
            model_b = yield from _train(params, stylized, world, b_dir, params.epochs, token)

    # 5. stimuli
    yield Log("step 5/6: cue-conflict stimuli")
    stimuli: dict[str, Path] = {}
    if "adain" in params.methods:
        cc = out / "cue_conflict_adain"
        if not (cc / "dataset.json").is_file():
            cp = CueConflictParams(shapes=out / "toy" / "shapes",
                                   textures=out / "toy" / "textures", out=cc, size=64,
                                   vgg=params.stimuli_encoder,
                                   decoder=params.stimuli_decoder,
                                   model="toy", device=params.device, seed=params.seed)
            yield from cue_conflict_job(cp, token)
        stimuli["adain"] = cc
    if "procedural" in params.methods:
        cc = out / "cue_conflict_procedural"
        if not (cc / "dataset.json").is_file():
            yield from toy_cue_conflict_job(ToyCueConflictParams(out=cc, per_pair=4), token)
        stimuli["procedural"] = cc

    # 6. evaluation
    yield Log("step 6/6: shape bias and test accuracy")
    b_name = ("stylised-trained (B)" if params.stylization == "adain"
              else "texture-shuffled (B)")
    models = {"texture-trained (A)": model_a, b_name: model_b}
    report: dict = {"params": params_dict(params), "models": {k: str(v) for k, v in
                                                              models.items()}}
    report["test_accuracy"] = {k: test_accuracy("toyvgg", v, world, "cpu")
                               for k, v in models.items()}
    report["shape_bias"] = {}
    for method, folder in stimuli.items():
        res = yield from shape_bias_job(ShapeBiasParams(
            stimuli=folder, out=out / f"shape_bias_{method}",
            models=[f"toyvgg={v}" for v in models.values()], names=list(models),
            device=params.device), token)
        report["shape_bias"][method] = {
            name: {"shape_bias": s["shape_bias"],
                   "shape_decision_share": s["shape_decision_share"],
                   "texture_decision_share": s["texture_decision_share"],
                   "other_decision_share": s["other_decision_share"],
                   "n_conflict": s["n_conflict"], "model_vs_human": s.get("model_vs_human"),
                   "per_category": {c: v["shape_bias"] for c, v in s["per_category"].items()}}
            for name, s in res["summaries"].items()}
        report.setdefault("plots", {})[method] = res["plots"]
    for name, acc in report["test_accuracy"].items():
        sb = {m: report["shape_bias"][m][name]["shape_bias"] for m in report["shape_bias"]}
        yield Log(f"{name}: test top-1 {acc['top1']:.1f}%, shape bias " + ", ".join(
            f"{m} {v:.3f}" if v is not None else f"{m} n/a" for m, v in sb.items()))
    with atomic_write(out / "experiment.json") as fh:
        fh.write(json.dumps(report, indent=1, default=str).encode())
    report["out"] = str(out)
    return report
