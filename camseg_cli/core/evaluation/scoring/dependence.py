"""Does a model's prediction depend on its input? Agreement between the masks of different images.

A network can score above chance while drawing one fixed mask whatever the image: in eval mode, with
BatchNorm running statistics that lag far behind weights trained fast from scratch (issue 26), every
test frame gets nearly the same layout of road below and sky above. Its mIoU then measures how well
that one layout fits the split, and comparing two such runs compares two fixed drawings. So evaluate
measures, on small nearest-neighbour thumbnails kept during its pass:

- pred_agreement: the mean, over pairs of different images, of the share of pixels where the two
  predictions agree; gt_agreement: the same for the labels. Both over the pixels labelled in both
  images of a pair, so the two figures count the same pixels.
- classes per image, predicted and labelled (from the per-image confusion matrices, full resolution).

A model that follows its input varies from image to image about as much as the labels do. One that
ignores it varies much less: it is flagged when its predictions disagree between images less than
FOLLOW_MIN (a quarter) as often as the labels do, i.e. (1 - pred) < FOLLOW_MIN x (1 - gt). The
ratio, not an absolute level, so that a split of near-identical frames (labels agreeing 98%) does not
flag a good model; on real CamVid (labels agree about 60-70% between frames) a quarter means predictions
agreeing more than about 92% — the 93-100% that the issue measured on models drawing one mask, and far
from the few points above the labels' agreement of a model that sees (README, "evaluate").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

THUMB = 32  # thumbnail side: 1,024 pixels per image are plenty for a share of agreeing pixels
MAX_IMAGES = 256  # all pairs of at most this many images (evenly spaced, so deterministic): 32,640 pairs
FOLLOW_MIN = 0.25  # flagged when predictions disagree between images under a quarter as often as labels


def thumbnail(mask: torch.Tensor, size: int = THUMB) -> torch.Tensor:
    """(H, W) class map -> (size, size), nearest: the source pixel under each target pixel's centre."""
    h, w = mask.shape[-2:]
    rows = ((torch.arange(size, device=mask.device) + 0.5) * h / size).long().clamp(max=h - 1)
    cols = ((torch.arange(size, device=mask.device) + 0.5) * w / size).long().clamp(max=w - 1)
    return mask[rows][:, cols]


class Thumbnails:
    """Collects each image's prediction and label thumbnail during an evaluation pass (on the device,
    no host sync until `arrays`)."""

    def __init__(self) -> None:
        self.preds: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []

    def __call__(self, pred: torch.Tensor, mask: torch.Tensor) -> None:
        self.preds.append(thumbnail(pred))
        self.labels.append(thumbnail(mask))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(images, THUMB, THUMB) int16 predictions and labels."""
        if not self.preds:
            empty = np.zeros((0, THUMB, THUMB), dtype=np.int16)
            return empty, empty.copy()
        stack = [torch.stack(x).to("cpu", torch.int16).numpy() for x in (self.preds, self.labels)]
        return stack[0], stack[1]


def pair_agreement(maps: np.ndarray, valid: np.ndarray, num_classes: int) -> float:
    """Mean over pairs i < j of the share of pixels valid in both where maps i and j agree (NaN if none).

    One matrix product over one-hot maps gives every pair's count of agreeing pixels at once."""
    n = len(maps)
    if n < 2:
        return math.nan
    flat = maps.reshape(n, -1).astype(np.int64)
    ok = valid.reshape(n, -1) & (flat >= 0) & (flat < num_classes)
    onehot = np.zeros((n, flat.shape[1], num_classes), dtype=np.float32)
    idx = np.nonzero(ok)
    onehot[idx[0], idx[1], flat[idx]] = 1.0
    onehot = onehot.reshape(n, -1)
    agree = onehot @ onehot.T
    both = ok.astype(np.float32) @ ok.astype(np.float32).T
    upper = np.triu_indices(n, k=1)
    a, b = agree[upper].astype(np.float64), both[upper].astype(np.float64)  # counts: exact in float32
    keep = b > 0
    return float(np.mean(a[keep] / b[keep])) if keep.any() else math.nan


@dataclass(frozen=True)
class Dependence:
    """How much predictions vary between images, beside how much the labels do."""

    pred_agreement: float
    gt_agreement: float
    classes_per_image_pred: float
    classes_per_image_gt: float
    images: int  # images the pairs were drawn from

    @property
    def follows(self) -> float:
        """Predictions' disagreement between images as a share of the labels' (1: as varied as them)."""
        gt_gap = 1.0 - self.gt_agreement
        return (1.0 - self.pred_agreement) / gt_gap if gt_gap > 0 else math.nan

    @property
    def flagged(self) -> bool:
        """The model ignores its input: its masks vary under FOLLOW_MIN as much as the labels'."""
        if not (math.isfinite(self.pred_agreement) and math.isfinite(self.gt_agreement)):
            return False
        if self.gt_agreement >= 1.0:  # every label the same: no image tells a sighted model apart
            return False
        return self.follows < FOLLOW_MIN

    def warning(self, run: str) -> str:
        return (
            f"run {run} ignores its input: its masks of different images agree on "
            f"{100 * self.pred_agreement:.1f}% of pixels (labels: {100 * self.gt_agreement:.1f}%), "
            f"{self.classes_per_image_pred:.1f} classes per image (labels: {self.classes_per_image_gt:.1f}) "
            "— its scores describe one fixed drawing; train longer or with --precise-bn"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pred_agreement": self.pred_agreement,
            "gt_agreement": self.gt_agreement,
            "classes_per_image_pred": self.classes_per_image_pred,
            "classes_per_image_gt": self.classes_per_image_gt,
            "images": self.images,
            "follows": self.follows,
            "flagged": self.flagged,
        }


def sample_images(n: int, most: int = MAX_IMAGES) -> np.ndarray:
    """Indices of at most `most` images, evenly spaced over the split (deterministic)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def input_dependence(
    pred_thumbs: np.ndarray, label_thumbs: np.ndarray, per_image: np.ndarray, void: int | None
) -> Dependence:
    """Agreement between images of predictions and of labels (pixels labelled in both images of a pair),
    and classes per image from the per-image confusion matrices (void left out)."""
    n_cls = per_image.shape[-1]
    pick = sample_images(len(pred_thumbs))
    preds, labels = pred_thumbs[pick], label_thumbs[pick]
    valid = (labels >= 0) & (labels < n_cls)
    if void is not None:
        valid &= labels != void
    real = [c for c in range(n_cls) if c != void]
    pred_classes = (per_image.sum(1)[:, real] > 0).sum(1)
    gt_classes = (per_image.sum(2)[:, real] > 0).sum(1)
    return Dependence(
        pred_agreement=pair_agreement(preds, valid, n_cls),
        gt_agreement=pair_agreement(labels, valid, n_cls),
        classes_per_image_pred=float(pred_classes.mean()) if len(per_image) else math.nan,
        classes_per_image_gt=float(gt_classes.mean()) if len(per_image) else math.nan,
        images=len(pick),
    )
