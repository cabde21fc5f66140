"""Texture bias: cue-conflict stimuli, shape-bias evaluation, a stimulus browser."""

from __future__ import annotations

from studio.gui.pages.base import JobPage


class TextureBiasPage(JobPage):
    key = "texture"
    title = "Texture bias"
    icon = "texture"
    tip = "Build cue-conflict stimuli, measure shape bias, inspect each model's decisions"
    job_names = ("cue-conflict", "toy-cue-conflict", "shape-bias")
    engine = "texture-bias lab (studio.evaluate)"
