"""Arrays to tensors as the loaders hand them out: uint8 images resized to the model's size, uint8 masks.

Resizing an image is data preparation, shared by training (augment), evaluation and predict; masks
are never resized here (metrics are taken at each label's own resolution).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch


def resize_image(image: np.ndarray, size: Sequence[int]) -> torch.Tensor:
    """uint8 HxWx3 -> uint8 hxwx3 tensor at size=(h, w), resized bilinearly (not normalised: ModelInput)."""
    h, w = int(size[0]), int(size[1])
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    if not image.flags.writeable:  # PIL- and cache-backed arrays are read-only; torch wants its own
        image = image.copy()
    return torch.from_numpy(np.ascontiguousarray(image))


def mask_tensor(mask: np.ndarray) -> torch.Tensor:
    """Class indices as uint8 (a ClassMap has at most 255 classes): an eighth of int64's bytes to move."""
    return torch.from_numpy(mask.astype(np.uint8, copy=False))


class EvalTransform:
    """(image, mask) -> (uint8 hxwx3 image tensor at model size, uint8 mask tensor at its own resolution)."""

    def __init__(self, size: Sequence[int]):
        self.size = tuple(int(s) for s in size)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return resize_image(image, self.size), mask_tensor(mask)


def collate_eval(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Stack images (all at model size); masks stay a list since label sizes may differ."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]
