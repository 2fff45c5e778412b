"""Handwritten digits: 1797 images of 8×8 pixels, 10 classes, in `digits.csv.gz` beside this
module (no download). They are the test set of the UCI ML "Optical Recognition of Handwritten
Digits" data (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), the copy scikit-learn ships as
`load_digits`, read here with numpy so that descentlab does not need scikit-learn: SciPy comes
with it, and where SciPy is installed, `import torchmetrics` (which Lightning does) also loads
`scipy.signal`, 0.8 s at every start on a 2-core CPU."""

import gzip
from pathlib import Path

import lightning as L
import numpy as np
import torch

from descentlab.data.batches import Batches, evaluation_batches, training_batches
from descentlab.data.split import split

FILE = Path(__file__).with_name("digits.csv.gz")


def pixels_and_labels() -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's 64 pixels (0–16, row by row) and its digit: one row of the file each, the
    digit last."""
    with gzip.open(FILE, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return torch.from_numpy(rows[:, :-1]), torch.from_numpy(rows[:, -1])


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
        pixels, y = pixels_and_labels()
        x = pixels.float() / 16.0
        if (in_features, out_features) != (x.shape[1], int(y.max()) + 1):
            raise ValueError(f"data: digits have in_features={x.shape[1]}, out_features=10")
        self.batch_size, self.seed = batch_size, seed
        train, val, test = split(x, y, [val_fraction, test_fraction], seed)
        (self.x_train, self.y_train), (self.x_val, self.y_val), (self.x_test, self.y_test) = (
            train,
            val,
            test,
        )
        if len(self.x_val) < 2:  # R² and the surfaces' spread need two
            raise ValueError(
                f"data.val_fraction={val_fraction}: {len(self.x_val)} validation sample of the "
                f"digits' {len(x)}; must be ≥ 2: raise it"
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
        return evaluation_batches(self.trainer, self.x_val, self.y_val)

    def test_dataloader(self) -> Batches:
        return evaluation_batches(self.trainer, self.x_test, self.y_test)
