"""y = sin(3·x) + x/2 + noise: a curve no linear model fits, for the MLP to learn."""

import lightning as L
import torch

from descentlab.data.batches import Batches, evaluation_batches, training_batches
from descentlab.data.split import split


class Nonlinear(L.LightningDataModule):
    """x ~ U(−2, 2), y = sin(3·x) + x/2 + ε with ε ~ N(0, noise²), drawn once from `seed`;
    x and y have shape (n, 1), so `in_features` and `out_features` must be 1."""

    task = "regression"  # real-valued targets: MSE and regression metrics

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        noise: float,
        val_fraction: float,
        batch_size: int | None,
        seed: int,
    ) -> None:
        super().__init__()
        if (in_features, out_features) != (1, 1):
            raise ValueError("data: nonlinear has in_features=1, out_features=1")
        generator = torch.Generator().manual_seed(seed)
        x = torch.rand(n, 1, generator=generator) * 4 - 2
        y = torch.sin(3 * x) + x / 2 + torch.randn(n, 1, generator=generator) * noise
        self.batch_size, self.seed = batch_size, seed
        (self.x_train, self.y_train), (self.x_val, self.y_val) = split(x, y, [val_fraction], seed)

    def train_dataloader(self) -> Batches:
        return training_batches(
            self.trainer, self.x_train, self.y_train, self.batch_size, self.seed
        )

    def val_dataloader(self) -> Batches:
        return evaluation_batches(self.trainer, self.x_val, self.y_val)
