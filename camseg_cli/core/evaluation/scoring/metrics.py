"""ConfusionMatrix over a whole split (torch.bincount, on device, void ignored) and the scores from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.iou import class_iou


def _count(code: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram of int64 codes in [0, bins). bincount on CPU; a fixed-size scatter_add elsewhere,
    because CUDA's bincount reads max() back to the host (a sync on every call)."""
    if code.device.type == "cpu":
        return torch.bincount(code, minlength=bins)
    out = torch.zeros(bins, dtype=torch.int64, device=code.device)
    return out.scatter_add_(0, code, torch.ones_like(code))


class ConfusionMatrix:
    """Rows are ground truth, columns prediction. Pixels labelled `ignore_index` are dropped.

    `update` keeps one small matrix per image (num_classes^2 int64 each) so that confidence
    intervals can be bootstrapped over images later; all of it stays on the device, no host sync.
    The number of dropped (void / ignored) pixels is kept per image too.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None, device: torch.device | str = "cpu"):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.device = torch.device(device)
        self._per_image: list[torch.Tensor] = []
        self._ignored: list[torch.Tensor] = []

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
        # one histogram for the whole batch: image i owns bins [i*n*n, (i+1)*n*n); dropped pixels go to
        # one extra bin at the end (a where, not a boolean index, so the size never depends on the data)
        offset = torch.arange(b, device=self.device)[:, None] * (n * n)
        code = torch.where(keep, offset + target.clamp(0, n - 1) * n + pred.clamp(0, n - 1), b * n * n)
        counts = _count(code.reshape(-1), b * n * n + 1)[:-1].reshape(b, n, n)
        self._per_image.extend(counts.unbind(0))
        self._ignored.extend((~keep).sum(1).unbind(0))

    def merge(self, other: ConfusionMatrix) -> None:
        self._per_image.extend(m.to(self.device) for m in other._per_image)
        self._ignored.extend(m.to(self.device) for m in other._ignored)

    @classmethod
    def from_per_image(
        cls, per_image: np.ndarray | torch.Tensor, ignore_index: int | None, ignored: np.ndarray | None = None
    ) -> ConfusionMatrix:
        """Rebuild from stored (images, n, n) matrices, e.g. a cached evaluation."""
        mats = torch.as_tensor(np.asarray(per_image), dtype=torch.int64)
        cm = cls(mats.shape[-1], ignore_index)
        cm._per_image = list(mats.unbind(0))
        zeros = torch.zeros(len(mats), dtype=torch.int64)
        cm._ignored = (
            list(torch.as_tensor(np.asarray(ignored), dtype=torch.int64).unbind(0))
            if ignored is not None
            else list(zeros.unbind(0))
        )
        return cm

    @property
    def num_images(self) -> int:
        return len(self._per_image)

    def per_image(self) -> torch.Tensor:
        """(images, n, n) int64 stack of per-image matrices."""
        if not self._per_image:
            return torch.zeros(0, self.num_classes, self.num_classes, dtype=torch.int64, device=self.device)
        return torch.stack(self._per_image)

    def ignored(self) -> torch.Tensor:
        """(images,) int64: pixels per image left out (void / ignore_index / out of range)."""
        if not self._ignored:
            return torch.zeros(0, dtype=torch.int64, device=self.device)
        return torch.stack(self._ignored)

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
    # Classes never in the labels but predicted on some pixels: IoU 0, counted in the mean (the standard
    # convention, which published CamVid numbers use), and so reported by name beside it.
    unlabelled: tuple[int, ...] = ()


def _nanmean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else float("nan")


def scores_from_matrix(mat: torch.Tensor, ignore_index: int | None = None) -> Scores:
    """IoU, accuracies, Dice and frequency-weighted IoU; absent classes are NaN and excluded from means."""
    m = mat.to(torch.float64)
    tp = m.diag()
    gt = m.sum(1)
    pred = m.sum(0)
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=m.device)
    iou = torch.from_numpy(class_iou(m.cpu().numpy())).to(m.device)  # void blanked below, with the rest
    acc = torch.where(gt > 0, tp / gt.clamp(min=1), nan)
    dice = torch.where(gt + pred > 0, 2 * tp / (gt + pred).clamp(min=1), nan)
    n = m.shape[0]
    real = torch.ones(n, dtype=torch.bool, device=m.device)
    if ignore_index is not None and 0 <= ignore_index < n:
        iou[ignore_index] = acc[ignore_index] = dice[ignore_index] = nan
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
        unlabelled=tuple(int(i) for i in torch.nonzero((gt == 0) & (pred > 0) & real).flatten()),
    )
