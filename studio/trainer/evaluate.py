"""`studio eval classifier`: top-1, top-5, per-class accuracy and the confusion matrix of
any classifier the zoo loads, on an image folder.

Labels are matched *by class name*: a folder's class names must all be among the model's
classes (an ImageFolder sorts its folders, while a model keeps its training order, so a
match by index would give a silently permuted, meaningless accuracy). Images are streamed
batch by batch, so a large evaluation set never has to fit in memory; an unreadable image
is skipped with a line naming it, counted, and the evaluation goes on.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio.core.commands import jsonable
from studio.core.errors import NoInputError
from studio.core.images import ImageError, atomic_write
from studio.core.jobs import CancelToken, JobGen, Log, Metrics, Progress, job_context, params_dict
from studio.datasets.readers import Item, read_source
from studio.datasets.writers import check_separate
from studio.models.classifiers import Classifier, load_classifier
from studio.models.teachers import resolve_teacher_path
from studio.trainer.params import EvalClassifierParams
from studio.trainer.trainer import transform

#: Class names listed in an error message before "...".
_SHOWN = 8
#: Above this many classes the confusion plot has no tick labels / no counts in cells.
_MAX_TICKS, _MAX_COUNTS = 60, 25


def _names(names: list[str], n: int = _SHOWN) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def load_model(p: EvalClassifierParams, device: torch.device | str = "cpu") -> Classifier:
    """The classifier ``p.model`` names (``toy``: the shipped toy teacher), with the data
    preset and normalisation overrides of ``p``."""
    weights: str | Path = resolve_teacher_path("toy") if p.model == "toy" else p.model
    return load_classifier(p.arch, weights, data=p.data, mean=p.mean, std=p.std,
                           image_size=p.image_size, device=device)


@dataclass
class Selection:
    """What an evaluation reads: the folder (or manifest), the split it took (None: the
    whole of ``folder``), its items, their class names in the dataset's order, and what
    the reader skipped (path, reason)."""

    folder: Path
    split: str | None
    items: list[Item]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def select_items(images: str | Path, split: str | None) -> Selection:
    """``<images>/<split>`` when that folder exists, else ``images`` itself; a dataset
    with recorded splits (split folders, a manifest, shards) is narrowed to ``split``, and
    one that lacks it is refused, naming the splits it has."""
    root = Path(images)
    folder = root / split if split and (root / split).is_dir() else root
    src = read_source(folder)
    items = src.items
    recorded = {it.split for it in items} - {None}
    used = split if folder != root else None
    if split and folder == root and recorded:
        if split not in recorded:
            raise NoInputError(f"{root}: no {split!r} split (it has "
                               f"{', '.join(sorted(recorded))}); pass --split")
        items = [it for it in items if it.split == split]
        used = split
    present = {it.class_name for it in items}
    classes = [c for c in src.classes if c in present]
    classes += sorted(present - set(classes))
    return Selection(folder, used, items, classes, list(src.skipped))


def check_classes(folder: Path, folder_classes: list[str], model_classes: list[str],
                  model: str) -> None:
    """Refuse a folder whose class names are not all among the model's classes."""
    if not model_classes:
        raise ValueError(f"{model}: the model carries no class names, so its outputs cannot "
                         f"be matched to the class folders of {folder}; pass --data with the "
                         "preset it was trained on (cifar10, cifar10_akamaster, toy, ...)")
    known = set(model_classes)
    unknown = [c for c in folder_classes if c not in known]
    if unknown:
        raise ValueError(f"{folder}: {len(unknown)} class folder(s) the model does not know: "
                         f"{_names(unknown, 10)} (the model's classes: "
                         f"{_names(model_classes)})")


def spread(items: list[Item], classes: list[str], limit: int | None) -> list[Item]:
    """At most ``limit`` items, taken in turn from each class (each class's first files in
    the reader's sorted order), so a small limit still covers every class."""
    if limit is None or len(items) <= limit:
        return list(items)
    by_class: dict[str, list[Item]] = {c: [] for c in classes}
    for it in items:
        by_class[it.class_name].append(it)
    out: list[Item] = []
    depth = 0
    while len(out) < limit:
        for c in classes:
            if depth < len(by_class[c]) and len(out) < limit:
                out.append(by_class[c][depth])
        depth += 1
    keep = {id(it) for it in out}
    return [it for it in items if id(it) in keep]  # back in the reader's order


