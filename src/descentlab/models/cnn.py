"""A small convolutional network for square single-channel images given as flat vectors."""

import math

import torch
from torch import nn


class CNN(nn.Module):
    """Reshapes each input of `in_features` pixels to a √in_features-sided image, then
    conv 3×3 → ReLU → 2×2 max-pool per entry of `channels`, global average pooling, and a
    Linear layer to `out_features` (`features.<i>.*`, `head.*` in the gradient views)."""

    def __init__(self, in_features: int, out_features: int, channels: list[int]) -> None:
        super().__init__()
        self.side = math.isqrt(in_features)
        if self.side * self.side != in_features:
            raise ValueError(f"model: in_features={in_features} is not a square image")
        blocks: list[nn.Module] = []
        for n_in, n_out in zip([1, *channels], channels, strict=False):
            blocks += [
                nn.Conv2d(n_in, n_out, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(channels[-1], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = x.reshape(-1, 1, self.side, self.side)
        return self.head(self.features(image).mean(dim=(2, 3)))
