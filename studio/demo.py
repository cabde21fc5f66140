"""`studio demo`: the toy-world experiment end to end on a CPU, with a report.

Stages (each a registered job, run exactly as `studio run <recipe>` would run it; the
recipe of every stage is saved under ``<out>/recipes/`` and quoted in the report, so every
number can be reproduced on its own):

1. generate the toy world (train/test scenes, shape silhouettes, texture patches);
2. stylise a few examples with the toy AdaIN (content x style grid, alpha sweep);
3. cue-conflict stimuli (AdaIN-made and procedural) and the shape bias of the
   texture-trained teacher vs the classifier trained on the stylised toy world;
4. NaturalInversion and DeepInversion synthesis from the teacher (plus Gaussian noise);
5. a student distilled on each synthetic set, accuracy on the real toy test set;
6. the teacher pruned and fine-tuned on synthetic data only;
7. a TSIT translation with the toy model.

It uses the shipped toy models (``studio/resources/toy/``) and retrains nothing unless asked
(``--retrain`` rebuilds them first, with the settings of ``studio/resources/toy/README.md``).
A stage that fails is reported (in the terminal and the report) and the rest go on;
the exit status is 1 when any stage failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio import __version__
from studio.core.checkpoints import resources_dir
from studio.core.images import image_grid, load_image
from studio.core.jobs import Log, run_job
from studio.recipes import save_recipe
from studio.report import Report
from studio.texture_shape import toy_quality


@dataclass(frozen=True)
class DemoSize:
    """How much work each stage does (``--quick`` keeps the whole demo under 2 minutes)."""

    train_per_class: int
    test_per_class: int
    shapes_per_class: int
    synth_images: int
    synth_batch: int
    synth_iterations: int
    distill_epochs: int
    sparsities: tuple[float, ...]
    prune_epochs: int


QUICK = DemoSize(train_per_class=10, test_per_class=20, shapes_per_class=1, synth_images=10,
                 synth_batch=10, synth_iterations=30, distill_epochs=60, sparsities=(0.3,),
                 prune_epochs=2)
#: Full size: docs/inversion.md's toy comparison (``--preset toy``, 80 iterations, 100
#: images per method) scaled to minutes (the paper: 2,000 iterations at batch 256, GPU).
FULL = DemoSize(train_per_class=20, test_per_class=100, shapes_per_class=4, synth_images=100,
                synth_batch=50, synth_iterations=80, distill_epochs=60, sparsities=(0.3, 0.5),
                prune_epochs=10)

#: Synthesis settings of the demo: the toy preset (a named deviation, docs/inversion.md).
SYNTH_PRESET = "toy"
#: The relu3_1 toy AdaIN's exemplar fine-tuning (it builds classifier B's world), the
#: relu2_1 toy AdaIN's two stages (studio/resources/toy/README.md), and classifier B's style pool:
#: bare texture patches, which those decoders put on the figure only.
ADAIN_EXEMPLAR_ITERATIONS = 10_000
ADAIN_ALPHA_ITERATIONS = 2_000
ADAIN_RELU2_ITERATIONS = 4_000
ADAIN_TEXTURE_ITERATIONS = 1_500
B_STYLE_POOL = "texture"


class Demo:
    def __init__(self, out: Path, size: DemoSize, seed: int, device: str, quiet: bool,
                 retrain: bool):
        self.out = out
        self.size = size
        self.seed = seed
        self.device = device
        self.quiet = quiet
        self.retrain = retrain
        self.metrics: dict[str, Any] = {"seed": seed, "version": __version__,
                                        "quick": size is QUICK, "stages": {}}
        self.report = Report(
            "Studio demo — the toy world",
            f"studio {__version__} · seed {seed} · device {device} · "
            f"{platform.machine()} · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        self.failed: list[str] = []
        self.toy = resources_dir() / "toy"
        self.world = out / "toyworld" / "world"

    # -- plumbing -------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def job(self, name: str, params: Any, label: str | None = None) -> Any:
        """Run a registered job like `studio run` would, after saving its recipe."""
        from studio.datasets.writers import FingerprintMismatch
        from studio.registry import get_job_type

        jt = get_job_type(name)
        recipe = save_recipe(self.out / "recipes" / f"{label or name}.toml", name, params)
        self.report.command(f"studio run {recipe}")
        try:
            return run_job(jt.fn(params, None), progress=None if not self.quiet else False,
                           verbose=False, on_event=self._on_event)
        except FingerprintMismatch as exc:
            # the demo owns its folder: a stage made with other settings (--quick before,
            # another Studio) is rebuilt, never resumed or mixed
            if not hasattr(params, "overwrite"):
                raise
            self.say(f"   {exc.out.name}: settings changed ({exc.diffs[0][0]}, ...): rebuilding")
            return run_job(jt.fn(dataclasses.replace(params, overwrite=True), None),
                           progress=None if not self.quiet else False, verbose=False,
                           on_event=self._on_event)

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, Log) and ev.level != "info" and not self.quiet:
            pass  # run_job already prints warnings and errors

    def stage(self, title: str, fn: Callable[[], dict | None]) -> None:
        self.report.section(title)
        self.say(f"\n== {title}")
        t0 = time.time()
        try:
            result = fn() or {}
            secs = time.time() - t0
            self.metrics["stages"][title] = {"ok": True, "seconds": round(secs, 1), **result}
            self.report.text(f"{secs:.1f} s", "muted")
        except Exception as exc:  # a failed stage is reported; the demo goes on
            secs = time.time() - t0
            self.failed.append(title)
            msg = f"{type(exc).__name__}: {exc}"
            self.metrics["stages"][title] = {"ok": False, "seconds": round(secs, 1),
                                             "error": msg}
            self.report.status(False, msg)
            self.report._add(f"<pre>{traceback.format_exc()[-3000:]}</pre>")
            print(f"   stage failed: {msg}", flush=True)

    def model(self, name: str) -> Path:
        """A shipped (or retrained) toy model file."""
        p = self.toy / name
        if not p.is_file():
            raise FileNotFoundError(f"{p}: toy model not found (run `studio demo --retrain` "
                                    "to rebuild the toy models)")
        return p

    # -- stages ---------------------------------------------------------------------------
    def s_world(self) -> dict:
        from studio.toyworld.standard import shapes_params, textures_params, world_params

        s = self.size
        root = self.out / "toyworld"
        counts = {}
        for name, p in (("world", world_params(root / "world", per_class=s.train_per_class,
                                               test_per_class=s.test_per_class)),
                        ("shapes", shapes_params(root / "shapes", per_class=s.shapes_per_class)),
                        ("textures", textures_params(root / "textures"))):
            counts[name] = self.job("toyworld", p, f"toyworld-{name}")["num_items"]
        samples = []
        for split_dir in sorted(d for d in (root / "world" / "test").iterdir() if d.is_dir())[:10]:
            samples.append(np.asarray(load_image(sorted(split_dir.glob("*.png"))[0])))
        self.report.text("Shapes are the labels; each shape wears its own texture 98 % of the "
                         "time in training, so texture is a shortcut — as on ImageNet.")
        self.report.image(image_grid(samples, ncols=10), "one test image per class", 640)
        self.report.table(["set", "images"], [[k, v] for k, v in counts.items()])
        self.say(f"   toy world: {counts}")
        return {"images": counts}

    def s_stylize(self) -> dict:
        import torch

        from studio.adain import AdaINModel, load_tensor, to_uint8

        model = AdaINModel.load_toy(self.toy).eval()
        shapes = sorted((self.out / "toyworld" / "shapes").rglob("*.png"))[:: max(
            1, self.size.shapes_per_class)][:4]
        textures = sorted((self.out / "toyworld" / "textures").rglob("*.png"))[::3][:4]
        c = torch.stack([load_tensor(p, size=0) for p in shapes])
        rows = [np.zeros((len(shapes) and c.shape[2], c.shape[3], 3), np.uint8) + 255]
        rows += [to_uint8(c[i:i + 1])[0] for i in range(len(shapes))]
        tiles = list(rows)
        for t in textures:
            s = load_tensor(t, size=0)[None]
            tiles.append(to_uint8(s)[0])
            with torch.inference_mode():
                out = model.stylize(c, s, alpha=1.0)
            tiles.extend(to_uint8(out))
        self.report.text("Top row: content silhouettes; first column: styles; the rest: AdaIN "
                         "(toy encoder derived from the teacher, decoder trained here).")
        self.report.image(image_grid(tiles, ncols=len(shapes) + 1), "toy AdaIN, alpha 1", 400)
        alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
        s = load_tensor(textures[0], size=0)[None]
        with torch.inference_mode():
            feats = model.encode_content(c[:1])
            stats = model.style_stats(s)
            sweep = [to_uint8(model.decode(model.target(feats, stats, alpha=a)))[0]
                     for a in alphas]
        self.report.image(image_grid(sweep, ncols=len(alphas)),
                          "alpha 0 → 1 (decoder only, features cached)", 400)
        quality = self._judged("toy AdaIN at alpha 1", toy_quality.adain_quality(model))
        return {"contents": len(shapes), "styles": len(textures), "quality": quality}

    def _judged(self, what: str, r: dict) -> dict:
        """Report what the project's two judges say of a style-transfer model's outputs on
        the fixed evaluation set (studio.texture_shape.toy_quality)."""
        self.report.text(f"{what}, judged on the fixed 10 x 10 evaluation set: the "
                         f"texture-blind shape classifier reads the content's shape in "
                         f"{r['shape_accuracy']:.0%} of the outputs, the shape-blind texture "
                         f"classifier the style's texture in {r['texture_accuracy']:.0%} "
                         f"(it reads mostly the palette), the colour-blind pattern "
                         f"classifier the style's pattern in {r['pattern_accuracy']:.0%}.")
        self.say(f"   {what}: shape kept {r['shape_accuracy']:.2f}, texture taken "
                 f"{r['texture_accuracy']:.2f}, pattern taken {r['pattern_accuracy']:.2f}")
        return {k: r[k] for k in ("shape_accuracy", "texture_accuracy", "pattern_accuracy")}

    def s_shape_bias(self) -> dict:
        from studio.texture_shape.cue_conflict import CueConflictParams, ToyCueConflictParams
        from studio.texture_shape.shape_bias import ShapeBiasParams
        from studio.toyworld.generate import SHAPES

        root = self.out / "cue-conflict"
        self.job("cue-conflict", CueConflictParams(
            shapes=self.out / "toyworld" / "shapes", textures=self.out / "toyworld" / "textures",
            out=root / "adain", method="adain", size=64, model="toy", device=self.device,
            seed=self.seed), "cue-conflict-adain")
        self.job("toy-cue-conflict", ToyCueConflictParams(out=root / "procedural"),
                 "cue-conflict-procedural")
        models = [f"toyvgg={self.model('teacher.pth')}",
                  f"toyvgg={self.model('classifier_stylized.pth')}"]
        names = ["teacher (toy world)", "stylised toy world"]
        result: dict[str, Any] = {}
        decisions: dict[str, Any] = {}
        for kind in ("adain", "procedural"):
            r = self.job("shape-bias", ShapeBiasParams(
                stimuli=root / kind, out=self.out / "shape-bias" / kind, models=models,
                names=names, classes=list(SHAPES), device=self.device, formats=["png", "svg"]),
                f"shape-bias-{kind}")
            result[kind] = r["shape_bias"]
            decisions[kind] = {n: {"shape": summ["shape_decision_share"],
                                   "texture": summ["texture_decision_share"],
                                   "other": summ["other_decision_share"]}
                               for n, summ in r["summaries"].items()}
            rows = []
            for n, summ in r["summaries"].items():
                rows.append([n, summ["shape_bias"], summ["shape_decision_share"],
                             summ["texture_decision_share"], summ["other_decision_share"],
                             summ["n_conflict"]])
            self.report.text(f"Stimuli: {kind} ({'AdaIN with the toy model' if kind == 'adain' else 'drawn procedurally: shape filled with another category texture'}).")
            self.report.table(["model", "shape bias", "shape", "texture", "other", "conflicts"],
                              rows)
            png = self.out / "shape-bias" / kind / "shape_bias.png"
            if png.is_file():
                self.report.image(png, f"shape-bias matrix plot ({kind} stimuli)", 520)
            self.say(f"   shape bias ({kind}): " + ", ".join(
                f"{n} {v:.2f}" if v is not None else f"{n} n/a" for n, v in r["shape_bias"].items()))
        sample = sorted((root / "adain").rglob("*.png"))[:: max(1, len(list(
            (root / "adain").rglob("*.png"))) // 20)][:20]
        if sample:
            self.report.image(image_grid([np.asarray(load_image(p)) for p in sample], ncols=10),
                              "AdaIN cue-conflict stimuli (shape of the folder, texture of "
                              "another category)", 640)
        return {"shape_bias": result, "decisions": decisions}

    def s_synthesize(self) -> dict:
        from studio.inversion.synthesize import SynthesizeParams

        s = self.size
        out = {}
        grids = []
        for method in ("natural", "deep", "noise"):
            r = self.job("synthesize", SynthesizeParams(
                out=self.out / "synthetic" / method, teacher=str(self.model("teacher.pth")),
                arch="toyvgg", method=method, num_images=s.synth_images,
                batch_size=s.synth_batch, preset=SYNTH_PRESET, iterations=s.synth_iterations,
                preview_every=0, seed=self.seed, device=self.device), f"synthesize-{method}")
            out[method] = r["num_items"]
            files = sorted((self.out / "synthetic" / method).rglob("*.png"))
            step = max(1, len(files) // 10)
            grids.append([np.asarray(load_image(p)) for p in files[::step][:10]])
        for method, g in zip(("NaturalInversion", "DeepInversion", "Gaussian noise"), grids):
            if g:
                self.report.image(image_grid(g, ncols=10), method, 640)
        self.report.text(f"{s.synth_images} images per method, {s.synth_iterations} "
                         f"iterations per batch of {s.synth_batch}, `--preset "
                         f"{SYNTH_PRESET}` (a named deviation for the toy teacher: BN-statistics "
                         "weight 0.02 with the first BN x10, as DeepInversion's ImageNet "
                         "setting; NaturalInversion's generator width 32 and channel scaling "
                         "initialised N(2, 0.4) inside the data range; the paper uses 2,000 "
                         "iterations at batch 256 on a GPU).")
        return {"images": out}

    def s_quality(self) -> dict:
        from studio.inversion.quality import QualityParams

        rows, res = [], {}
        for method in ("natural", "deep", "noise"):
            r = self.job("synthetic-quality", QualityParams(
                synthetic=self.out / "synthetic" / method,
                teacher=str(self.model("teacher.pth")), arch="toyvgg", real=self.world,
                num_noise=128, device=self.device, seed=self.seed), f"quality-{method}")
            sets = r["energy"]["sets"]
            res[method] = {"teacher_accuracy": r["teacher_accuracy"],
                           "diversity": r["diversity"],
                           "energy_synthetic": sets["synthetic"]["mean"],
                           "energy_real": sets.get("real", {}).get("mean"),
                           "energy_noise": sets.get("noise", {}).get("mean")}
            rows.append([method, *res[method].values()])
        self.report.text("Energy score −T·logsumexp(logits) (lower = more in-distribution, "
                         "Liu et al. 2020) of synthetic vs real vs noise images.")
        self.report.table(["method", "teacher acc", "diversity", "energy synthetic",
                           "energy real", "energy noise"], rows)
        return res

    def s_distill(self) -> dict:
        from studio.compression.distill import DistillParams

        rows, res = [], {}
        teacher_acc = None
        for method in ("natural", "deep", "noise"):
            r = self.job("distill", DistillParams(
                synthetic=self.out / "synthetic" / method, out=self.out / "distill" / method,
                teacher=str(self.model("teacher.pth")), arch="toyvgg", real_test=self.world,
                epochs=self.size.distill_epochs, batch_size=50, seed=self.seed,
                eval_every=10, device=self.device), f"distill-{method}")
            res[method] = r["final_real_acc"]
            teacher_acc = r["teacher_real_acc"]
            rows.append([method, r["num_synthetic"], r["student"], r["teacher_real_acc"],
                         r["final_real_acc"], r["best_real_acc"]])
            self.say(f"   student distilled on {method}: real test top-1 "
                     f"{r['final_real_acc']:.3f} (teacher {r['teacher_real_acc']:.3f})")
        self.report.table(["synthetic data", "images", "student", "teacher top-1",
                           "student top-1 (final)", "student top-1 (best epoch)"], rows)
        return {"student_real_top1": res, "teacher_real_acc": teacher_acc}

    def s_prune(self) -> dict:
        from studio.compression.prune import PruneParams

        r = self.job("prune", PruneParams(
            synthetic=self.out / "synthetic" / "natural", out=self.out / "prune",
            teacher=str(self.model("teacher.pth")), arch="toyvgg", method="l1-filter",
            sparsities=list(self.size.sparsities), real_test=self.world,
            epochs=self.size.prune_epochs, batch_size=50, seed=self.seed, eval_every=10,
            device=self.device), "prune")
        rows = [[x["target_sparsity"], x["filter_sparsity"], x["weight_sparsity"],
                 x["real_acc_pruned"], x["real_acc_finetuned"]] for x in r["rows"]]
        self.report.text(f"L1-norm filter pruning of the teacher (real top-1 "
                         f"{r['teacher_real_acc']:.3f} unpruned), fine-tuned by distillation "
                         "on the NaturalInversion images only.")
        self.report.table(["target sparsity", "filters cut", "weights zero",
                           "top-1 after pruning", "top-1 after fine-tuning"], rows)
        for x in r["rows"]:
            self.say(f"   sparsity {x['target_sparsity']}: top-1 {x['real_acc_pruned']:.3f} "
                     f"-> {x['real_acc_finetuned']:.3f} after fine-tuning")
        return {"rows": [{k: v for k, v in x.items() if k != "history"} for x in r["rows"]]}

    def s_translate(self) -> dict:
        from studio.tsit.translate import TranslateParams

        contents = sorted((self.out / "toyworld" / "shapes").rglob("*.png"))[::self.size.shapes_per_class][:4]
        styles = sorted((self.out / "toyworld" / "textures").rglob("*.png"))[::3][:4]
        out = self.out / "translate"
        r = self.job("translate", TranslateParams(
            model="toy", content=contents, style=styles, out=out, all_pairs=True,
            device=self.device), "translate")
        files = sorted(out.rglob("*.png"))
        if files:
            self.report.image(image_grid([np.asarray(load_image(p)) for p in files][:16],
                                         ncols=len(styles)),
                              "TSIT (toy): each content silhouette × each texture", 400)
        quality = self._judged("toy TSIT", toy_quality.tsit_quality())
        return {"written": r["written"], "failed": r["failed"], "quality": quality}

    def run(self) -> int:
        t0 = time.time()
        if self.retrain:
            self.stage("Retrain the toy models", self.s_retrain)
        self.stage("1. The toy world", self.s_world)
        self.stage("2. Style transfer (AdaIN)", self.s_stylize)
        self.stage("3. Texture bias: cue-conflict stimuli and shape bias", self.s_shape_bias)
        self.stage("4. Data-free synthesis from the teacher", self.s_synthesize)
        self.stage("5. How in-distribution is the synthetic data?", self.s_quality)
        self.stage("6. Knowledge distillation on synthetic data only", self.s_distill)
        self.stage("7. Pruning with synthetic data", self.s_prune)
        self.stage("8. Image-to-image translation (TSIT)", self.s_translate)
        self.metrics["seconds"] = round(time.time() - t0, 1)
        self.metrics["failed_stages"] = self.failed
        self.metrics["targets"] = targets(self.metrics, self.size is QUICK)
        self.report.section("Targets (issue 19): each effect, its number and its bar")
        self.report.text("The full demo is held to the issue's values; --quick (10 images, "
                         "30 iterations) only to 'above chance / above noise'.")
        self.report.table(["effect", "measured", "target", "met"],
                          [[t["effect"], t["measured"], t["target"],
                            {True: "yes", False: "NO", None: "n/a"}[t["met"]]]
                           for t in self.metrics["targets"]])
        for t in self.metrics["targets"]:
            self.say(f"   {'ok ' if t['met'] else '-- ' if t['met'] is None else 'NO '}"
                     f"{t['effect']}: {t['measured']} (target {t['target']})")
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "metrics.json").write_text(json.dumps(self.metrics, indent=2, default=str))
        self.report.section("Run")
        self.report.text(f"Total {self.metrics['seconds']} s; "
                         f"{len(self.failed)} stage(s) failed." if self.failed else
                         f"Total {self.metrics['seconds']} s; all stages succeeded.")
        self.report.write(self.out / "report.html")
        print(f"\nstudio demo finished in {self.metrics['seconds']} s: "
              f"{self.out / 'report.html'}, {self.out / 'metrics.json'}")
        if self.failed:
            print("failed stages: " + "; ".join(self.failed))
        return 1 if self.failed else 0

    def s_retrain(self) -> dict:
        """Rebuild every shipped toy model from scratch (about an hour on 2 CPU cores).

        The settings are those recorded in studio/resources/toy/README.md. The new files go to
        ``<out>/retrain/resources/toy`` and STUDIO_RESOURCES points there, so every later
        stage (and every engine) uses them instead of the shipped ones.
        """
        import os
        import shutil

        from studio.adain.model import TOY_RELU3_1
        from studio.adain.train import TrainParams as AdaINTrainParams
        from studio.texture_shape.experiment import ExperimentParams, classifier_b_folder
        from studio.toyworld.generate import SHAPES, ToyWorldParams
        from studio.toyworld.standard import world_params
        from studio.trainer.trainer import TrainParams
        from studio.tsit.train import TrainTSITParams

        # the relu3_1 decoder's shape (`--config toy` is the relu2_1 toy AdaIN's)
        relu3_1 = dict(layer=TOY_RELU3_1.layer, decoder_widths=list(TOY_RELU3_1.decoder_widths),
                       decoder_convs=list(TOY_RELU3_1.decoder_convs))
        root = self.out / "retrain"
        toy = root / "resources" / "toy"
        toy.mkdir(parents=True, exist_ok=True)
        data = root / "data"
        world = data / "world"
        self.job("toyworld", world_params(world), "retrain-world")
        clf = dict(arch="toyvgg", batch_size=64, lr=0.4, weight_decay=5e-4, warmup_epochs=0.3,
                   image_size=64, augment="cifar", workers=0, device=self.device, seed=0)
        self.job("train-classifier", TrainParams(data=[world], out=root / "teacher", epochs=2,
                                                 classes=list(SHAPES), **clf),
                 "retrain-teacher")  # the toy models' class order (circle = 0 ...)
        shutil.copyfile(root / "teacher" / "model.pth", toy / "teacher.pth")
        self.job("toyworld", ToyWorldParams(data / "shuffle", per_class=600, size=64, seed=0,
                                            shape_texture_correlation=0.1, splits=["train"]),
                 "retrain-shuffled-world")
        self.job("train-classifier", TrainParams(
            data=[data / "shuffle"], val=world, classes=list(SHAPES), out=root / "shuffled",
            epochs=6, **clf), "retrain-shuffled")
        shutil.copyfile(root / "shuffled" / "model.pth", toy / "classifier_shuffled.pth")
        for name, kind, n, seed in (("scenes", "scene", 100, 11), ("shapes", "shape", 30, 12),
                                    ("textures", "texture", 100, 13)):
            self.job("toyworld", ToyWorldParams(data / "adain" / name, per_class=n, kind=kind,
                                                seed=seed, shape_texture_correlation=0.98),
                     f"retrain-adain-{name}")
        a = data / "adain"
        self.job("adain.train", AdaINTrainParams(
            content_dir=f"{a / 'scenes'},{a / 'shapes'}",
            style_dir=f"{a / 'textures'},{a / 'scenes'}",
            from_classifier=str(toy / "teacher.pth"), config="toy", lr=2e-4, style_weight=10.0,
            batch_size=8, image_size=0, crop_size=32, max_iter=8000, save_model_interval=500,
            preview_interval=250, n_threads=1, device=self.device, seed=0,
            save_dir=root / "adain", **relu3_1), "retrain-adain")
        # that decoder fine-tuned on exemplar triplets (figure or scene, texture patch, the
        # figure wearing that texture on its own ground), a named deviation
        e = data / "adain_exemplar"
        for name, kind, corr in (("shapes", "shape", 0.95), ("scenes", "scene", 0.98),
                                 ("style", "scene_texture", 0.1), ("target", "scene", 0.1)):
            self.job("toyworld", ToyWorldParams(e / name, per_class=120, kind=kind, seed=51,
                                                shape_texture_correlation=corr),
                     f"retrain-adain-exemplar-{name}")
        exemplar = AdaINTrainParams(
            content_dir=f"{e / 'shapes'},{e / 'scenes'}", style_dir=str(e / "style"),
            target_dir=str(e / "target"), exemplar_weight=10.0,
            from_classifier=str(toy / "teacher.pth"), config="toy",
            decoder=str(root / "adain" / "decoder_iter_8000.pth"), lr=2e-4, style_weight=1.0,
            batch_size=8, image_size=0, crop_size=64, max_iter=ADAIN_EXEMPLAR_ITERATIONS,
            save_model_interval=500, preview_interval=1000, n_threads=1, device=self.device,
            seed=0, save_dir=root / "adain_exemplar", **relu3_1)
        self.job("adain.train", exemplar, "retrain-adain-exemplar")
        # and then for alpha below 1 as well (--exemplar_alpha)
        stage2 = root / "adain_exemplar" / f"decoder_iter_{ADAIN_EXEMPLAR_ITERATIONS}.pth"
        self.job("adain.train", dataclasses.replace(
            exemplar, decoder=str(stage2), exemplar_alpha=0.5, max_iter=ADAIN_ALPHA_ITERATIONS,
            save_dir=root / "adain_alpha"), "retrain-adain-alpha")
        shutil.copyfile(root / "adain_alpha" / "encoder.pth", toy / "adain_encoder.pth")
        shutil.copyfile(root / "adain_alpha" / f"decoder_iter_{ADAIN_ALPHA_ITERATIONS}.pth",
                        toy / "adain_decoder_relu3_1.pth")
        # the shipped toy AdaIN: relu2_1 on the same triplets from scratch, then the
        # figure's texture statistics (--exemplar_texture_weight)
        relu2 = dataclasses.replace(
            exemplar, decoder="", layer="", decoder_widths=[], decoder_convs=[],
            style_layer="relu3_1", lr=5e-4, max_iter=ADAIN_RELU2_ITERATIONS,
            save_dir=root / "adain_relu2_1")
        self.job("adain.train", relu2, "retrain-adain-relu2_1")
        self.job("adain.train", dataclasses.replace(
            relu2, decoder=str(root / "adain_relu2_1" / f"decoder_iter_{ADAIN_RELU2_ITERATIONS}.pth"),
            exemplar_texture_weight=3.0, lr=2e-4, max_iter=ADAIN_TEXTURE_ITERATIONS,
            save_dir=root / "adain_texture"), "retrain-adain-texture")
        shutil.copyfile(root / "adain_texture" / f"decoder_iter_{ADAIN_TEXTURE_ITERATIONS}.pth",
                        toy / "adain_decoder.pth")
        # classifier B of the paper's protocol: trained on the toy world stylised by the
        # relu3_1 decoder (the stimuli come from the relu2_1 one: another stylisation)
        bp = ExperimentParams(
            out=root / "experiment", epochs=6, adain_encoder=toy / "adain_encoder.pth",
            adain_decoder=toy / "adain_decoder_relu3_1.pth", methods=["procedural"],
            style_pool=B_STYLE_POOL, device=self.device, seed=0)
        self.job("texture-bias-experiment", bp, "retrain-stylized")
        shutil.copyfile(root / "experiment" / classifier_b_folder(bp) / "model.pth",
                        toy / "classifier_stylized.pth")
        # exemplar triplets: silhouette, texture patch, the silhouette wearing that texture
        t = data / "tsit"
        for name, kind in (("content", "shape"), ("style", "scene_texture"), ("target", "scene")):
            self.job("toyworld", ToyWorldParams(t / name, per_class=60, kind=kind, seed=41,
                                                shape_texture_correlation=0.1),
                     f"retrain-tsit-{name}")
        self.job("train-tsit", TrainTSITParams(
            data=t / "content", style=t / "style", target=t / "target", out=root / "tsit",
            task="summer2winter", ngf=8, depth=5, size=64, batch_size=4, iterations=1600,
            decay_iterations=600, ndf=32, lambda_vgg=10.0, perceptual="toy",
            device=self.device, seed=0), "retrain-tsit")
        shutil.copyfile(root / "tsit" / "latest_net_G.pth", toy / "tsit_toy_G.pth")
        os.environ["STUDIO_RESOURCES"] = str(root / "resources")
        self.toy = toy
        return {"models": sorted(p.name for p in toy.glob("*.pth"))}


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def targets(metrics: dict, quick: bool) -> list[dict]:
    """Each effect of issue 19 with its measured number, its target and whether it is met.

    ``met`` is None when the stage did not measure it (failed or skipped). The full demo
    is held to the issue's values; the quick one to "above chance" (teacher accuracy
    > 0.1 on 10 classes, students above the noise student, stimuli mostly decided by
    shape or texture: its 270 conflicts, one silhouette per shape, measure "other" only
    to about +-0.05).
    """
    st = metrics.get("stages", {})
    q = st.get("5. How in-distribution is the synthetic data?", {})
    dist = st.get("6. Knowledge distillation on synthetic data only", {})
    d = dist.get("student_real_top1") or {}
    sb = st.get("3. Texture bias: cue-conflict stimuli and shape bias", {})
    rows: list[dict] = []

    def row(effect: str, value: Any, target: str, ok: Any) -> None:
        rows.append({"effect": effect, "measured": _fmt(value), "target": target,
                     "met": None if value is None else bool(ok(value))})

    for m, name in (("natural", "NaturalInversion"), ("deep", "DeepInversion")):
        acc = _get(q, m, "teacher_accuracy")
        row(f"teacher top-1 on its {name} images", acc, "> 0.10 (chance)" if quick else
            ">= 0.95", (lambda v: v > 0.1) if quick else (lambda v: v >= 0.95))
    noise = d.get("noise")
    teacher_real = dist.get("teacher_real_acc")
    for m, name in (("natural", "NaturalInversion"), ("deep", "DeepInversion")):
        acc = d.get(m)
        gap = None if acc is None or noise is None else acc - noise
        row(f"student on {name} images minus student on noise (real top-1)", gap,
            "> 0" if quick else ">= 0.30", (lambda v: v > 0) if quick else
            (lambda v: v >= 0.30))
        if not quick and teacher_real:
            row(f"student on {name} images / teacher (real top-1)",
                None if acc is None else acc / teacher_real, ">= 0.80", lambda v: v >= 0.8)
    bias = _get(sb, "shape_bias", "adain") or {}
    other = _get(sb, "decisions", "adain") or {}
    b_name = next((n for n in bias if n != "teacher (toy world)"), None)
    row("shape bias of the teacher on toy-AdaIN cue-conflict stimuli (before)",
        bias.get("teacher (toy world)"), "texture-biased (< 0.5)", lambda v: v < 0.5)
    row("shape bias of classifier B (stylised world) on them (after)",
        bias.get(b_name) if b_name else None, "> teacher" if quick else ">= 0.8",
        (lambda v: v > (bias.get("teacher (toy world)") or 0)) if quick else
        (lambda v: v >= 0.8))
    row("'other' decisions of classifier B on toy-AdaIN stimuli",
        _get(other, b_name, "other") if b_name else None,
        "< 0.50 (mostly shape or texture)" if quick else "<= 0.20",
        (lambda v: v < 0.5) if quick else (lambda v: v <= 0.2))
    for stage, name, bars in (("2. Style transfer (AdaIN)", "toy AdaIN (alpha 1)",
                               (0.9, 0.8)),
                              ("8. Image-to-image translation (TSIT)", "toy TSIT", (0.9, 0.7))):
        judged = st.get(stage, {}).get("quality") or {}
        for key, what, bar in (("shape_accuracy", "keeps the content's shape", bars[0]),
                               ("texture_accuracy", "takes the style's texture", bars[1]),
                               ("pattern_accuracy", "takes the style's pattern, colours aside",
                                bars[1])):
            row(f"{name} {what} (judge classifier)", judged.get(key),
                "> 0.10 (chance)" if quick else f">= {bar:.2f}",
                (lambda v: v > 0.1) if quick else (lambda v, b=bar: v >= b))
    return rows


def run_demo(args: argparse.Namespace) -> int:
    size = QUICK if args.quick else FULL
    demo = Demo(Path(args.out), size, getattr(args, "seed", None) or 0,
                getattr(args, "device", None) or "auto", bool(getattr(args, "quiet", False)),
                bool(args.retrain))
    return demo.run()
