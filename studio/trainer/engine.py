"""The classifier trainer's declaration (Bag of Tricks, He et al. 2019) and the
evaluation of any classifier on an image folder."""

from studio.core.engines import Engine, JobSpec, PageSpec

ENGINE = Engine(
    name="trainer",
    title="Classifier trainer",
    jobs=(JobSpec("train-classifier", "studio.trainer.trainer:TrainParams",
                  "studio.trainer.trainer:train_job",
                  "Train or fine-tune a classifier (Bag of Tricks)"),
          JobSpec("eval-classifier", "studio.trainer.params:EvalClassifierParams",
                  "studio.trainer.evaluate:eval_classifier_job",
                  "Top-1 / top-5, per-class accuracy and confusion matrix of a classifier "
                  "on an image folder (classes matched by name)")),
    cli="studio.trainer.cli",
    pages=(PageSpec("studio.gui.pages.evaluate:EvaluatePage", 45),),
)
