"""The one IoU: per-class intersection over union from confusion matrices (rows: label, columns: prediction).

Every score camseg reports about classes comes from here: the split's scores (metrics.scores_from_matrix),
bootstrap resamples, fragility's leave-one-out, robustness cells and slices.
"""

from __future__ import annotations

import warnings

import numpy as np


def class_iou(mats: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """IoU = TP / (labelled + predicted - TP) per class of one (n, n) matrix or a stack (..., n, n).

    NaN where a class is neither labelled nor predicted (absent: not scored, not a zero) and for the ignored
    (void) index, so a mean over classes is `np.nanmean` over the last axis.
    """
    m = np.asarray(mats, dtype=np.float64)
    tp = np.diagonal(m, axis1=-2, axis2=-1)
    union = m.sum(-1) + m.sum(-2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    if ignore_index is not None and 0 <= ignore_index < m.shape[-1]:
        iou[..., ignore_index] = np.nan
    return iou


def mean_iou(mats: np.ndarray, ignore_index: int | None = None) -> np.ndarray:
    """mIoU of each matrix (the mean over the classes that are scored); NaN when none is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row's mean is NaN, as intended
        return np.nanmean(class_iou(mats, ignore_index), axis=-1)
