"""Translate: TSIT inference with content/style pickers, and training with live previews."""

from __future__ import annotations

from studio.gui.pages.base import JobPage


class TranslatePage(JobPage):
    key = "translate"
    title = "Translate"
    icon = "translate"
    tip = "TSIT image-to-image translation: translate with a model, or train one"
    job_names = ("translate", "train-tsit")
    engine = "TSIT engine (studio.tsit)"
