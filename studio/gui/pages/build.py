"""Build dataset: a stylised twin of an ImageFolder dataset (Stylized-ImageNet style)."""

from __future__ import annotations

from typing import Any

from studio.gui.pages.base import JobPage


class BuildPage(JobPage):
    key = "build"
    title = "Build dataset"
    icon = "build"
    tip = "Stylise a whole dataset: dry-run plan, live grid, pause / cancel / resume"
    job_names = ("build-stylized",)
    engine = "stylized dataset builder (studio.datasets.stylized)"
    run_text = "Build"

    def defaults(self, job: str) -> dict[str, Any]:
        toy = self.ctx.toy
        return {"content": toy.world, "styles": toy.textures, "out": toy.out("stylized"),
                "content_size": 64, "crop": 64, "style_size": 64, "min_style_size": 32,
                "workers": 0, "batch_size": 8}
