"""`studio eval shape-bias`: Geirhos et al. (2019) shape bias on cue-conflict stimuli.

For every conflict image (shape category != texture category) the model makes a decision
among the stimulus categories;
``shape_bias = #shape / (#shape + #texture)``, decisions naming another category are
ignored in the ratio (reported as the "other" fraction). Same-category images are
excluded, as in texture-vs-shape and model-vs-human.

ImageNet-1000 models decide among the 16 categories by the MEAN of the member classes'
softmax probabilities (``imagenet16_indices.json``, identical in both reference repos);
models whose classes are the categories (16-class models, the toy classifiers) decide by
arg-max. Stimuli are fed at their own size when it equals the model's input size (as
model-vs-human does for the 224-px cue-conflict set), otherwise resized to it.

Two sets of names, never mixed (docs/texture_bias.md):

- ours, over the *conflict* images only: ``shape_decision_share``,
  ``texture_decision_share``, ``other_decision_share`` (#shape, #texture, #other divided
  by #conflicts; the three sum to 1);
- model-vs-human's, under ``model_vs_human`` with their exact keys, as their
  ``ShapeBias`` analysis computes them: ``fraction-correct-shape`` and
  ``fraction-correct-texture`` count the conflict images decided by shape / texture but
  divide by *all* images, same-category ones included; ``shape-bias`` is their ratio,
  which equals our ``shape_bias``.

Every model's decisions are also written as a model-vs-human raw-data file,
``raw-data/cue-conflict/cue-conflict_<model>_session-1.csv`` (:func:`write_mvh_raw_data`),
that their plotting and analysis code reads unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from studio.core.checkpoints import REGISTRY, CheckpointError, find_model
from studio.core.guards import NOT_UTF8, is_utf8_name, safe_name
from studio.core.images import ImageError, atomic_write, is_image_file, load_image
from studio.core.jobs import CancelToken, JobGen, Log, Preview, Progress, job_context
from studio.datasets.writers import check_separate
from studio.models.classifiers import Classifier, load_classifier
from studio.texture_shape.params import ShapeBiasParams

#: The 16 entry-level categories, in the reference (alphabetical) order.
CATEGORIES16 = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
                "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck")

#: Published shape bias (texture_bias.md): mean aggregation, torchvision-style evaluation.
REFERENCE_SHAPE_BIAS = {
    "ResNet-50 (IN)": 0.214,
    "ResNet-50 (SIN)": 0.814,
    "ResNet-50 (SIN+IN)": 0.347,
    "ResNet-50 (SIN+IN → IN)": 0.205,
    "VGG-16 (IN)": 0.092,
    "AlexNet (IN)": 0.253,
    "humans": 0.959,
}

_NAME = re.compile(r"(?:^|_)([A-Za-z][A-Za-z ]*?)(\d+)-([A-Za-z][A-Za-z ]*?)(\d+)$")


@lru_cache(maxsize=1)
def imagenet16_indices() -> dict[str, list[int]]:
    """Category -> ImageNet-1000 indices (207 in all, no overlaps)."""
    text = resources.files("studio.texture_shape").joinpath("imagenet16_indices.json").read_text()
    return {k: list(v) for k, v in json.loads(text).items()}


@dataclass(frozen=True)
class Stimulus:
    path: Path
    rel: str
    shape: str
    texture: str
    shape_index: int
    texture_index: int

    @property
    def conflict(self) -> bool:
        return self.shape != self.texture


def parse_stimulus_name(name: str) -> tuple[str, int, str, int]:
    """``airplane1-bicycle2.png`` -> ('airplane', 1, 'bicycle', 2).

    Also accepts model-vs-human's prefixed names (``..._airplane1-bicycle2.png``).
    """
    stem = Path(name).stem
    m = _NAME.search(stem)
    if not m:
        raise ValueError(f"{name!r} is not a cue-conflict name <shape><i>-<texture><j>.png")
    return m.group(1), int(m.group(2)), m.group(3), int(m.group(4))


def scan_stimuli(root: str | Path) -> tuple[list[Stimulus], list[str], list[tuple[str, str]]]:
    """Stimuli in ``root/<shape>/<shape><i>-<texture><j>.png``; returns (stimuli,
    categories, skipped). Categories are the shape folders (sorted)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: stimulus folder does not exist")
    stimuli: list[Stimulus] = []
    skipped: list[tuple[str, str]] = []
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    for d in folders:
        if not is_utf8_name(d.name):
            skipped.append((safe_name(d), NOT_UTF8))
            continue
        for p in sorted(d.iterdir()):
            if not p.is_file() or p.name.startswith("."):
                continue
            if not is_utf8_name(p.name):
                skipped.append((safe_name(p), NOT_UTF8))
                continue
            if not is_image_file(p):
                skipped.append((str(p), "not an image file"))
                continue
            try:
                shape, i, texture, j = parse_stimulus_name(p.name)
            except ValueError as exc:
                skipped.append((str(p), str(exc)))
                continue
            if shape != d.name:
                skipped.append((str(p), f"shape {shape!r} in the name but in folder "
                                        f"{d.name!r}"))
                continue
            stimuli.append(Stimulus(p, f"{d.name}/{p.name}", shape, texture, i, j))
    categories = sorted({s.shape for s in stimuli})
    unknown = sorted({s.texture for s in stimuli} - set(categories))
    if unknown:
        keep = [s for s in stimuli if s.texture in categories]
        skipped += [(str(s.path), f"texture {s.texture!r} is not a category")
                    for s in stimuli if s.texture not in categories]
        stimuli = keep
    if not stimuli:
        raise ValueError(f"{root}: no cue-conflict stimuli (expected <shape>/"
                         "<shape><i>-<texture><j>.png)")
    return stimuli, categories, skipped


