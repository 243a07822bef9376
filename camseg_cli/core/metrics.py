"""ConfusionMatrix over a whole split (torch.bincount, on device, void ignored) and the scores from it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from camseg_cli.core.errors import CamsegError


class ConfusionMatrix:
    """Rows are ground truth, columns prediction. Pixels labelled `ignore_index` are dropped.

    `update` keeps one small matrix per image (num_classes^2 int64 each) so that confidence
    intervals can be bootstrapped over images later; all of it stays on the device, no host sync.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, device: torch.device | str = "cpu"):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.device = torch.device(device)
        self._per_image: list[torch.Tensor] = []

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: pred and target are (B, H, W) or (H, W) integer class maps of equal shape."""
        if pred.shape != target.shape:
            raise CamsegError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        if pred.dim() == 2:
            pred, target = pred[None], target[None]
        n = self.num_classes
        b = pred.shape[0]
        pred = pred.reshape(b, -1).to(self.device, torch.int64)
        target = target.reshape(b, -1).to(self.device, torch.int64)
        keep = (target >= 0) & (target < n)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        # one bincount for the whole batch: image i owns bins [i*n*n, (i+1)*n*n)
        offset = torch.arange(b, device=self.device)[:, None] * (n * n)
        code = (offset + target * n + pred.clamp(0, n - 1))[keep]
        counts = torch.bincount(code, minlength=b * n * n).reshape(b, n, n)
        self._per_image.extend(counts.unbind(0))

    def merge(self, other: ConfusionMatrix) -> None:
        self._per_image.extend(other._per_image)

    @property
    def num_images(self) -> int:
        return len(self._per_image)

    def per_image(self) -> torch.Tensor:
        """(images, n, n) int64 stack of per-image matrices."""
        if not self._per_image:
            return torch.zeros(0, self.num_classes, self.num_classes, dtype=torch.int64, device=self.device)
        return torch.stack(self._per_image)

    @property
    def mat(self) -> torch.Tensor:
        """(n, n) int64 matrix summed over all images."""
        if not self._per_image:
            return torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64, device=self.device)
        return self.per_image().sum(0)

    def compute(self) -> Scores:
        return scores_from_matrix(self.mat, self.ignore_index)


@dataclass(frozen=True)
class Scores:
    """Scores from one confusion matrix. Per-class values are NaN where the class is absent."""

    iou: torch.Tensor  # (n,) float64, NaN where class absent from gt and prediction, or ignored
    acc: torch.Tensor  # (n,) recall per class, NaN where absent from gt
    dice: torch.Tensor  # (n,) F1 per class
    pixels: torch.Tensor  # (n,) ground-truth pixel count
    miou: float
    pixel_acc: float
    mean_acc: float
    fwiou: float
    absent: int  # classes left out of the mean (absent from both gt and prediction), void not counted


def _nanmean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else float("nan")


def scores_from_matrix(mat: torch.Tensor, ignore_index: int | None = None) -> Scores:
    """IoU, accuracies, Dice and frequency-weighted IoU; absent classes are NaN and excluded from means."""
    m = mat.to(torch.float64)
    tp = m.diag()
    gt = m.sum(1)
    pred = m.sum(0)
    union = gt + pred - tp
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=m.device)
    iou = torch.where(union > 0, tp / union.clamp(min=1), nan)
    acc = torch.where(gt > 0, tp / gt.clamp(min=1), nan)
    dice = torch.where(gt + pred > 0, 2 * tp / (gt + pred).clamp(min=1), nan)
    n = m.shape[0]
    if ignore_index is not None and 0 <= ignore_index < n:
        iou[ignore_index] = acc[ignore_index] = dice[ignore_index] = nan
    real = torch.ones(n, dtype=torch.bool, device=m.device)
    if ignore_index is not None and 0 <= ignore_index < n:
        real[ignore_index] = False
    total = gt.sum()
    freq = gt / total.clamp(min=1)
    valid = ~torch.isnan(iou)
    return Scores(
        iou=iou,
        acc=acc,
        dice=dice,
        pixels=mat.sum(1),
        miou=_nanmean(iou),
        pixel_acc=float(tp.sum() / total) if total > 0 else float("nan"),
        mean_acc=_nanmean(acc),
        fwiou=float((freq[valid] * iou[valid]).sum()) if total > 0 else float("nan"),
        absent=int((~valid & real).sum()),
    )
