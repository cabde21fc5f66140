"""Entry point of the frozen Studio app (PyInstaller runs this file as ``__main__``).

``multiprocessing.freeze_support()`` must run first: a frozen executable started as a
``spawn`` worker has to turn into that worker instead of re-running the CLI.

``studio --bundle-check`` (handled here, not in ``studio.cli``, because it only makes sense
inside a bundle) checks what freezing can break: torch's Python sources for TorchScript,
torchvision's compiled ops, spawn workers, the bundled resources and the toy teacher.
It prints one line per check and exits non-zero when any fails.
"""

from __future__ import annotations

import multiprocessing
import sys


def _check_torchscript() -> str:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU()).eval()
    scripted = torch.jit.script(net)  # needs torch/nn/modules/*.py in the bundle
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        diff = float((scripted(x) - net(x)).abs().max())
    if diff > 1e-6:
        raise AssertionError(f"scripted output differs from eager by {diff}")
    return f"torch {torch.__version__}, scripted Conv-BN-ReLU matches eager (max diff {diff:.1e})"


def _check_torchvision() -> str:
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()
    if keep != [0, 2]:
        raise AssertionError(f"nms kept {keep}, expected [0, 2]")
    return f"torchvision {torchvision.__version__}, compiled nms op works"


def _check_spawn() -> str:
    import math

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.map(math.factorial, range(6))
    if got != [1, 1, 2, 6, 24, 120]:
        raise AssertionError(f"spawn pool returned {got}")
    return "2 spawn workers ran and returned"


def _check_resources() -> str:
    from studio.core.checkpoints import load_into, resources_dir
    from studio.toyworld.models import ToyVGG

    res = resources_dir()
    for rel in ("icons/app.svg", "style/studio.qss", "toy/teacher.pth"):
        if not (res / rel).is_file():
            raise AssertionError(f"{res / rel} is missing from the bundle")
    load_into(ToyVGG(), res / "toy/teacher.pth")
    return f"resources at {res}; toy teacher loads into ToyVGG"


def _check_device() -> str:
    import torch

    from studio.core.devices import resolve_device

    return f"auto device = {resolve_device('auto')}, torch.cuda.is_available() = " \
           f"{torch.cuda.is_available()}"


CHECKS = {
    "torchscript": _check_torchscript,
    "torchvision": _check_torchvision,
    "spawn": _check_spawn,
    "resources": _check_resources,
    "device": _check_device,
}


def bundle_check() -> int:
    """Run every check; print ``ok``/``FAIL`` lines; return the number of failures."""
    failures = 0
    for name, fn in CHECKS.items():
        try:
            print(f"ok   {name}: {fn()}", flush=True)
        except Exception as exc:  # report every failure, not just the first
            failures += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
    return failures


def main() -> int:
    if sys.argv[1:2] == ["--bundle-check"]:
        return 1 if bundle_check() else 0
    from studio.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
