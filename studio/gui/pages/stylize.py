"""Stylize: AdaIN on single images with a live alpha preview (filled in below)."""

from __future__ import annotations

from studio.gui.pages.base import JobPage


class StylizePage(JobPage):
    key = "stylize"
    title = "Stylize"
    icon = "stylize"
    tip = "AdaIN style transfer on single images, with a live alpha preview"
    job_names = ("stylize",)
    engine = "AdaIN engine (studio.adain)"
