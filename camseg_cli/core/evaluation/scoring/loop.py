"""One pass of a model over a loader of (uint8 images, masks) into one ConfusionMatrix for the split.

Shared by training's validation and `camseg evaluate`, so both count exactly the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from camseg_cli.core.evaluation.scoring.metrics import ConfusionMatrix
from camseg_cli.core.model.inference import ModelInput, predict_batch


def evaluate_loader(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, list[torch.Tensor]]],
    num_classes: int,
    ignore_index: int | None,
    to_input: ModelInput,
    dtype: torch.dtype | None = None,
    track: Callable[[Iterable], Iterable] | None = None,
    each: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> ConfusionMatrix:
    """Run a loader of (uint8 images, masks) through the model on to_input's device; one
    ConfusionMatrix over the whole split. `each(pred, mask)` also sees every image's class maps."""
    model.eval()
    device = to_input.device
    cm = ConfusionMatrix(num_classes, ignore_index, device)
    batches = track(loader) if track else loader
    for images, masks in batches:
        preds = predict_batch(model, to_input(images), [tuple(m.shape) for m in masks], dtype)
        for pred, mask in zip(preds, masks):
            mask = mask.to(device, non_blocking=True)
            cm.update(pred, mask)
            if each is not None:
                each(pred, mask)
    return cm
