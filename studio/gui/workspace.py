"""The workspace the window starts in: the embedded toy world and where outputs go.

On a fresh machine nothing is configured, so every page opens on the toy world: small
procedural images (shapes, textures, scenes) drawn into the workspace on first start,
and the toy checkpoints shipped in ``studio/resources/toy/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from studio.core.images import list_images
from studio.core.jobs import CancelToken, JobGen, Log
from studio.core.paths import resources_dir
from studio.toyworld.generate import ToyWorldParams, generate_job


def workspace_dir() -> Path:
    """$STUDIO_WORKSPACE, else the ``workspace`` preference, else ~/.local/share/studio."""
    env = os.environ.get("STUDIO_WORKSPACE")
    if env:
        return Path(env).expanduser()
    try:
        from studio.gui import settings as prefs

        v = prefs.get("workspace", "")
        if v:
            return Path(v)
    except Exception:  # settings unavailable (no QApplication): fall through
        pass
    from studio.core.paths import data_dir

    return data_dir("studio", "workspace", what="the workspace (toy world, outputs)",
                    env="STUDIO_WORKSPACE")


@dataclass(frozen=True)
class ToyInputs:
    """Where the toy-world inputs live inside a workspace."""

    root: Path

    @property
    def shapes(self) -> Path:
        return self.root / "toyworld" / "shapes"

    @property
    def textures(self) -> Path:
        return self.root / "toyworld" / "textures"

    @property
    def world(self) -> Path:
        return self.root / "toyworld" / "world"

    def out(self, name: str) -> Path:
        """A fresh output folder for a page (``outputs/<name>``)."""
        return self.root / "outputs" / name

    def ready(self) -> bool:
        return all((p / "dataset.json").is_file()
                   for p in (self.shapes, self.textures, self.world))

    def shape_images(self) -> list[Path]:
        return list_images(self.shapes, recursive=True) if self.shapes.is_dir() else []

    def texture_images(self) -> list[Path]:
        return list_images(self.textures, recursive=True) if self.textures.is_dir() else []

    def world_images(self, split: str = "test") -> list[Path]:
        d = self.world / split
        return list_images(d, recursive=True) if d.is_dir() else []

    def params(self) -> list[tuple[str, ToyWorldParams]]:
        return [
            ("shapes", ToyWorldParams(self.shapes, per_class=2, size=64, seed=1, kind="shape",
                                      workers=1)),
            ("textures", ToyWorldParams(self.textures, per_class=2, size=64, seed=2,
                                        kind="texture", workers=1)),
            ("world", ToyWorldParams(self.world, per_class=6, size=64, seed=0,
                                     shape_texture_correlation=0.98, kind="scene",
                                     splits=["train", "test"], test_per_class=3, workers=1)),
        ]


def prepare_toy_inputs(params: ToyInputs, token: CancelToken | None = None) -> JobGen:
    """Draw the small toy-world input sets the pages open on (skips what exists)."""
    token = token or CancelToken()
    out = {}
    for name, p in params.params():
        token.check()
        if (p.out / "dataset.json").is_file():
            out[name] = str(p.out)
            continue
        yield Log(f"drawing the toy world's {name} into {p.out}")
        yield from generate_job(p, token)
        out[name] = str(p.out)
    return out


def outside_toy_world(paths: list[str | Path], root: Path) -> list[Path]:
    """The paths not drawn from the toy world (not inside the workspace ``root`` or the
    shipped resources): a toy model says nothing useful about them."""
    roots = [root.resolve(), resources_dir().resolve()]
    out = []
    for p in paths:
        rp = Path(p).resolve()
        if not any(r == rp or r in rp.parents for r in roots):
            out.append(Path(p))
    return out


def toy_checkpoints() -> list[Path]:
    """The toy models shipped in studio/resources/toy/ (empty until they are trained)."""
    d = resources_dir() / "toy"
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix in (".pth", ".pt", ".safetensors"))


def toy_model(name: str) -> Path | None:
    """``studio/resources/toy/<name>`` if shipped."""
    p = resources_dir() / "toy" / name
    return p if p.is_file() else None


def adain_missing() -> str:
    """Empty when an AdaIN (official or toy) can be loaded; else what is missing."""
    from studio.core.checkpoints import REGISTRY, models_dir

    toy = resources_dir() / "toy"
    if (toy / "adain_encoder.pth").is_file() and (toy / "adain_decoder.pth").is_file():
        return ""
    if all((models_dir() / REGISTRY[n].filename).is_file()
           for n in ("adain-vgg", "adain-decoder") if n in REGISTRY):
        return ""
    return ("No AdaIN weights yet: the toy AdaIN (studio/resources/toy/adain_encoder.pth and "
            "adain_decoder.pth) is not shipped in this build and the official "
            "vgg_normalised.pth + decoder.pth are not installed (import them on the Models "
            "page).")
