"""Measure the shipped toy style-transfer models and draw their before/after grids.

Prints one JSON document with the numbers studio/resources/toy/README.md quotes (and
tests/test_toy_quality.py pins), and writes the grids (top row: content silhouettes,
first column: styles, cells: outputs) of the fixed evaluation set::

    OMP_NUM_THREADS=1 python scripts/toy_quality.py --grids docs/screenshots

``--encoder/--decoder`` measure a trained AdaIN pair instead (a probe: the config read
from the files, ``--content-sigma`` as it was trained with).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.adain.model import AdaINModel, infer_config
from studio.core.checkpoints import CheckpointError, load_state_dict
from studio.texture_shape import toy_quality as q
from studio.tsit.translate import Translator


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grids", type=Path, default=None, help="folder for the grid PNGs")
    ap.add_argument("--resources", type=Path, default=None, help="studio/resources/toy to measure")
    ap.add_argument("--encoder", type=Path, default=None, help="AdaIN encoder of a probe")
    ap.add_argument("--decoder", type=Path, default=None, help="AdaIN decoder of a probe")
    ap.add_argument("--content-sigma", type=float, default=0.0,
                    help="the probe's content low-pass (studio train adain --content_sigma)")
    a = ap.parse_args()
    torch.set_num_threads(1)

    try:
        judges = q.load_judges(a.resources)
        if a.decoder:
            enc = a.encoder or Path(a.decoder).parent / "encoder.pth"
            config = dataclasses.replace(
                infer_config(load_state_dict(enc), load_state_dict(a.decoder)),
                content_sigma=a.content_sigma)
            adain = AdaINModel.from_files(enc, a.decoder, config).eval()
        else:
            adain = AdaINModel.load_toy(a.resources).eval()
    except CheckpointError as exc:  # names the file and the problem: one line, no traceback
        print(f"toy_quality: {exc}", file=sys.stderr)
        return 2
    out = {"judges": q.judge_reference(judges),
           "adain": {str(al): q.adain_quality(adain, al, judges) for al in (1.0, 0.5)},
           "adain_on_scenes": q.adain_scene_quality(adain, judges),
           "tsit": q.tsit_quality(judges=judges)}
    print(json.dumps(out, indent=2))
    if a.grids:
        a.grids.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            g = q.grid(lambda c, s: adain.stylize(c, s, alpha=1.0))
        Image.fromarray(g).save(a.grids / "toy_adain_quality.png")
        tr = Translator("toy", device="cpu")

        def tsit(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            u8 = lambda x: Image.fromarray(  # noqa: E731
                (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
            return torch.stack([torch.from_numpy(np.asarray(tr.translate(u8(ci), u8(si)),
                                                            np.float32) / 255).permute(2, 0, 1)
                                for ci, si in zip(c, s)])

        Image.fromarray(q.grid(tsit)).save(a.grids / "toy_tsit_quality.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
