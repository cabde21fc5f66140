"""The compression engine's declaration: distillation and pruning on synthetic data only."""

from studio.core.engines import Engine, JobSpec

ENGINE = Engine(
    name="compression",
    title="Distillation and pruning",
    jobs=(
        JobSpec("distill", "studio.compression.params:DistillParams",
                "studio.compression.distill:distill_job",
                "Knowledge distillation of a student on synthetic images only"),
        JobSpec("prune", "studio.compression.params:PruneParams",
                "studio.compression.prune:prune_job",
                "Prune the teacher, fine-tune on synthetic data only, accuracy vs sparsity"),
        JobSpec("inversion-comparison", "studio.inversion.params:ComparisonParams",
                "studio.compression.comparison:comparison_job",
                "Toy-world comparison: synthesis method -> distilled student accuracy on "
                "real data"),
    ),
    cli="studio.compression.cli",
)
