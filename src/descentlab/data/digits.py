"""scikit-learn's handwritten digits: 1797 images of 8×8 pixels, 10 classes, shipped with the
package (no download)."""

import lightning as L
import torch

from descentlab.data.batches import Batches, training_batches
from descentlab.data.split import split


class Digits(L.LightningDataModule):
    """Pixels scaled to [0, 1] as flat vectors of 64, labels 0–9; train / val / test split from
    `seed`, kept as tensors. `in_features` and `out_features` are the data's shape, declared in
    the config so that the model's sizes can follow them by interpolation."""

    task = "classification"  # class labels: cross-entropy and classification metrics

    def __init__(
        self,
        in_features: int,
        out_features: int,
        val_fraction: float,
        test_fraction: float,
        batch_size: int | None,
        seed: int,
    ) -> None:
        super().__init__()
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
        y = torch.tensor(digits.target, dtype=torch.long)
        if (in_features, out_features) != (x.shape[1], int(y.max()) + 1):
            raise ValueError(f"data: digits have in_features={x.shape[1]}, out_features=10")
        self.batch_size, self.seed = batch_size, seed
        train, val, test = split(x, y, [val_fraction, test_fraction], seed)
        (self.x_train, self.y_train), (self.x_val, self.y_val), (self.x_test, self.y_test) = (
            train,
            val,
            test,
        )
        if batch_size is not None and batch_size > len(self.x_train):
            raise ValueError(
                f"data.batch_size={batch_size}: must be ≤ {len(self.x_train)}, the digits' "
                "training set; null: full batch"
            )

    def train_dataloader(self) -> Batches:
        return training_batches(
            self.trainer, self.x_train, self.y_train, self.batch_size, self.seed
        )

    def val_dataloader(self) -> Batches:
        return Batches(self.x_val, self.y_val, None, 1, self.seed)

    def test_dataloader(self) -> Batches:
        return Batches(self.x_test, self.y_test, None, 1, self.seed)
