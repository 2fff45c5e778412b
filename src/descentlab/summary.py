"""What a finished run measured: final metrics for the HParams table and the console line."""

from typing import Any

import torch

from descentlab.models.linear import Linear
from descentlab.module import DescentModule
from descentlab.theory import critical_lr, heavy_ball, hessian, least_squares


@torch.no_grad()
def final_metrics(module: DescentModule, data: Any) -> dict[str, float]:
    """Losses at the final weights, on the whole training and validation sets, and each scalar;
    in eval mode, as validation evaluates (BatchNorm's running statistics kept, no dropout)."""
    training = module.training
    module.eval()
    try:
        return evaluate(module, data)
    finally:
        module.train(training)


def evaluate(module: DescentModule, data: Any) -> dict[str, float]:
    device = module.device
    x, y = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    y_hat_val = module(x_val)
    metrics = {
        "final/train_loss": module.criterion(module(x), y),
        "final/val_loss": module.criterion(y_hat_val, y_val),
    }
    fresh = module.val_metrics.clone(prefix="final/val_")  # unused copies: all of the val set
    metrics.update(fresh.to(device)(y_hat_val, y_val))
    for name, p in module.model.named_parameters():
        if p.numel() == 1:
            metrics[f"final/{name}"] = p
    return {key: float(value) for key, value in metrics.items()}


def problem(module: DescentModule, data: Any) -> tuple[torch.Tensor, torch.Tensor, bool] | None:
    """(x, y, bias): the least-squares fit the run's steps descend, where the theory covers the
    run: the linear model with an MSE loss, w trained. A frozen b (freeze=[b]) is a constant
    there: w alone fits y − b."""
    model = module.model
    if not isinstance(model, Linear) or not isinstance(module.criterion, torch.nn.MSELoss):
        return None
    if not model.w.requires_grad:
        return None
    if model.b is not None and not model.b.requires_grad:
        return data.x_train, data.y_train - float(model.b), False
    return data.x_train, data.y_train, model.b is not None


def optimum(module: DescentModule, data: Any) -> dict[str, float] | None:
    """w* (and b*, where b trains) from the training data, where the theory covers the run."""
    fit = problem(module, data)
    return None if fit is None else least_squares(*fit)


def curvatures(module: DescentModule, data: Any) -> list[float] | None:
    """[h], h = 2·mean(x²), or the Hessian's eigenvalues where b trains; where the theory
    covers the run."""
    fit = problem(module, data)
    if fit is None:
        return None
    x, _, bias = fit
    h = hessian(x, bias)
    if module.criterion.reduction == "sum":
        h = h * len(x)  # L summed over n samples: n times the curvature
    return torch.linalg.eigvalsh(h).tolist()


def curvature(module: DescentModule, data: Any) -> float | None:
    """h (λ_max of the Hessian where b trains), where the theory covers the run."""
    found = curvatures(module, data)
    return None if found is None else max(found)


def critical(module: DescentModule, data: Any, optimizer: torch.optim.Optimizer) -> float | None:
    """The lr above which SGD diverges, 2·(1 + μ)/λ_max, where the theory covers the run."""
    h, momentum = curvature(module, data), heavy_ball(optimizer)
    if h is None or momentum is None:
        return None
    return critical_lr(h, momentum)


def diverged_line(step: int, loss: float, factor: float, lr: float, lr_crit: float | None) -> str:
    """One line: where the run stopped and why, next to the critical lr where it is known."""
    finite = loss == loss and abs(loss) != float("inf")
    why = f"{loss:.4g} > {factor:g} × the first step's" if finite else "non-finite"
    crit = f" > critical lr {lr_crit:.4g}" if lr_crit is not None and lr > lr_crit else ""
    crit = crit or (f" (critical lr {lr_crit:.4g})" if lr_crit is not None else "")
    return f"diverged at step {step}: loss {why}; lr = {lr:.4g}{crit}"


def summary_line(
    final: dict[str, float],
    best: dict[str, float] | None,
    steps: int,
    tested: dict[str, float] | None = None,
) -> str:
    """One line: the final weights (next to w* where known), the final loss, the validation
    metrics where there is no scalar weight to show, `tested` (test/<metric>, where the data
    has a test split) and the steps."""
    parts = []
    for name in ("w", "b"):
        if f"final/{name}" in final:
            star = f" ({name}* = {best[name]:.5f})" if best and name in best else ""
            parts.append(f"{name} = {final[f'final/{name}']:.5f}{star}")
    parts.append(f"loss = {final['final/train_loss']:.6g}")
    if not parts[:-1]:  # no scalar weights to show: the validation metrics instead
        parts += [
            f"val {k.removeprefix('final/val_')} = {v:.4g}"
            for k, v in final.items()
            if k.startswith("final/val_") and k != "final/val_loss" and isinstance(v, float)
        ]
    parts += [f"test {name} = {value:.4g}" for name, value in (tested or {}).items()]
    parts.append(f"{steps} step" if steps == 1 else f"{steps} steps")
    return ", ".join(parts)
