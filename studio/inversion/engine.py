"""The data-free synthesis engine's declaration: NaturalInversion (Kim et al. 2021) with
DeepInversion (Yin et al. 2020) and Gaussian noise as baselines."""

from studio.core.engines import Engine, JobSpec, ModelSpec, PageSpec
from studio.models.zoo import COMMUNITY_MODELS

ENGINE = Engine(
    name="inversion",
    title="Data-free synthesis",
    jobs=(
        JobSpec("synthesize", "studio.inversion.params:SynthesizeParams",
                "studio.inversion.synthesize:synthesize_job",
                "Data-free synthesis from a teacher (NaturalInversion / DeepInversion / noise)"),
        JobSpec("synthetic-quality", "studio.inversion.params:QualityParams",
                "studio.inversion.quality:quality_job",
                "Class balance, teacher accuracy, diversity and energy of a synthetic dataset"),
        JobSpec("synthesize-preflight", "studio.inversion.preflight.params:PreflightParams",
                "studio.inversion.preflight.job:preflight_job",
                "Check a teacher before a synthesis: what loaded, top-1 on real images, "
                "the run's length from a few timed iterations"),
    ),
    cli="studio.inversion.cli",
    models=(
        ModelSpec("cifar10-resnet34", "cifar10_resnet34.pth",
                  "CIFAR-10 ResNet-34 teacher (DAFL / DeepInversion layout)", None, None,
                  "train your own or take DAFL's; no stable public link", "inversion",
                  layout="studio.models.cifar:resnet34(num_classes=10)",
                  unwrap=("state_dict", "net", "model"), strip_prefixes=("module.",),
                  arch="cifar_resnet34", data="cifar10"),
        *COMMUNITY_MODELS,
    ),
    pages=(PageSpec("studio.gui.pages.synthesize:SynthesizePage", 40),),
)
