"""The texture-vs-shape engine's declaration (Geirhos et al. 2019): Stylized-ImageNet,
cue-conflict stimuli, shape bias and the toy experiment."""

from studio.core.engines import Engine, JobSpec, ModelSpec, PageSpec

#: texture-vs-shape .pth.tar: {"state_dict": {"module.<torchvision key>": ...}, ...}.
_RELEASE = ("https://bitbucket.org/robert_geirhos/texture-vs-shape-pretrained-models/raw/"
            "60b770e128fffcbd8562a3ab3546c1a735432d03/")
_TVS = dict(layout="torchvision.models:resnet50", unwrap=("state_dict",),
            strip_prefixes=("module.",))
_FT = ("resnet50_finetune_60_epochs_lr_decay_after_30_start_resnet50_train_45_epochs_"
       "combined_IN_SF-ca06340c.pth.tar")

ENGINE = Engine(
    name="texture_shape",
    title="Texture vs shape",
    jobs=(
        JobSpec("build-stylized", "studio.texture_shape.params:StylizedParams",
                "studio.texture_shape.stylized:build_stylized",
                "Stylized-ImageNet-style dataset: every content image stylised by AdaIN "
                "with a seeded random style", presets="studio.texture_shape.stylized:PRESETS"),
        JobSpec("cue-conflict", "studio.texture_shape.params:CueConflictParams",
                "studio.texture_shape.cue_conflict:cue_conflict_job",
                "Build texture-shape cue-conflict stimuli"),
        JobSpec("toy-cue-conflict", "studio.texture_shape.params:ToyCueConflictParams",
                "studio.texture_shape.cue_conflict:toy_cue_conflict_job",
                "Draw toy-world cue-conflict stimuli procedurally (shape x other texture)"),
        JobSpec("shape-bias", "studio.texture_shape.params:ShapeBiasParams",
                "studio.texture_shape.shape_bias:shape_bias_job",
                "Shape bias of classifiers on cue-conflict images"),
        JobSpec("texture-bias-experiment", "studio.texture_shape.params:ExperimentParams",
                "studio.texture_shape.experiment:texture_bias_experiment",
                "Toy world: texture-biased vs stylised-trained classifier, shape bias"),
    ),
    cli="studio.texture_shape.cli",
    models=(
        ModelSpec("resnet50-sin", "resnet50_train_60_epochs-c8e5653e.pth.tar",
                  "ResNet-50 trained on Stylized-ImageNet (texture-vs-shape model A)",
                  _RELEASE + "resnet50_train_60_epochs-c8e5653e.pth.tar",
                  None, "see rgeirhos/texture-vs-shape", "shape-bias", **_TVS),
        ModelSpec("resnet50-sin-in", "resnet50_train_45_epochs_combined_IN_SF-2a0d100e.pth.tar",
                  "ResNet-50 trained on SIN+IN (texture-vs-shape model B)",
                  _RELEASE + "resnet50_train_45_epochs_combined_IN_SF-2a0d100e.pth.tar",
                  None, "see rgeirhos/texture-vs-shape", "shape-bias", **_TVS),
        ModelSpec("resnet50-sin-in-ft-in", _FT,
                  "ResNet-50 SIN+IN fine-tuned on IN (texture-vs-shape model C)",
                  _RELEASE + _FT, None, "see rgeirhos/texture-vs-shape", "shape-bias", **_TVS),
    ),
    pages=(PageSpec("studio.gui.pages.build:BuildPage", 20),
           PageSpec("studio.gui.pages.texture:TextureBiasPage", 30)),
)
