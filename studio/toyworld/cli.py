"""`studio toyworld generate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.core.commands import add_overwrite


def _cmd_generate(args: argparse.Namespace) -> int:
    from studio.core.commands import run_cli_job, seed_arg
    from studio.toyworld.generate import ToyWorldParams, generate_job

    params = ToyWorldParams(
        out=Path(args.out), per_class=args.per_class, size=args.size, seed=seed_arg(args),
        shape_texture_correlation=args.correlation, kind=args.kind,
        splits=args.splits.split(",") if args.splits else None,
        test_per_class=args.test_per_class, num_classes=args.num_classes, workers=args.workers,
        overwrite=args.overwrite)
    summary = run_cli_job(generate_job(params), args)
    print(f"{summary['num_items']} images in {args.out}")
    return 0


def register(g) -> None:
    from studio.core.commands import int_range, nonneg_int, positive_int, unit_float

    tw = g.root.add_parser("toyworld", help="the embedded toy world (procedural data)",
                           description="Generate the toy world: shapes (labels) filled with "
                                       "textures (a shortcut cue).", parents=[g.common])
    sub = tw.add_subparsers(dest="toyworld_command", metavar="ACTION", required=True)
    p = g.add(sub, "generate", "write a toy-world ImageFolder dataset with manifest",
              _cmd_generate)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--per-class", "--per_class", dest="per_class", type=positive_int,
                   default=100,
                   help="images per class (in the first split)")
    p.add_argument("--size", type=int_range(32, 128), default=64,
                   help="image side in px (32-128)")
    p.add_argument("--correlation", "--shape-texture-correlation", dest="correlation",
                   type=unit_float, default=0.95,
                   help="probability that a shape wears its own texture")
    p.add_argument("--kind", choices=["scene", "shape", "texture"], default="scene",
                   help="scene: textured shapes; shape: silhouettes; texture: patches")
    p.add_argument("--splits", default=None,
                   help="comma-separated split folders, e.g. train,test (default: none)")
    p.add_argument("--test-per-class", dest="test_per_class", type=nonneg_int, default=None,
                   help="images per class in the splits after the first")
    p.add_argument("--num-classes", dest="num_classes", type=int_range(2, 10), default=10,
                   help="number of shape (and texture) classes, 2-10")
    p.add_argument("--workers", type=nonneg_int, default=0,
                   help="drawing processes (0 = all cores)")
    add_overwrite(p)
