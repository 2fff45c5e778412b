"""Closed forms for the linear model with an MSE loss, from the data a run used.

L(w) = mean((w·x − y)²);  dL/dw = 2·mean(x·(w·x − y)) = h·(w − w*);  h = 2·mean(x²);
w* = mean(x·y)/mean(x²). See the README for what each predicts about a run.
"""

import torch


def dL_dw(w: float, x: torch.Tensor, y: torch.Tensor) -> float:
    """dL/dw = 2·mean(x·(w·x − y)), the gradient autograd puts in `w.grad`."""
    return float(2 * (x * (w * x - y)).mean())


def least_squares(x: torch.Tensor, y: torch.Tensor, bias: bool) -> dict[str, float]:
    """The minimiser of L: {"w": w*} or, with a bias, {"w": w*, "b": b*}."""
    x, y = x.double().flatten(), y.double().flatten()
    if not bias:
        return {"w": float((x * y).mean() / (x * x).mean())}  # w* = mean(x·y) / mean(x²)
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    w, b = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.flatten().tolist()
    return {"w": w, "b": b}
