"""Optimizer, learning-rate schedule (linear warm-up, then poly or cosine, stepped per iteration) and loss."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camseg_cli.core.data.sources.samples import DatasetInfo, read_mask
from camseg_cli.core.train.config import TrainConfig

AUX_WEIGHT = 0.5  # torchvision's references weight the auxiliary FCN head's loss by 0.5
POLY_POWER = 0.9
WARMUP_START = 0.01  # warm-up starts at 1% of the peak learning rate


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over every trainable parameter; no weight decay on norms and biases under AdamW."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


class WarmupDecay:
    """LR factor at optimizer step t: linear warm-up to 1, then poly or cosine decay to 0 at `total`.

    A class of plain attributes (not a lambda) so LambdaLR's state_dict stays plain data.
    """

    def __init__(self, total: int, warmup: int, kind: str):
        self.total = max(int(total), 1)
        self.warmup = min(max(int(warmup), 0), self.total - 1)
        self.kind = kind

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return WARMUP_START + (1 - WARMUP_START) * step / self.warmup
        t = min((step - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        return (1 - t) ** POLY_POWER


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupDecay(total, warmup, config.schedule))


class SegLoss(nn.Module):
    """Per-pixel cross-entropy that skips the ignore label, + 0.5 x the aux head's loss when present.

    The mean is over the (class-weighted) labelled pixels; a batch with none gives 0, not NaN,
    so a crop that lands on void alone is not mistaken for a diverged run.
    """

    def __init__(self, ignore_index: int, weight: np.ndarray | None = None):
        super().__init__()
        self.ignore_index = ignore_index
        w = None if weight is None else torch.as_tensor(np.asarray(weight), dtype=torch.float32)
        self.register_buffer("weight", w)

    def pixel_loss(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed weighted loss, summed weights of the labelled pixels) — for means over a whole split."""
        logits = logits.float()  # the softmax in fp32 even under autocast
        target = target.long()  # masks travel as uint8; cross_entropy wants int64 class indices
        loss = F.cross_entropy(
            logits, target, weight=self.weight, ignore_index=self.ignore_index, reduction="sum"
        )
        valid = target != self.ignore_index
        if self.weight is None:
            denom = valid.sum()
        else:
            denom = self.weight[target.clamp(0, self.weight.numel() - 1)][valid].sum()
        return loss, denom.to(loss.dtype)

    def term(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss, denom = self.pixel_loss(logits, target)
        return loss / denom.clamp(min=1e-12)

    def forward(self, outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        loss = self.term(outputs["out"], target)
        if outputs.get("aux") is not None:
            loss = loss + AUX_WEIGHT * self.term(outputs["aux"], target)
        return loss


def train_pixel_counts(info: DatasetInfo) -> np.ndarray:
    """Pixels per class over the training masks (masks only: images are not decoded)."""
    n = info.classes.num_classes
    counts = np.zeros(n, dtype=np.int64)
    for ref in info.samples("train"):
        counts += np.bincount(read_mask(ref, info.classes).ravel(), minlength=n)[:n]
    return counts