# --------------------------------------------------------------------------------------
# Decisions


def aggregate_imagenet16(probs: torch.Tensor, categories: Sequence[str] = CATEGORIES16,
                         aggregation: str = "mean") -> torch.Tensor:
    """(N, 1000) softmax probabilities -> (N, len(categories)) by the MEAN of members."""
    idx = imagenet16_indices()
    cols = []
    for c in categories:
        if c not in idx:
            raise ValueError(f"category {c!r} has no ImageNet mapping")
        member = probs[:, idx[c]]
        cols.append(member.mean(1) if aggregation == "mean" else member.sum(1))
    return torch.stack(cols, 1)


def decide(logits: torch.Tensor, model_classes: Sequence[str], categories: Sequence[str]
           ) -> list[str]:
    """The category each image is assigned.

    1000 outputs and no class names: ImageNet -> 16 by mean probability. Otherwise the
    arg-max over the model's own classes (a class outside ``categories`` is 'other').
    """
    if logits.shape[1] == 1000 and (not model_classes or len(model_classes) == 1000):
        probs = torch.softmax(logits.float(), 1)
        scores = aggregate_imagenet16(probs, categories)
        return [categories[i] for i in scores.argmax(1).tolist()]
    if not model_classes:
        if logits.shape[1] == len(categories):
            model_classes = list(categories)
        else:
            raise ValueError(f"model has {logits.shape[1]} outputs but no class names; "
                             f"cannot map them to {len(categories)} categories")
    return [model_classes[i] for i in logits.argmax(1).tolist()]


@dataclass
class Decision:
    file: str
    shape: str
    texture: str
    decision: str

    @property
    def correct_shape(self) -> bool:
        return self.decision == self.shape

    @property
    def correct_texture(self) -> bool:
        return self.decision == self.texture


#: Names the summary used to have (same values): still readable from a summary
#: (``s["texture_fraction"]``, ``s.get(...)``, :func:`read_summary`), never written, since
#: ``texture_fraction`` read like model-vs-human's ``fraction-correct-texture``, which is
#: defined differently (divided by all images, not by the conflicts).
LEGACY_SUMMARY_KEYS = {"shape_fraction": "shape_decision_share",
                       "texture_fraction": "texture_decision_share",
                       "other_fraction": "other_decision_share"}


class ShapeBiasSummary(dict):
    """A summary dict that also answers the legacy key names (not stored, not written)."""

    def __missing__(self, key):
        new = LEGACY_SUMMARY_KEYS.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        return self[new]

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default


def _upgrade(d: dict) -> ShapeBiasSummary:
    out = ShapeBiasSummary()
    for k, v in d.items():
        out[LEGACY_SUMMARY_KEYS.get(k, k)] = v
    if isinstance(out.get("per_category"), dict):
        out["per_category"] = {c: _upgrade(v) if isinstance(v, dict) else v
                               for c, v in out["per_category"].items()}
    return out


