"""Synthesize: NaturalInversion / DeepInversion with the batch grid and loss curves."""

from __future__ import annotations

from studio.gui.pages.base import JobPage


class SynthesizePage(JobPage):
    key = "synthesize"
    title = "Synthesize"
    icon = "synthesize"
    tip = "Data-free synthesis from a teacher; then distil or prune with the result"
    job_names = ("synthesize", "distill", "prune")
    engine = "inversion engine (studio.inversion)"
