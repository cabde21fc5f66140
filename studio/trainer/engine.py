"""The classifier trainer's declaration (Bag of Tricks, He et al. 2019)."""

from studio.core.engines import Engine, JobSpec

ENGINE = Engine(
    name="trainer",
    title="Classifier trainer",
    jobs=(JobSpec("train-classifier", "studio.trainer.trainer:TrainParams",
                  "studio.trainer.trainer:train_job",
                  "Train or fine-tune a classifier (Bag of Tricks)"),),
    cli="studio.trainer.cli",
)
