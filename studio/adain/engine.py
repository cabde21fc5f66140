"""The AdaIN engine's declaration (Huang & Belongie 2017; pytorch-AdaIN's files)."""

from studio.core.engines import Engine, JobSpec, ModelSpec, PageSpec

ENGINE = Engine(
    name="adain",
    title="AdaIN style transfer",
    jobs=(
        JobSpec("adain.stylize", "studio.adain.params:StylizeParams",
                "studio.adain.stylize:stylize_job",
                "stylise images with AdaIN (pytorch-AdaIN test.py)"),
        JobSpec("adain.train", "studio.adain.params:TrainParams", "studio.adain.train:train_job",
                "train an AdaIN decoder (pytorch-AdaIN train.py)"),
        JobSpec("stylize-sweep", "studio.adain.sweep.params:SweepParams",
                "studio.adain.sweep.job:sweep_job",
                "a contact sheet of AdaIN results: alpha steps, or contents × styles "
                "(sheet, single images and the recipe that replays it)"),
    ),
    cli="studio.adain.cli",
    models=(
        ModelSpec("adain-vgg", "vgg_normalised.pth",
                  "AdaIN encoder: normalised VGG-19 up to relu5_4 (pytorch-AdaIN)",
                  "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
                  "vgg_normalised.pth",
                  None, "MIT (pytorch-AdaIN); VGG weights from Simonyan & Zisserman, CC BY 4.0",
                  "adain", layout="studio.adain.model:vgg_normalised"),
        ModelSpec("adain-decoder", "decoder.pth",
                  "AdaIN decoder trained on MS-COCO + WikiArt (pytorch-AdaIN)",
                  "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
                  "decoder.pth",
                  None, "MIT (pytorch-AdaIN)", "adain", layout="studio.adain.model:decoder"),
        ModelSpec("toy-adain-encoder", "toy/adain_encoder.pth",
                  "Toy AdaIN encoder: the toy teacher with BN folded and activations "
                  "normalised (vgg_normalised layout)", None, None,
                  "derived by this project (resources/toy/README.md)", "toy", bundled=True,
                  layout="studio.adain.model:TOY.build_encoder"),
        ModelSpec("toy-adain-decoder", "toy/adain_decoder.pth",
                  "Toy AdaIN decoder (AdaIN at relu2_1) trained on the toy world (the "
                  "embedded default)", None, None,
                  "trained by this project (resources/toy/README.md)", "toy", bundled=True,
                  layout="studio.adain.model:TOY.build_decoder"),
        ModelSpec("toy-adain-decoder-relu3_1", "toy/adain_decoder_relu3_1.pth",
                  "Toy AdaIN decoder at relu3_1: builds classifier B's stylised world",
                  None, None, "trained by this project (resources/toy/README.md)", "toy",
                  bundled=True, layout="studio.adain.model:TOY_RELU3_1.build_decoder"),
    ),
    pages=(PageSpec("studio.gui.pages.stylize:StylizePage", 10),),
)
