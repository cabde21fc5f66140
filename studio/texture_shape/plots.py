"""The shape-bias "matrix plot" users know from model-vs-human.

One row per category; bottom axis the fraction of 'texture' decisions, top axis the
fraction of 'shape' decisions (reversed, the same scale read from the other side); one
marker per model per category and a vertical line at each model's overall value. The
published reference models and humans (texture_bias.md) are drawn as labelled dashed
lines, humans in red, so a new measurement is read against the paper at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "h")
COLOURS = ("#1f5fa8", "#e08a00", "#2a9d4b", "#8e44ad", "#7f7f7f", "#17becf", "#bcbd22",
           "#8c564b", "#e377c2", "#393b79")


def _reference_places(labels: Sequence[tuple[float, str]], rows: int, axes_in: float
                      ) -> list[tuple[float, str]]:
    """(y, "left"/"right") of each rotated reference label: a label goes on the side of
    its line and at the height where it overlaps no label already placed — references
    close together (0.75–0.8) take turns left and right, then a lower level."""
    width = 0.025  # a 7 pt rotated label, in axis units of a 6.4 in wide plot
    row_in = axes_in / max(1.0, rows + 0.4)
    top = rows - 0.45
    placed: list[tuple[int, float, float]] = []  # (level, x0, x1)
    out = []
    for x, text in labels:
        length = len(text) * 7 * 0.55 / 72 / row_in + 0.4  # the label's height in rows
        levels = max(1, int((rows + 0.4) // length))
        choice = None
        for level in range(levels):
            for side, x0, x1 in (("left", x, x + width), ("right", x - width, x)):
                if all(lv != level or x1 <= a or x0 >= b for lv, a, b in placed):
                    choice = (level, side, x0, x1)
                    break
            if choice:
                break
        if choice is None:  # no free place: alternate as well as it goes
            k = len(out)
            choice = (k % levels, "left" if k % 2 else "right", x, x)
        level, side, x0, x1 = choice
        placed.append((level, x0, x1))
        out.append((top - level * length, side))
    return out


def matrix_plot(results: Mapping[str, Mapping], categories: Sequence[str], stem: Path,
                references: Mapping[str, float] | None = None, *,
                formats: Sequence[str] = ("png", "svg", "pdf"),
                title: str = "Shape bias on cue-conflict stimuli") -> list[str]:
    """Draw and save ``stem.<fmt>`` for every format; returns the written paths.

    ``results`` maps a model name to a summary from :func:`shape_bias.summarize`.
    """
    import matplotlib  # noqa: PLC0415 (heavy: loaded when used)

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415 (heavy: loaded when used)

    cats = list(categories)
    h = 1.6 + 0.34 * len(cats)
    fig, ax = plt.subplots(figsize=(6.4, h))
    ys = np.arange(len(cats))[::-1]
    ax.set_yticks(ys, cats)
    ax.set_ylim(-0.7, len(cats) - 0.3)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("Fraction of 'texture' decisions")
    top = ax.secondary_xaxis("top", functions=(lambda x: 1 - x, lambda x: 1 - x))
    top.set_xlabel("Fraction of 'shape' decisions")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    for y in ys:
        ax.axhline(y, color="#eeeeee", linewidth=0.5, zorder=0)

    refs = sorted((references or {}).items(), key=lambda kv: kv[1])
    face = ax.get_facecolor()
    dark = 0.299 * face[0] + 0.587 * face[1] + 0.114 * face[2] < 0.5
    top_in, bottom_in = 1.0, 0.6
    places = _reference_places([(1 - ref, f"{name} {ref:.0%}") for name, ref in refs],
                               len(cats), h - top_in - bottom_in)
    for (name, ref), (level_y, side) in zip(refs, places):
        human = name == "humans"
        x = 1 - ref
        ax.axvline(x, color="#d62728" if human else "#b0b0b0", linestyle="--",
                   linewidth=1.2 if human else 0.8, zorder=1)
        ax.text(x, level_y, f"{name} {ref:.0%}", rotation=90, fontsize=7, ha=side,
                va="top",
                # light text on a dark style, dark text on a light one: both readable
                color=("#ff7b7b" if dark else "#d62728") if human else
                ("#c8c8c8" if dark else "#555555"),
                bbox={"facecolor": face, "edgecolor": "none", "pad": 0.6, "alpha": 0.85})

    for k, (name, s) in enumerate(results.items()):
        col, mk = COLOURS[k % len(COLOURS)], MARKERS[k % len(MARKERS)]
        per = s.get("per_category", {})
        xs, yy = [], []
        for y, c in zip(ys, cats):
            sb = per.get(c, {}).get("shape_bias")
            if sb is not None:
                xs.append(1 - sb)
                yy.append(y)
        overall = s.get("shape_bias")
        label = f"{name} ({overall:.1%})" if overall is not None else name
        ax.scatter(xs, yy, marker=mk, s=36, facecolor=col, edgecolor="white", linewidth=0.6,
                   zorder=3, label=label)
        if overall is not None:
            ax.axvline(1 - overall, color=col, linewidth=1.6, zorder=2)
    ax.set_title(title, fontsize=10, pad=28)
    fig.subplots_adjust(left=0.2, right=0.97, top=1 - top_in / h, bottom=bottom_in / h)
    axes_h = h - top_in - bottom_in
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / axes_h), ncol=2, fontsize=7,
              frameon=False)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=150, bbox_inches="tight",
                    metadata=None if fmt != "pdf" else {"CreationDate": None})
        written.append(str(path))
    plt.close(fig)
    return written


def box_plot(results: Mapping[str, Mapping], categories: Sequence[str], stem: Path, *,
             formats: Sequence[str] = ("png", "svg", "pdf")) -> list[str]:
    """Per-category shape bias as one box per model (model-vs-human's second plot)."""
    import matplotlib  # noqa: PLC0415 (heavy: loaded when used)

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415 (heavy: loaded when used)

    names = list(results)
    data = [[v["shape_bias"] for c in categories
             if (v := results[n].get("per_category", {}).get(c, {})).get("shape_bias")
             is not None] for n in names]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(names), 3.6))
    ax.boxplot(data, widths=0.5)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right", fontsize=7)
    for k, d in enumerate(data, start=1):
        ax.scatter([k] * len(d), d, s=10, color=COLOURS[(k - 1) % len(COLOURS)], zorder=3)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("shape bias per category")
    fig.tight_layout()
    written = []
    for fmt in formats:
        path = Path(stem).with_suffix(f".{fmt}")
        fig.savefig(path, dpi=150, metadata=None if fmt != "pdf" else {"CreationDate": None})
        written.append(str(path))
    plt.close(fig)
    return written


def render_png(path: Path, max_side: int = 480) -> np.ndarray:
    """A plot file as a small RGB array for a Preview event."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        return np.asarray(im, dtype=np.uint8)
