import numpy as np


class Dataset:
    pass


class DataLoader:
    """Batches like torch's default collate: a dict of stacked tensors."""

    def __init__(self, dataset, batch_size=1, **_):
        self.dataset, self.batch_size = dataset, batch_size

    def __iter__(self):
        import torch

        n = len(self.dataset)
        for start in range(0, n, self.batch_size):
            items = [self.dataset[i] for i in range(start, min(start + self.batch_size, n))]
            yield {k: torch.tensor(np.stack([it[k] for it in items])) for k in items[0]}
