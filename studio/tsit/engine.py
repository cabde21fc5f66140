"""The TSIT engine's declaration (Jiang et al. 2020; EndlessSora/TSIT's files)."""

from studio.core.engines import Engine, JobSpec, ModelSpec, PageSpec

ENGINE = Engine(
    name="tsit",
    title="TSIT translation",
    jobs=(
        JobSpec("translate", "studio.tsit.params:TranslateParams",
                "studio.tsit.translate:translate_job",
                "Translate images with TSIT (content x style)"),
        JobSpec("build-translated", "studio.tsit.params:BuildTranslatedParams",
                "studio.tsit.translate:build_translated_job",
                "Build a dataset of TSIT translations (deterministic, resumable, manifest)"),
        JobSpec("train-tsit", "studio.tsit.params:TrainTSITParams", "studio.tsit.train:train_job",
                "Train TSIT on folders (official losses, resumable)"),
    ),
    cli="studio.tsit.cli",
    models=(
        ModelSpec("tsit-summer2winter", "latest_net_G.pth",
                  "TSIT generator, ast_summer2winteryosemite (official release zip)", None,
                  None, "CC BY-NC-SA 4.0 (EndlessSora/TSIT)", "tsit",
                  layout="studio.tsit.model:build_generator(device='meta')",
                  strip_prefixes=("module.",)),
    ),
    pages=(PageSpec("studio.gui.pages.translate:TranslatePage", 50),),
)
