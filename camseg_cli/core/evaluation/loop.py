"""One pass of a model over a loader of (uint8 images, masks) into one ConfusionMatrix for the split.

Shared by training's validation and `camseg evaluate`, so both count exactly the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from camseg_cli.core.evaluation.metrics import ConfusionMatrix
from camseg_cli.core.model.inference import ModelInput, predict_batch


def evaluate_loader(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, list[torch.Tensor]]],
    num_classes: int,
    ignore_index: int | None,
    to_input: ModelInput,
    dtype: torch.dtype | None = None,
    track: Callable[[Iterable], Iterable] | None = None,
) -> ConfusionMatrix:
    """Run a loader of (uint8 images, masks) through the model on to_input's device; one
    ConfusionMatrix over the whole split."""
    model.eval()
    device = to_input.device
    cm = ConfusionMatrix(num_classes, ignore_index, device)
    batches = track(loader) if track else loader
    for images, masks in batches:
        preds = predict_batch(model, to_input(images), [tuple(m.shape) for m in masks], dtype)
        for pred, mask in zip(preds, masks):
            cm.update(pred, mask.to(device, non_blocking=True))
    return cm
