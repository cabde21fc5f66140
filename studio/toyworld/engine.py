"""The toy world's declaration: the embedded default dataset and its classifiers."""

from studio.core.engines import Engine, JobSpec, ModelSpec, PageSpec

#: The toy classifiers, read like studio.models.classifiers.read_weights.
_TOY = dict(layout="studio.toyworld.models:ToyVGG", unwrap=("state_dict", "model"),
            strip_prefixes=("module.",), bundled=True)
_OURS = "trained by this project (studio/resources/toy/README.md)"

ENGINE = Engine(
    name="toyworld",
    title="Toy world",
    jobs=(JobSpec("toyworld", "studio.toyworld.params:ToyWorldParams",
                  "studio.toyworld.generate:generate_job",
                  "Generate a toy-world dataset (shape x texture)"),),
    cli="studio.toyworld.cli",
    models=(
        ModelSpec("toy-teacher", "toy/teacher.pth",
                  "Toy-world classifier (ToyVGG, texture-biased): shape-bias subject, "
                  "inversion teacher, source of the toy AdaIN encoder", None, None, _OURS,
                  "toy", **_TOY),
        ModelSpec("toy-classifier-stylized", "toy/classifier_stylized.pth",
                  "Toy-world classifier trained on the AdaIN-stylised toy world (Geirhos et "
                  "al. 2019's protocol): the shape-biased counterpart of toy-teacher", None,
                  None, _OURS, "toy", **_TOY),
        ModelSpec("toy-classifier-shuffled", "toy/classifier_shuffled.pth",
                  "Toy-world classifier trained with the texture shortcut removed (random "
                  "textures): the shape-biased counterpart of toy-teacher", None, None,
                  _OURS, "toy", **_TOY),
        ModelSpec("toy-classifier-shape", "toy/classifier_shape.pth",
                  "Toy-world shape classifier trained on outlines in random appearances "
                  "(texture-blind): judges whether a stylised image kept its content's shape",
                  None, None, _OURS, "toy", **_TOY),
        ModelSpec("toy-classifier-texture", "toy/classifier_texture.pth",
                  "Toy-world texture classifier trained on texture patches only (shape-blind):"
                  " judges whether a stylised image took its style's texture", None, None,
                  _OURS, "toy", **_TOY),
        ModelSpec("toy-classifier-pattern", "toy/classifier_pattern.pth",
                  "Toy-world pattern classifier trained on texture patterns in random colours "
                  "(colour- and shape-blind): judges whether a stylised image took its "
                  "style's pattern, not only its palette", None, None, _OURS, "toy", **_TOY),
    ),
    pages=(PageSpec("studio.gui.pages.toyworld:ToyWorldPage", 60),),
)