def read_summary(path: str | Path) -> ShapeBiasSummary:
    """A ``summary.json`` (this or an older Studio) with the current key names."""
    return _upgrade(json.loads(Path(path).read_text()))


def mvh_metrics(n_images: int, n_shape: int, n_texture: int) -> dict:
    """model-vs-human's ``ShapeBias`` result for one decision maker (or one category).

    ``n_shape`` / ``n_texture``: conflict images (shape != texture) decided by shape /
    texture; ``n_images``: all rows, same-category images included (their denominator).
    ``shape-bias`` is computed from the two fractions as they compute it (so it can
    differ from our ``shape_bias`` in the last bit). Their code divides 0 by 0 when there
    is no shape or texture decision; here it is None.
    """
    if not n_images:
        return {"fraction-correct-shape": None, "fraction-correct-texture": None,
                "shape-bias": None}
    fs, ft = n_shape / n_images, n_texture / n_images
    return {"fraction-correct-shape": fs, "fraction-correct-texture": ft,
            "shape-bias": fs / (fs + ft) if n_shape + n_texture else None}


def summarize(decisions: Sequence[Decision], categories: Sequence[str]) -> ShapeBiasSummary:
    """Shape bias over conflict images (same-category excluded; 'other' ignored), our
    shares over the conflicts, and model-vs-human's metrics (``model_vs_human``)."""

    def stats(ds: Sequence[Decision]) -> ShapeBiasSummary:
        conflict = [d for d in ds if d.shape != d.texture]
        n = len(conflict)
        s = sum(d.correct_shape for d in conflict)
        t = sum(d.correct_texture for d in conflict)
        o = n - s - t
        return ShapeBiasSummary({
            "shape_bias": s / (s + t) if s + t else None,
            "shape_decision_share": s / n if n else None,
            "texture_decision_share": t / n if n else None,
            "other_decision_share": o / n if n else None,
            "n_conflict": n, "n_shape": s, "n_texture": t, "n_other": o,
            "n_images": len(ds),
            "model_vs_human": mvh_metrics(len(ds), s, t)})

    same = [d for d in decisions if d.shape == d.texture]
    out = stats(decisions)
    out["n_same_category"] = len(same)
    out["same_category_accuracy"] = (sum(d.correct_shape for d in same) / len(same)
                                     if same else None)
    out["per_category"] = {c: stats([d for d in decisions if d.shape == c])
                           for c in categories}
    return out


def write_decisions_csv(path: Path, decisions: Sequence[Decision]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "shape", "texture", "decision", "correct-shape", "correct-texture"])
    for d in decisions:
        w.writerow([d.file, d.shape, d.texture, d.decision, int(d.correct_shape),
                    int(d.correct_texture)])
    with atomic_write(path) as fh:
        fh.write(buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------------------
# model-vs-human raw data (bethgelab/model-vs-human, raw-data/<dataset>/*.csv)

#: The header of model-vs-human's raw-data files (its ResultPrinter), in this order.
MVH_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category",
               "condition", "imagename")
#: Their dataset name for the cue-conflict stimuli (their plots require exactly this).
MVH_DATASET = "cue-conflict"


def mvh_raw_data_name(model: str, dataset: str = MVH_DATASET, session: int = 1) -> str:
    """``cue-conflict_<model>_session-1.csv``: their file name, with ``_`` in the model
    name turned into ``-`` as they do (and anything unsafe in a file name into ``-``)."""
    return f"{dataset}_{_safe_name(model).replace('_', '-')}_session-{session}.csv"


def mvh_texture_category(imagename: str) -> str:
    """The texture category model-vs-human's ``ShapeBias`` reads from an image name:
    the part after the last ``_``, before the first ``.``, after the last ``-``, digits
    removed (``0001_x_dog10-bird2.png`` -> ``bird``)."""
    tail = imagename.split("_")[-1].split(".")[0].split("-")[-1]
    return "".join(ch for ch in tail if not ch.isdigit())


