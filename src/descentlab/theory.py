"""Closed forms for the linear model with an MSE loss, from the data a run used.

L(w) = mean((w·x − y)²);  dL/dw = 2·mean(x·(w·x − y)) = h·(w − w*);  h = d²L/dw² = 2·mean(x²);
w* = mean(x·y)/mean(x²). Gradient descent with lr η: e[k+1] = (1 − η·h)·e[k], e = w − w*:
monotone below 1/h, one step at 1/h, overshooting but converging up to 2/h, diverging above.
With momentum μ (PyTorch's v ← μ·v + g; w ← w − η·v): stable while η·h < 2·(1 + μ).
With a bias b, h becomes the Hessian 2·[[mean(x²), mean(x)], [mean(x), 1]] and its largest
eigenvalue takes h's place in the limits.
"""

import itertools
import math

import torch


def dL_dw(
    w: float, x: torch.Tensor, y: torch.Tensor, b: float = 0.0, reduction: str = "mean"
) -> float:
    """dL/dw = 2·mean(x·(w·x + b − y)), the gradient autograd puts in `w.grad`; 2·sum(…) where
    L sums the squared errors (criterion.reduction=sum)."""
    terms = 2 * x * (w * x + b - y)
    return float(terms.sum() if reduction == "sum" else terms.mean())


def hessian(x: torch.Tensor, bias: bool) -> torch.Tensor:
    """d²L/dθ² for θ = (w) or (w, b): constant, since L is quadratic."""
    x = x.double().flatten()
    m2, m1 = float((x * x).mean()), float(x.mean())
    if not bias:
        return torch.tensor([[2 * m2]], dtype=torch.float64)  # h = 2·mean(x²)
    return 2 * torch.tensor([[m2, m1], [m1, 1.0]], dtype=torch.float64)


def least_squares(x: torch.Tensor, y: torch.Tensor, bias: bool) -> dict[str, float]:
    """The minimiser of L: {"w": w*} or, with a bias, {"w": w*, "b": b*}."""
    x, y = x.double().flatten(), y.double().flatten()
    if not bias:
        return {"w": float((x * y).mean() / (x * x).mean())}  # w* = mean(x·y) / mean(x²)
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    w, b = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.flatten().tolist()
    return {"w": w, "b": b}


def heavy_ball(optimizer: torch.optim.Optimizer) -> float | None:
    """μ, where the optimizer steps as these closed forms assume (SGD: v ← μ·v + g; w ← w − η·v);
    None where it does not: another optimizer, or SGD with weight decay (which moves the optimum
    and adds to the curvature), dampening or Nesterov's look-ahead."""
    if not isinstance(optimizer, torch.optim.SGD):
        return None
    group = optimizer.param_groups[0]
    momentum = float(group.get("momentum", 0.0))
    if group.get("weight_decay") or (momentum and (group.get("dampening") or group["nesterov"])):
        return None
    return momentum


def critical_lr(h: float, momentum: float = 0.0) -> float:
    """The largest stable lr: 2/h, or 2·(1 + μ)/h with momentum μ."""
    return 2 * (1 + momentum) / h


def contraction(lr: float, h: float, momentum: float = 0.0) -> float:
    """How much |w − w*| shrinks per step (> 1: grows). |1 − lr·h| without momentum; with it,
    the larger |root| of z² − (1 + μ − lr·h)·z + μ = 0."""
    if momentum == 0:
        return abs(1 - lr * h)
    trace = 1 + momentum - lr * h
    disc = complex(trace * trace - 4 * momentum)
    roots = ((trace + disc**0.5) / 2, (trace - disc**0.5) / 2)
    return max(abs(r) for r in roots)


def regime(lr: float, h: float, momentum: float = 0.0) -> str:
    """What gradient descent with this lr does on a quadratic with curvature h."""
    rate = contraction(lr, h, momentum)
    if rate >= 1:
        return "diverges" if rate > 1 + 1e-12 else "bounces forever"
    if momentum == 0:
        return (
            "overshoots (sign of w − w* alternates), converges"
            if lr * h > 1
            else "converges monotonically"
        )
    return "converges" + (
        " with oscillation" if (1 + momentum - lr * h) ** 2 < 4 * momentum else ""
    )


def measured_contraction(errors: list[float]) -> float:
    """The rate at which a run's e = w − w* shrank per step, from the state (e[k], e[k−1]):
    (|s_last| / |s_first|)^(1/steps), over the steps where e is still well above rounding.
    Exact for e[k+1] = r·e[k]; for momentum's spiral, its asymptotic rate."""
    kept = list(itertools.takewhile(lambda e: abs(e) > 1e-5 and math.isfinite(e), errors))
    if len(kept) < 3:
        return math.nan
    first, last = math.hypot(kept[1], kept[0]), math.hypot(kept[-1], kept[-2])
    return (last / first) ** (1 / (len(kept) - 2))
