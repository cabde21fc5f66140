"""The standard toy world every shipped toy model, test and the demo refer to.

One definition, so the teacher, the toy AdaIN, the TSIT task and the demo agree on the
data (and a retrain reproduces the shipped models).
"""

from __future__ import annotations

from pathlib import Path

from studio.core.jobs import CancelToken, JobGen, job_context
from studio.toyworld.generate import ToyWorldParams, generate_job

#: Image side of the standard toy world.
SIZE = 64
#: Texture/shape correlation of the *training* world: texture is (almost) always
#: predictive, as on ImageNet, so a CNN takes the texture shortcut (DESIGN.md calibration:
#: 0.98 -> shape bias about 0.06).
CORRELATION = 0.98


def world_params(root: str | Path, *, per_class: int = 600, test_per_class: int = 100,
                 seed: int = 0) -> ToyWorldParams:
    """train/ and test/ scenes (shape = label, texture = shortcut)."""
    return ToyWorldParams(Path(root), per_class=per_class, size=SIZE, seed=seed,
                          shape_texture_correlation=CORRELATION, kind="scene",
                          splits=["train", "test"], test_per_class=test_per_class)


def shapes_params(root: str | Path, *, per_class: int = 4, seed: int = 1) -> ToyWorldParams:
    """Silhouettes, one folder per category: the content images of cue-conflict stimuli."""
    return ToyWorldParams(Path(root), per_class=per_class, size=SIZE, seed=seed, kind="shape")


def textures_params(root: str | Path, *, per_class: int = 3, seed: int = 2) -> ToyWorldParams:
    """Texture patches filed under the category they belong to: cue-conflict styles."""
    return ToyWorldParams(Path(root), per_class=per_class, size=SIZE, seed=seed, kind="texture")


def generate_all(root: str | Path, *, per_class: int = 600, test_per_class: int = 100,
                 seed: int = 0, token: CancelToken | None = None) -> JobGen:
    """Generate world/, shapes/ and textures/ under ``root``; returns their summaries.
    ``token`` cancels the whole run (each part is a sub-job of one context)."""
    root = Path(root)
    ctx = job_context(token)
    out = {}
    for name, p in (("world", world_params(root / "world", per_class=per_class,
                                           test_per_class=test_per_class, seed=seed)),
                    ("shapes", shapes_params(root / "shapes")),
                    ("textures", textures_params(root / "textures"))):
        out[name] = yield from ctx.run(generate_job, p)
    return out