class _Images(torch.utils.data.Dataset):
    """Decoded, resized uint8 images; a file that cannot be read gives its reason instead."""

    def __init__(self, items: list[Item], size: int, mode: str):
        self.items, self.size, self.mode = items, size, mode

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return i, transform(self.items[i].load(), self.size, self.mode, False, None), ""
        except ImageError as exc:
            return i, None, exc.reason
        except Exception as exc:  # one bad file must never stop the evaluation
            return i, None, f"cannot read image ({type(exc).__name__}: {exc})"


def _as_list(batch: list) -> list:
    return batch


def _resize_mode(p: EvalClassifierParams, clf: Classifier) -> str:
    mode = p.resize if p.resize != "auto" else ("crop" if clf.data == "imagenet" else "stretch")
    return mode


def model_info(p: EvalClassifierParams, clf: Classifier) -> dict[str, Any]:
    """What was evaluated: enough to reproduce it and to tell two models apart."""
    return {"name": p.model, "arch": clf.arch, "data": clf.data, "mean": list(clf.mean),
            "std": list(clf.std), "input_size": clf.input_size, "num_classes": len(clf.classes),
            "sha256": clf.sha256, "path": clf.path}


def confusion_png(result: dict[str, Any]) -> bytes:
    """The confusion matrix as a PNG: rows the folder's classes, columns the same classes
    as predicted (plus "other" for predictions of classes the folder does not have),
    colours row-normalised, counts in the cells when there are few classes."""
    import matplotlib  # noqa: PLC0415 (heavy: loaded when a plot is written)

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (as above)
    from matplotlib.figure import Figure  # noqa: PLC0415 (as above)

    conf = result["confusion"]
    rows: list[str] = conf["rows"]
    cols: list[str] = conf["cols"]
    m = torch.tensor(conf["matrix"], dtype=torch.long)
    idx = [cols.index(c) for c in rows]
    shown = m[:, idx]
    labels = list(rows)
    other = m.sum(1) - shown.sum(1)
    if len(cols) > len(rows):
        shown = torch.cat([shown, other[:, None]], 1)
        labels.append("other")
    norm = shown.double() / shown.sum(1, keepdim=True).clamp(min=1)
    n = len(rows)
    side = min(20.0, max(5.0, 0.45 * max(n, len(labels)) + 2.5))
    fig = Figure(figsize=(side * max(1.0, len(labels) / max(n, 1)), side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm.numpy(), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto",
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the row's images")
    if n <= _MAX_TICKS:
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_yticks(range(n), rows)
    if n <= _MAX_COUNTS:
        for r in range(n):
            for c in range(len(labels)):
                v = int(shown[r, c])
                if v:
                    ax.text(c, r, str(v), ha="center", va="center", fontsize=7,
                            color="white" if norm[r, c] > 0.5 else "black")
    ax.set_xlabel("predicted class (the model's)")
    ax.set_ylabel("true class (the folder's)")
    name = Path(result["model"]["name"]).name or result["model"]["name"]
    top5 = result.get("top5")
    extra = f", top-5 {top5 * 100:.2f} %" if top5 is not None else ""
    ax.set_title(f"{name} ({result['model']['arch']}): top-1 {result['top1'] * 100:.2f} %"
                 f"{extra} on {result['num_images']} images", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_outputs(out: Path, result: dict[str, Any]) -> list[str]:
    """``eval.json`` and ``confusion.png`` under ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    files = [str(out / "eval.json"), str(out / "confusion.png")]
    result["files"] = files
    png = confusion_png(result)
    with atomic_write(out / "confusion.png") as fh:
        fh.write(png)
    with atomic_write(out / "eval.json", "w") as fh:
        fh.write(json.dumps(jsonable(result), indent=2, allow_nan=False) + "\n")
    return files


def eval_classifier_job(p: EvalClassifierParams, token: CancelToken | None = None,
                        classifier: Classifier | None = None) -> JobGen:
    """Evaluate ``p.model`` on ``p.images``; returns the result dict (also ``eval.json``
    under ``p.out`` when given). ``classifier`` replaces loading ``p.model`` (tests)."""
    token = job_context(token)
    device = token.device(p.device)
    if p.out is not None:  # refused before any work, not after it
        check_separate(p.out, {"images": p.images})
    clf = classifier if classifier is not None else load_model(p, device)
    clf.net.to(device).eval()
    sel = select_items(p.images, p.split)
    folder, skipped = sel.folder, sel.skipped
    check_classes(folder, sel.classes, list(clf.classes), p.model)
    items = spread(sel.items, sel.classes, p.limit)
    present = {it.class_name for it in items}
    classes = [c for c in sel.classes if c in present]  # a small --limit may miss some
    if not items:
        raise NoInputError(f"{folder}: no images to evaluate on")
    mode = _resize_mode(p, clf)
    row = {c: i for i, c in enumerate(classes)}
    col = {c: i for i, c in enumerate(clf.classes)}
    yield Log(f"evaluating {p.model} ({clf.arch}, data {clf.data}, {clf.input_size} px, "
              f"{mode}) on {len(items)} images of {len(classes)} classes in {folder}")
    for path, reason in skipped:
        yield Log(f"skipped {path}: {reason}", "warning")
    ncls = len(clf.classes)
    conf = torch.zeros(len(classes), ncls, dtype=torch.long)
    top5_hits = 0
    loader = torch.utils.data.DataLoader(
        _Images(items, clf.input_size, "imagenet" if mode == "crop" else "none"),
        batch_size=p.batch_size, num_workers=p.workers, collate_fn=_as_list)
    t0, done, seen = time.monotonic(), 0, 0
    for batch in loader:
        token.check()
        good = [(i, x) for i, x, _ in batch if x is not None]
        for i, x, reason in batch:
            if x is None:
                skipped.append((str(items[i].path), reason))
                yield Log(f"skipped {items[i].path}: {reason}", "warning")
        if good:
            x = torch.stack([x for _, x in good]).to(device).float().div_(255.0)
            y = torch.tensor([row[items[i].class_name] for i, _ in good])
            yc = torch.tensor([col[items[i].class_name] for i, _ in good])
            with torch.inference_mode():  # not around the loop: a yield would leak it
                logits = clf.logits(x).float().cpu()
            pred = logits.argmax(1)
            conf.index_put_((y, pred), torch.ones_like(y), accumulate=True)
            if ncls >= 5:
                top5_hits += int(logits.topk(5, 1).indices.eq(yc[:, None]).any(1).sum())
            seen += len(good)
        done += len(batch)
        top1 = _top1(conf, classes, col)
        yield Progress(done, len(items), f"top-1 {top1 * 100:.2f} % so far")
        yield Metrics(done, {"top1": top1})
    if not seen:
        raise NoInputError(f"{folder}: none of the {len(items)} images could be read")
    result = summarize(conf, classes, list(clf.classes), top5_hits if ncls >= 5 else None)
    result.update({
        "num_errors": len(skipped),
        "skipped": [{"file": f, "error": r} for f, r in skipped],
        "model": model_info(p, clf), "images": str(folder),
        "split": sel.split,
        "resize": mode, "seconds": round(time.monotonic() - t0, 3), "params": params_dict(p)})
    yield Log(f"top-1 {result['top1'] * 100:.2f} % on {result['num_images']} images"
              + (f", {len(skipped)} skipped" if skipped else ""))
    if p.out is not None and token.dist.is_main:  # under torchrun every rank has it all
        write_outputs(Path(p.out), result)
        yield Log(f"wrote {Path(p.out) / 'eval.json'} and confusion.png")
    return result


def _top1(conf: torch.Tensor, classes: list[str], col: dict[str, int]) -> float:
    """Top-1 accuracy of a confusion matrix (rows: folder classes, cols: model classes)."""
    n = int(conf.sum())
    if not n:
        return 0.0
    hits = sum(int(conf[r, col[c]]) for r, c in enumerate(classes))
    return hits / n


def summarize(conf: torch.Tensor, classes: list[str], model_classes: list[str],
              top5_hits: int | None) -> dict[str, Any]:
    """Top-1 (and top-5), per-class accuracy and the confusion matrix as plain values."""
    col = {c: i for i, c in enumerate(model_classes)}
    n = int(conf.sum())
    per_class = {}
    for r, c in enumerate(classes):
        tot = int(conf[r].sum())
        per_class[c] = {"top1": int(conf[r, col[c]]) / tot if tot else None, "images": tot}
    return {"top1": _top1(conf, classes, col),
            "top5": top5_hits / n if top5_hits is not None and n else None,
            "num_images": n, "classes": classes, "per_class": per_class,
            "confusion": {"rows": classes, "cols": model_classes,
                          "matrix": conf.tolist()}}


__all__ = ["EvalClassifierParams", "Selection", "eval_classifier_job", "load_model",
           "select_items",
           "check_classes", "spread", "summarize", "confusion_png", "write_outputs"]