def write_mvh_raw_data(path: Path, decisions: Sequence[Decision], subj: str,
                       session: int = 1) -> None:
    """One row per classified image, as model-vs-human writes a model's raw data.

    ``subj`` the model name, ``session`` 1, ``trial`` counting from 1 in stimulus order
    (sorted folders, sorted files: their ImageFolder order), ``rt`` and ``condition``
    ``NaN`` (what they write for models and for datasets without conditions),
    ``object_response`` the decision, ``category`` the shape category (the folder),
    ``imagename`` the file name (they derive the texture from it). Lines end in CRLF,
    the ``csv`` module's default their writer uses.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(MVH_COLUMNS)
    for k, d in enumerate(decisions, start=1):
        w.writerow([subj, session, k, "NaN", d.decision, d.shape, "NaN", Path(d.file).name])
    with atomic_write(path) as fh:
        fh.write(buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------------------
# Running a model over the stimuli


def _load_one(s: Stimulus, size: int) -> np.ndarray | None:
    try:
        img = load_image(s.path)
    except ImageError:
        return None
    if img.size != (size, size):
        img = img.resize((size, size), resample=2)  # bilinear
    return np.asarray(img, dtype=np.uint8)


def _load_batch(stimuli: Sequence[Stimulus], size: int, pool=None
                ) -> tuple[torch.Tensor, list[int]]:
    """Decode a batch (in ``pool`` threads: PNG decoding releases the GIL)."""
    arrays = list(pool.map(_load_one, stimuli, [size] * len(stimuli)) if pool else
                  (_load_one(s, size) for s in stimuli))
    ok = [k for k, a in enumerate(arrays) if a is not None]
    if not ok:
        return torch.empty(0, 3, size, size), ok
    x = torch.from_numpy(np.stack([arrays[k] for k in ok])).permute(0, 3, 1, 2)
    return x, ok


def classify_stimuli(clf: Classifier, stimuli: Sequence[Stimulus], categories: Sequence[str],
                     *, batch_size: int = 64, device: str | torch.device = "cpu",
                     token: CancelToken | None = None, errors: list | None = None,
                     workers: int = 0) -> JobGen:
    """Yield progress; return the list of :class:`Decision` (bad images reported).

    Batches are decoded by ``workers`` threads (0 = up to 8) two batches ahead of the
    model, so on a GPU the forward passes, not PNG decoding, set the pace.
    """
    device = torch.device(device)
    clf.net.to(device).eval()
    decisions: list[Decision] = []
    use_amp = device.type == "cuda"
    workers = workers or min(8, os.cpu_count() or 1)
    chunks = [list(stimuli[i:i + batch_size]) for i in range(0, len(stimuli), batch_size)]
    with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(2) as ahead, \
            torch.inference_mode():
        futs = [ahead.submit(_load_batch, c, clf.input_size, pool) for c in chunks[:2]]
        for n, chunk in enumerate(chunks):
            if token:
                token.check()
            x, ok = futs[n].result()
            if n + 2 < len(chunks):
                futs.append(ahead.submit(_load_batch, chunks[n + 2], clf.input_size, pool))
            good = set(ok)
            for k, s in enumerate(chunk):
                if k not in good and errors is not None:
                    errors.append((str(s.path), "unreadable image"))
            if ok:
                x = x.to(device, non_blocking=True).float().div_(255)
                with torch.autocast(device.type, enabled=use_amp):
                    logits = clf.logits(x)
                for s, dec in zip([chunk[k] for k in ok],
                                  decide(logits.float(), clf.classes, categories)):
                    decisions.append(Decision(s.rel, s.shape, s.texture, dec))
            yield Progress(min(len(stimuli), (n + 1) * batch_size), len(stimuli), clf.arch)
    return decisions


# --------------------------------------------------------------------------------------
# The job


def parse_model_spec(spec: str) -> tuple[str, Path]:
    """``ARCH=WEIGHTS`` -> (arch, weights path); WEIGHTS may be a registry name."""
    if "=" not in spec:
        raise ValueError(f"model {spec!r}: write ARCH=WEIGHTS, e.g. resnet50=model.pth.tar")
    arch, weights = spec.split("=", 1)
    try:
        path = find_model(weights)
    except CheckpointError:
        if weights in REGISTRY:
            raise
        path = Path(weights)  # load_classifier names the missing file
    return arch.strip(), Path(path)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "model"


def shape_bias_job(params: ShapeBiasParams, token: CancelToken | None = None) -> JobGen:
    """Evaluate every model; write decisions.csv + summary.json per model, the
    model-vs-human raw-data file per model (``<out>/raw-data/cue-conflict/``) and the
    plots."""
    token = job_context(token)
    check_separate(params.out, {"stimuli": params.stimuli})
    device = token.device(params.device)
    stimuli, categories, skipped = scan_stimuli(params.stimuli)
    for path, reason in skipped:
        yield Log(f"skipped {path}: {reason}", "warning")
    n_conf = sum(s.conflict for s in stimuli)
    yield Log(f"{len(stimuli)} stimuli ({n_conf} conflicts), {len(categories)} categories")
    if not params.models:
        raise ValueError("no models given (ARCH=WEIGHTS)")
    out = Path(params.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for k, spec in enumerate(params.models):
        arch, weights = parse_model_spec(spec)
        name = params.names[k] if k < len(params.names) else weights.name.split(".")[0]
        clf = load_classifier(arch, weights, classes=params.classes or None, device=device,
                              mean=params.mean, std=params.std)
        yield Log(f"{name}: {arch} from {weights} ({len(clf.classes) or 'ImageNet'} classes)")
        errors: list = []
        decisions = yield from classify_stimuli(clf, stimuli, categories,
                                                batch_size=params.batch_size, device=device,
                                                token=token, errors=errors)
        for path, reason in errors:
            yield Log(f"{path}: {reason}", "warning")
        summary = summarize(decisions, categories)
        summary.update({"model": name, "arch": arch, "weights": str(weights),
                        "stimuli": str(params.stimuli), "errors": errors,
                        "aggregation": "mean" if not clf.classes else "argmax"})
        mdir = out / _safe_name(name) if len(params.models) > 1 else out
        mdir.mkdir(parents=True, exist_ok=True)
        write_decisions_csv(mdir / "decisions.csv", decisions)
        raw = out / "raw-data" / MVH_DATASET / mvh_raw_data_name(name)
        raw.parent.mkdir(parents=True, exist_ok=True)
        write_mvh_raw_data(raw, decisions, subj=name)
        summary["mvh_raw_data"] = str(raw)
        misread = [d.file for d in decisions if mvh_texture_category(Path(d.file).name)
                   != d.texture]
        if misread:
            yield Log(f"{name}: model-vs-human would read another texture category from "
                      f"{len(misread)} image names (e.g. {misread[0]})", "warning")
        if name.startswith("subject-"):
            yield Log(f"{name}: model-vs-human treats subj names starting with 'subject-' "
                      "as human observers", "warning")
        with atomic_write(mdir / "summary.json") as fh:
            fh.write(json.dumps(summary, indent=1).encode())
        sb = summary["shape_bias"]
        yield Log(f"{name}: shape bias {sb:.3f} (shape {summary['n_shape']}, texture "
                  f"{summary['n_texture']}, other {summary['n_other']} of {n_conf})"
                  if sb is not None else f"{name}: no shape or texture decisions")
        results[name] = summary
    files: list[str] = []
    if params.plot:
        from studio.texture_shape.plots import box_plot, matrix_plot, render_png  # noqa: PLC0415 (loaded when used)

        refs = REFERENCE_SHAPE_BIAS if params.reference else {}
        files = matrix_plot(results, categories, out / "shape_bias", refs,
                            formats=params.formats)
        files += box_plot(results, categories, out / "shape_bias_box", formats=params.formats)
        png = out / "shape_bias.png"
        if png.is_file():
            yield Preview(render_png(png), "shape-bias matrix plot")
    with atomic_write(out / "results.json") as fh:
        fh.write(json.dumps({n: {k: v for k, v in s.items() if k != "errors"}
                             for n, s in results.items()}, indent=1).encode())
    return {"out": str(out), "plots": files,
            "shape_bias": {n: s["shape_bias"] for n, s in results.items()},
            "raw_data": {n: s["mvh_raw_data"] for n, s in results.items()},
            "summaries": results}


def top_probabilities(clf: Classifier, path: str, categories: list[str], k: int = 3
                      ) -> list[tuple[str, float]]:
    """A classifier's ``k`` most probable categories for one image (ImageNet models:
    the 16 categories by mean probability, renormalised), as the evaluation sees it."""
    size = clf.input_size
    img = load_image(path).resize((size, size), resample=2)
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        logits = clf.logits(x.float().div(255)).float()
    if logits.shape[1] == 1000 and (not clf.classes or len(clf.classes) == 1000):
        probs = aggregate_imagenet16(torch.softmax(logits, 1), categories)[0]
        probs = probs / probs.sum()
        names = list(categories)
    else:
        probs = torch.softmax(logits, 1)[0]
        names = list(clf.classes or categories)
    vals, idx = probs.topk(min(k, len(names)))
    return [(names[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())]


