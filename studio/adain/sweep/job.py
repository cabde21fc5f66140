"""The ``stylize-sweep`` job: a contact sheet of AdaIN results, rendered cell by cell.

Researchers sweep: alpha from 0 to 1 on one pair, or a content × style grid. The job
renders each cell with the same model calls as ``adain.stylize`` (content features once
per content, style statistics once per style), shows the sheet as it fills (a preview
per cell), and writes

- ``sheet.png``: the whole sheet, labelled (the sweep's parameters in its text chunk);
- ``cells/<content>__<style>__alpha<a>.png``: every result alone, each with its full
  provenance (content, style, alpha, sizes, colour mode, model and its hash);
- ``sweep.toml``: the recipe that replays it (``studio run sweep.toml``);
- ``manifest.json``: which file is which cell.

The same recipe gives byte-identical files on the same machine (tested). The recipe is
written here, not through ``studio.recipes`` (the application layer the engines may not
import): the same schema-1 document, its paths absolute so it replays from anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import torch

from studio.adain.stylize import load_model, prepare_model
from studio.adain.sweep.params import SweepParams
from studio.adain.transforms import load_tensor, to_uint8
from studio.core.checkpoints import state_sha256
from studio.core.images import atomic_write, encode_png
from studio.core.jobs import CancelToken, JobGen, Log, Preview, Progress, job_context
from studio.core.params import PATH_META
from studio.datasets.folders import distinct_stems
from studio.datasets.writers import check_separate

#: Pixels between cells and around the sheet; the background is light grey.
GAP, BACKGROUND = 4, 235
#: Height of a text label row on the sheet.
LABEL_H = 14
RECIPE = "sweep.toml"


def recipe_doc(p: SweepParams) -> dict[str, Any]:
    """The recipe of ``p`` as ``studio run`` reads it (schema 1): fields set to None left
    out, path fields absolute."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if v is None:
            continue
        if f.metadata.get(PATH_META) == "path":
            def absolute(x: str) -> str:
                return os.path.abspath(x) if x and not str(x).startswith("~") else x
            v = [absolute(str(x)) for x in v] if isinstance(v, list) else absolute(str(v))
        out[f.name] = v
    return {"schema": 1, "job": "stylize-sweep", "params": out}


def plan(p: SweepParams) -> tuple[list[tuple[Path, Path]], list[float]]:
    """(row pairs, column alphas): an alpha sweep has a row per content × style pair and a
    column per alpha; a styles sweep a row per content and a column per style (all at
    one alpha; a row's pair then names its first style)."""
    contents, styles = [Path(c) for c in p.content], [Path(s) for s in p.style]
    if not contents:
        raise ValueError("give at least one --content image")
    if not styles:
        raise ValueError("give at least one --style image")
    if p.sweep == "alpha":
        if not p.alphas:
            raise ValueError("give the --alphas of the sweep, e.g. 0 0.25 0.5 0.75 1")
        bad = [a for a in p.alphas if not 0.0 <= a <= 1.0]
        if bad:
            raise ValueError(f"--alphas must be in [0, 1], got {bad}")
        return [(c, s) for c in contents for s in styles], list(p.alphas)
    if not 0.0 <= p.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {p.alpha}")
    return [(c, styles[0]) for c in contents], [p.alpha] * len(styles)


