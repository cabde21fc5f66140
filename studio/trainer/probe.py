"""Linear probing and LP-FT (Kumar et al., ICLR 2022, "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution").

A linear probe (LP) trains only a new head on the frozen penultimate features: as in the
paper, an L2-regularised multinomial logistic regression fitted to convergence on features
extracted once, without augmentation, with the network in eval mode (BatchNorm statistics
untouched). LP-FT starts fine-tuning every weight from that probe's head, so the early
gradients do not distort features to fit a random head.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def classifier_head(net: nn.Module) -> tuple[str, nn.Linear]:
    """The head a probe replaces: the network's last ``nn.Linear`` (ToyVGG's ``fc``,
    ResNet's ``fc``, VGG's ``classifier.6``)."""
    found = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(f"{type(net).__name__} has no nn.Linear head to probe")
    return found[-1]


@torch.no_grad()
def penultimate_features(net: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of every batch: the head's input, network in eval mode."""
    _, head = classifier_head(net)
    grabbed: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda m, inp, out: grabbed.append(inp[0].detach()))
    was = net.training
    net.eval()
    ys = []
    try:
        for x, y in batches:
            net(x)
            ys.append(y.cpu())
    finally:
        hook.remove()
        net.train(was)
    return torch.cat([g.float().cpu() for g in grabbed]), torch.cat(ys)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                     l2: float, max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Multinomial logistic regression by L-BFGS: minimise mean CE + l2/2 ||W||² (the bias
    unpenalised, as scikit-learn's ``LogisticRegression``); returns (W, b, final CE)."""
    x = features.double()
    y = labels.long()
    w = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        ce = float(F.cross_entropy(x @ w.T + b, y))
    return w.detach().float(), b.detach().float(), ce


def install_head(net: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Copy a probe's solution into the network's head (in place: optimisers that hold the
    head's parameters keep them)."""
    _, head = classifier_head(net)
    if head.weight.shape != weight.shape:
        raise ValueError(f"the probe's head {tuple(weight.shape)} does not fit the network's "
                         f"{tuple(head.weight.shape)}")
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight))
        if head.bias is not None:
            head.bias.copy_(bias.to(head.bias))


__all__ = ["classifier_head", "penultimate_features", "fit_linear_probe", "install_head"]
