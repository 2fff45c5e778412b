"""Closed forms for the linear model with an MSE loss, from the data a run used.

L(w) = mean((w·x − y)²);  dL/dw = 2·mean(x·(w·x − y)) = h·(w − w*);  h = d²L/dw² = 2·mean(x²);
w* = mean(x·y)/mean(x²). Gradient descent with lr η: e[k+1] = (1 − η·h)·e[k], e = w − w*:
monotone below 1/h, one step at 1/h, overshooting but converging up to 2/h, diverging above.
With momentum μ (PyTorch's v ← μ·v + g; w ← w − η·v): stable while η·h < 2·(1 + μ).
With a bias b, h becomes the Hessian 2·[[mean(x²), mean(x)], [mean(x), 1]] and its largest
eigenvalue takes h's place in the limits.
"""

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


def step_rule(optimizer: torch.optim.Optimizer, w: str = "w", short: bool = False) -> str:
    """How the optimizer turns dL/dw into its step (new w − w), for the parameter named `w`;
    one line over a table, or with `short` the rule alone, over a figure."""
    momentum = heavy_ball(optimizer)
    if momentum == 0:
        return f"{w} ← {w} − lr·dL/d{w}" + (
            "" if short else f", where dL/d{w} is the slope of L at {w}"
        )
    if momentum is not None:
        return f"{w} ← {w} − lr·v, v ← {momentum:g}·v + dL/d{w}" + ("" if short else " (momentum)")
    return f"{type(optimizer).__name__} makes its own step of dL/d{w}, not −lr·dL/d{w}"


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


def regime(lr: float, h: float, momentum: float = 0.0, error: str = "w − w*") -> str:
    """What gradient descent with this lr does on a quadratic with curvature h; `error` names
    what overshoots (with a bias: the error along λ_max's eigenvector)."""
    rate = contraction(lr, h, momentum)
    if rate >= 1:
        return "diverges" if rate > 1 + 1e-12 else "bounces forever"
    if momentum == 0:
        return (
            f"overshoots (sign of {error} alternates), converges"
            if lr * h > 1
            else "converges monotonically"
        )
    return "converges" + (
        " with oscillation" if (1 + momentum - lr * h) ** 2 < 4 * momentum else ""
    )


ROUNDING = 1e-5  # errors below this are lost in float32's rounding of w ≈ 3 (spacing 2.4e-7)


def above_rounding(errors: torch.Tensor) -> torch.Tensor:
    """The first steps' errors, up to the first one that is non-finite or within rounding."""
    errors = errors.double().reshape(len(errors), -1)
    kept = torch.isfinite(errors).all(dim=1) & (torch.linalg.vector_norm(errors, dim=1) > ROUNDING)
    return errors[: int(kept.cumprod(0).sum())]


def measured_contraction(errors: torch.Tensor, momentum: bool) -> float:
    """The rate per step at which a run's error e = θ − θ* shrank, from the run's steps alone:
    the largest |eigenvalue| of the map A with s[k+1] = A·s[k], fitted by least squares, where
    the state s is e[k] (with momentum e[k] and e[k−1], which the next step depends on).
    Gradient descent on a quadratic is such a map, so the fit gives its rate exactly: |1 − η·h|
    for one weight, √μ on momentum's spiral, the slowest direction's with a bias. (The ratio of
    the first and last |e| would not: on a spiral it depends on where the steps end.)"""
    e = above_rounding(errors)
    s = torch.cat([e[1:], e[:-1]], dim=1) if momentum else e
    if len(s) < s.shape[1] + 2:  # too few steps to fit the map
        return math.nan
    # s[k+1] ≈ s[k] @ Aᵀ; directions the steps hardly visit (rounding) are left out
    a_t = torch.linalg.lstsq(s[:-1], s[1:], rcond=1e-4, driver="gelsd").solution
    return float(torch.linalg.eigvals(a_t).abs().max())


def sign_flips(errors: torch.Tensor) -> tuple[int, int]:
    """How many times a run's (scalar) error changed sign from one step to the next, and in how
    many steps: those before it came within rounding (below which its sign is noise)."""
    e = above_rounding(errors).flatten()
    return int((e[1:] * e[:-1] < 0).sum()), max(len(e) - 1, 0)
