"""Initializers for the `init` config group, each setting one parameter in place, and `freeze`.

`initialize` applies one to every parameter of a model. Fan-based schemes (Xavier, Kaiming) treat
a 0-d scalar as a 1×1 weight and leave 1-D parameters (biases, norm scales) as the module made
them, since a fan is not defined for those and zero or one is what the module chose on purpose.
"""

from collections.abc import Callable

import torch
from torch import nn

Init = Callable[[torch.Tensor], object]


def initialize(model: nn.Module, init: Init) -> None:
    """Set every parameter of `model` that trains with `init`, outside autograd. One the model
    built with requires_grad=False (a frozen, pretrained part) and one of integers keep the
    values the model gave them: nothing learns them, so there is no start to set."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.is_floating_point():
                init(p)


def symmetric(model: nn.Module) -> list[str]:
    """The weight matrices (2-D and up) whose values are all equal: each unit of such a layer
    computes the same and gets the same gradient, so its units never come apart."""
    return [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and p.dim() >= 2 and p.numel() > 1 and bool((p == p.flatten()[0]).all())
    ]


def freeze(model: nn.Module, names: list[str]) -> None:
    """requires_grad = False for each named parameter: autograd computes no dL/d(name) for it,
    its .grad stays None, and the optimizer leaves its value as initialised."""
    params = dict(model.named_parameters())
    for name in names:
        params[name].requires_grad_(False)


def constant(p: torch.Tensor, value: float) -> None:
    p.fill_(value)


def zeros(p: torch.Tensor) -> None:
    p.zero_()


def normal(p: torch.Tensor, mean: float, std: float) -> None:
    p.normal_(mean, std)


def uniform(p: torch.Tensor, a: float, b: float) -> None:
    p.uniform_(a, b)


def xavier_uniform(p: torch.Tensor, gain: float) -> None:
    if p.dim() == 1:
        return
    if p.dim() == 0:  # a scalar weight: fan_in = fan_out = 1, bound = gain·√(6/2)
        p.uniform_(-gain * 3**0.5, gain * 3**0.5)
        return
    nn.init.xavier_uniform_(p, gain=gain)


def kaiming_normal(p: torch.Tensor, a: float, mode: str, nonlinearity: str) -> None:
    if p.dim() == 1:
        return
    if p.dim() == 0:  # a scalar weight: fan = 1, std = gain
        p.normal_(0.0, nn.init.calculate_gain(nonlinearity, a))
        return
    nn.init.kaiming_normal_(p, a=a, mode=mode, nonlinearity=nonlinearity)
