"""y = w_true·x + b_true + noise: the seed example's data."""

import lightning as L
import torch

from descentlab.data.batches import Batches, evaluation_batches, training_batches


class LinearData(L.LightningDataModule):
    """Samples drawn once from `seed`, split into training and validation, kept as tensors.

    x has shape (n, 1) and y = w_true·x + b_true + ε with ε ~ N(0, noise²).
    """

    task = "regression"  # real-valued targets: MSE and regression metrics

    def __init__(
        self,
        w_true: float,
        b_true: float,
        n: int,
        noise: float,
        x_dist: str,
        x_scale: float,
        val_fraction: float,
        batch_size: int | None,
        seed: int,
    ) -> None:
        super().__init__()
        self.w_true, self.b_true = w_true, b_true
        self.n, self.noise = n, noise
        self.x_dist, self.x_scale = x_dist, x_scale
        self.val_fraction, self.batch_size = val_fraction, batch_size
        self.seed = seed
        self.x_train, self.y_train, self.x_val, self.y_val = self.sample()

    def sample(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        if self.x_dist == "normal":
            x = torch.randn(self.n, 1, generator=generator) * self.x_scale
        else:  # uniform
            x = (torch.rand(self.n, 1, generator=generator) * 2 - 1) * self.x_scale
        noise = torch.randn(self.n, 1, generator=generator) * self.noise
        y = self.w_true * x + self.b_true + noise
        n_val = n_validation(self.n, self.val_fraction)
        return x[n_val:], y[n_val:], x[:n_val], y[:n_val]

    def train_dataloader(self) -> Batches:
        return training_batches(
            self.trainer, self.x_train, self.y_train, self.batch_size, self.seed
        )

    def val_dataloader(self) -> Batches:
        return evaluation_batches(self.trainer, self.x_val, self.y_val)


def n_validation(n: int, val_fraction: float) -> int:
    """Validation samples: at least one, and at least one left for training."""
    return min(max(1, round(n * val_fraction)), n - 1)
