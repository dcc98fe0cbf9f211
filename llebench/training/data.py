"""Training data: an image folder set, and the deterministic global batch order.

The order of samples is a pure function of (seed, iteration): the global batch of
iteration ``i`` is ``stream[i*B:(i+1)*B]`` where ``stream`` concatenates one seeded
permutation of the dataset per epoch. Resuming at iteration ``i`` therefore sees exactly
the batches an uninterrupted run would, and under DDP each of W processes takes its
contiguous B/W slice of the same global batch, so the global batch does not depend on W.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from llebench.errors import DatasetUnavailable
from llebench.imagefiles import natural_key
from llebench.images import is_image_file, read_image


class ImageFolderTrainSet(torch.utils.data.Dataset):
    """Every image under ``root`` (optionally recursive), as 3xSxS float tensors in [0, 1].

    ``image_size`` S resizes each image to SxS (bilinear with antialiasing, aspect ratio
    not kept, as the official Zero-DCE loader does); 0 keeps the stored size (then all
    images must share it to be batched).
    """

    def __init__(self, root: str | Path, image_size: int = 256, recursive: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetUnavailable(f"training images: {self.root} is not a directory")
        pattern = "**/*" if recursive else "*"
        files = [p for p in self.root.glob(pattern) if p.is_file() and is_image_file(p)]
        self.files = sorted(files, key=lambda p: natural_key(str(p.relative_to(self.root))))
        if not self.files:
            raise DatasetUnavailable(f"training images: no image files in {self.root}")
        self.image_size = int(image_size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_image(self.files[index])
        if self.image_size:
            image = F.interpolate(image, size=(self.image_size, self.image_size), mode="bilinear",
                                  align_corners=False, antialias=True).clamp_(0.0, 1.0)
        return image[0]

    def describe(self) -> dict[str, Any]:
        """Provenance: where the images are, how many, and a hash of the file listing."""
        listing = "\n".join(str(p.relative_to(self.root)) for p in self.files)
        return {"root": str(self.root.resolve()), "images": len(self.files), "image_size": self.image_size,
                "listing_sha256": hashlib.sha256(listing.encode()).hexdigest()}


class GlobalBatchSampler(torch.utils.data.Sampler[list[tuple[int, int]]]):
    """Yields this process's part of the global batch for iterations ``start .. total-1``.

    Items are ``(dataset index, sample seed)``; the sample seed seeds the generator a
    dataset's ``get(index, generator)`` receives for random augmentation.
    """

    def __init__(self, size: int, batch_size: int, seed: int, start: int, total: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start, self.total = start, total
        self.local = batch_size // world_size
        self.offset = rank * self.local

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def _epoch(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=generator)

    def global_batch(self, iteration: int) -> list[tuple[int, int]]:
        first = iteration * self.batch_size
        items = []
        epoch, perm = -1, None
        for position in range(first, first + self.batch_size):
            if position // self.size != epoch:
                epoch = position // self.size
                perm = self._epoch(epoch)
            items.append((int(perm[position % self.size]), (self.seed * 1_000_003 + position) % (2**63)))
        return items

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for iteration in range(self.start, self.total):
            yield self.global_batch(iteration)[self.offset:self.offset + self.local]


class KeyedDataset(torch.utils.data.Dataset):
    """Adapts a trainer's dataset to ``(index, sample seed)`` keys (see :class:`Trainer`)."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset
        self.seeded = callable(getattr(dataset, "get", None))

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        if self.seeded:
            return self.dataset.get(index, torch.Generator().manual_seed(seed))  # type: ignore[attr-defined]
        return self.dataset[index]
