"""The seed example's model: one weight, optionally a bias."""

import torch
from torch import nn


class Linear(nn.Module):
    """f(x) = w·x (+ b), with parameters named after the math.

    `w` and `b` are `nn.Parameter`s, so `requires_grad=True` by default: autograd fills `w.grad`
    with dL/dw on `loss.backward()`. Their starting values come from the `init` config group.
    """

    def __init__(self, bias: bool) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.zeros(())) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.w * x  # f(x) = w·x
        return y if self.b is None else y + self.b
