"""`studio toyworld generate`."""

from __future__ import annotations

import argparse

from studio.core.commands import add_params


def _cmd_generate(args: argparse.Namespace) -> int:
    from studio.core.commands import params_from_args, run_cli_job
    from studio.toyworld.generate import generate_job
    from studio.toyworld.params import ToyWorldParams

    params = params_from_args(ToyWorldParams, args)
    summary = run_cli_job(generate_job(params), args)
    print(f"{summary['num_items']} images in {params.out}")
    return 0


def register(g) -> None:
    from studio.toyworld.params import ToyWorldParams

    tw = g.root.add_parser("toyworld", help="the embedded toy world (procedural data)",
                           description="Generate the toy world: shapes (labels) filled with "
                                       "textures (a shortcut cue).", parents=[g.common])
    sub = tw.add_subparsers(dest="toyworld_command", metavar="ACTION", required=True)
    p = g.add(sub, "generate", "write a toy-world ImageFolder dataset with manifest",
              _cmd_generate)
    add_params(p, ToyWorldParams)
