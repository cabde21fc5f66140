"""Imports every module that registers a job type (recipes and the GUI look jobs up here)."""

import studio.adain.stylize  # noqa: F401
import studio.adain.train  # noqa: F401
import studio.datasets.cue_conflict  # noqa: F401
import studio.datasets.stylized  # noqa: F401
import studio.evaluate.distill  # noqa: F401
import studio.evaluate.experiment  # noqa: F401
import studio.evaluate.prune  # noqa: F401
import studio.evaluate.shape_bias  # noqa: F401
import studio.evaluate.trainer  # noqa: F401
import studio.inversion.experiment  # noqa: F401
import studio.inversion.quality  # noqa: F401
import studio.inversion.synthesize  # noqa: F401
import studio.toyworld.generate  # noqa: F401
import studio.tsit.train  # noqa: F401
import studio.tsit.translate  # noqa: F401
