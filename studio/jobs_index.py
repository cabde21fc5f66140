"""Imports every module that registers a job type (recipes and the GUI look jobs up here)."""

import studio.toyworld.generate  # noqa: F401
import studio.datasets.stylized  # noqa: F401