def _fit(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """``img`` scaled to fit (h, w) keeping its aspect, centred on the background."""
    from PIL import Image  # noqa: PLC0415 (Pillow: only the sheet needs it)

    ih, iw = img.shape[:2]
    s = min(h / ih, w / iw)
    nh, nw = max(1, round(ih * s)), max(1, round(iw * s))
    small = np.asarray(Image.fromarray(img).resize((nw, nh), Image.Resampling.BILINEAR)) \
        if (nh, nw) != (ih, iw) else img
    out = np.full((h, w, 3), BACKGROUND, np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y:y + nh, x:x + nw] = small[..., :3]
    return out


def _label(text: str, w: int) -> np.ndarray:
    """A row of text ``w`` wide (Pillow's built-in font: the same pixels every run)."""
    from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415

    img = Image.new("RGB", (w, LABEL_H), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    while text and draw.textlength(text, font=font) > w - 2:
        text = text[:-2] + "…" if len(text) > 2 else ""
    tw = draw.textlength(text, font=font)
    draw.text(((w - tw) / 2, 1), text, fill=(40, 40, 40), font=font)
    return np.asarray(img)


class Sheet:
    """The contact sheet as an array: header row and columns, then a cell per result."""

    def __init__(self, rows: int, cols: int, cell: tuple[int, int], left: int, labels: bool,
                 header_images: bool):
        self.cell, self.left, self.labels = cell, left, labels
        ch, cw = cell
        self.top = (LABEL_H + GAP) if labels else 0
        self.head = ch + GAP if header_images else 0  # the styles above their columns
        h = GAP + self.top + self.head + rows * (ch + GAP)
        w = GAP + left * (cw + GAP) + cols * (cw + GAP)
        self.image = np.full((h, w, 3), BACKGROUND, np.uint8)

    def box(self, r: int, c: int) -> tuple[int, int]:
        """Top-left of cell (r, c); r = -1 is the header row, c < 0 the left columns."""
        ch, cw = self.cell
        y = GAP + self.top + (self.head if r >= 0 else 0) + max(r, 0) * (ch + GAP)
        x = GAP + (self.left + c) * (cw + GAP)
        return y, x

    def put(self, r: int, c: int, img: np.ndarray) -> None:
        y, x = self.box(r, c)
        ch, cw = self.cell
        self.image[y:y + ch, x:x + cw] = _fit(img, ch, cw)

    def label(self, c: int, text: str) -> None:
        if self.labels:
            _, x = self.box(0, c)
            self.image[GAP:GAP + LABEL_H, x:x + self.cell[1]] = _label(text, self.cell[1])


def _load(path: Path, size: int) -> torch.Tensor:
    try:
        return load_tensor(path, size)
    except Exception as exc:  # name the file: the sweep cannot be made without it
        raise ValueError(f"{path}: cannot be read ({exc})") from exc


def sweep_job(p: SweepParams, token: CancelToken | None = None) -> JobGen:
    token = job_context(token)
    rows, alphas = plan(p)
    out = Path(p.output)
    contents = list(dict.fromkeys(c for c, _ in rows))
    styles = [Path(s) for s in p.style]
    check_separate(out, {**{f"content {i + 1}": c for i, c in enumerate(contents)},
                         **{f"style {i + 1}": s for i, s in enumerate(styles)}})
    doc = recipe_doc(p)
    old = out / RECIPE
    if old.is_file() and not p.overwrite:
        import tomllib  # noqa: PLC0415

        try:
            before = tomllib.loads(old.read_text(encoding="utf-8")).get("params", {})
        except (OSError, ValueError):
            before = {}
        diff = sorted(k for k in set(before) | set(doc["params"])
                      if k not in ("overwrite", "output")
                      and before.get(k) != doc["params"].get(k))
        if diff:
            raise ValueError(f"{out} holds a sweep made with other settings ({', '.join(diff)})"
                             ": pass --overwrite to replace it, or choose another --out")
    color = p.color_method if p.preserve_color else None
    device = token.device(p.device)
    model = load_model(p.vgg, p.decoder)
    model_sha = state_sha256(model.state_dict())
    model = prepare_model(model, device, channels_last=False)
    yield Log(f"sweep of {len(rows)} row(s) × {len(alphas)} column(s) with the "
              f"{model.config.name} AdaIN on {device}")

    # every input once: contents (features once each), styles (images and statistics)
    cimg = {c: _load(c, p.content_size) for c in contents}
    simg = {s: _load(s, p.style_size) for s in styles}
    with torch.inference_mode():
        feats = {c: model.encode_content(x.unsqueeze(0).to(device)) for c, x in cimg.items()} \
            if color is None else {}
        stats = {s: model.style_stats(x.unsqueeze(0).to(device)) for s, x in simg.items()} \
            if color is None else {}

    def render(c: Path, s: Path, alpha: float) -> np.ndarray:
        with torch.inference_mode():
            if color is None:
                y = model.decode(model.target(feats[c], stats[s], alpha=alpha))
            else:
                y = model.stylize(cimg[c].unsqueeze(0).to(device),
                                  simg[s].unsqueeze(0).to(device), alpha=alpha,
                                  preserve_color=color)
        return to_uint8(y.float())[0]

    def array(x: torch.Tensor) -> np.ndarray:
        return to_uint8(x.unsqueeze(0))[0]

    # the cell size: the largest content at the chosen size (results have its shape)
    ch = max(int(x.shape[1]) for x in cimg.values())
    cw = max(int(x.shape[2]) for x in cimg.values())
    left = 2 if p.sweep == "alpha" and len(styles) > 1 else 1
    sheet = Sheet(len(rows), len(alphas), (ch, cw), left, p.labels, p.sweep == "styles")
    for r, (c, s) in enumerate(rows):  # the row headers: the images each row is made of
        sheet.put(r, -left, array(cimg[c]))
        if left == 2:
            sheet.put(r, -1, array(simg[s]))
    if p.sweep == "styles":
        for j, s in enumerate(styles):
            sheet.put(-1, j, array(simg[s]))
            sheet.label(j, s.stem)
    else:
        for j, a in enumerate(alphas):
            sheet.label(j, f"alpha {a:g}")
    if p.labels:
        sheet.label(-left, "content")
        if left == 2:
            sheet.label(-1, "style")

    cstem = dict(zip(contents, distinct_stems([c.name for c in contents])))
    sstem = dict(zip(styles, distinct_stems([s.name for s in styles])))
    provenance = {"model": model.config.name, "model_sha256": model_sha,
                  "vgg": p.vgg or None, "decoder": p.decoder or None}
    cells = out / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    if p.overwrite and (out / "manifest.json").is_file():  # the replaced sweep's cells
        try:
            for rec in json.loads((out / "manifest.json").read_text()).get("cells", []):
                (out / rec["file"]).unlink(missing_ok=True)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    total = len(rows) * len(alphas)
    records = []
    n = 0
    yield Progress(0, total, "rendering")
    for r, (c, s_row) in enumerate(rows):
        for j, alpha in enumerate(alphas):
            token.check()
            s = styles[j] if p.sweep == "styles" else s_row
            img = render(c, s, alpha)
            name = f"cells/{cstem[c]}__{sstem[s]}__alpha{alpha:.2f}.png"
            params = {"method": "adain", "job": "stylize-sweep", "content": str(c),
                      "style": str(s), "alpha": alpha, "content_size": p.content_size,
                      "style_size": p.style_size, "preserve_color": color,
                      "row": r, "column": j, **provenance}
            with atomic_write(out / name) as fh:
                fh.write(encode_png(img, params))
            records.append({"file": name, "row": r, "column": j, "content": str(c),
                            "style": str(s), "alpha": alpha})
            sheet.put(r, j, img)
            n += 1
            yield Progress(n, total, f"{n}/{total} cells")
            yield Preview(sheet.image.copy(), f"sweep {n}/{total}", n)
    sheet_params = {"job": "stylize-sweep", "sweep": p.sweep, "rows": len(rows),
                    "columns": len(alphas),
                    "content": [str(c) for c in contents], "style": [str(s) for s in styles],
                    "alphas": alphas, **provenance}
    with atomic_write(out / "sheet.png") as fh:
        fh.write(encode_png(sheet.image, sheet_params))
    with atomic_write(out / "manifest.json") as fh:
        fh.write(json.dumps({"sheet": "sheet.png", "recipe": RECIPE, "cells": records},
                            indent=1).encode("utf-8"))
    with atomic_write(out / RECIPE) as fh:
        fh.write(tomli_w.dumps(doc).encode("utf-8"))
    yield Log(f"sheet {out / 'sheet.png'} ({sheet.image.shape[1]}×{sheet.image.shape[0]} px),"
              f" {len(records)} images in {cells}, recipe {out / RECIPE}")
    return {"out": str(out), "sheet": str(out / "sheet.png"), "recipe": str(out / RECIPE),
            "files": [str(out / r["file"]) for r in records], "cells": len(records),
            "rows": len(rows), "columns": len(alphas)}
