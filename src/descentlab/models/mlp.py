"""A multi-layer perceptron: Linear layers of the given widths, an activation between them."""

import itertools

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


class MLP(nn.Module):
    """in_features → widths[0] → … → widths[-1] → out_features; parameters are named
    `layers.<i>.weight` / `layers.<i>.bias`, which is what the gradient views show."""

    def __init__(
        self, in_features: int, out_features: int, widths: list[int], activation: str, bias: bool
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"model.activation={activation}: must be one of {', '.join(ACTIVATIONS)}"
            )
        sizes = [in_features, *widths, out_features]
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(n_in, n_out, bias=bias))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))
