"""Loss weights from class pixel frequencies: median-frequency balancing and ENet's 1/ln(c + f)."""

from __future__ import annotations

import logging

import numpy as np

from camseg_cli.core.errors import CamsegError

METHODS = ("none", "median", "enet")
log = logging.getLogger("camseg")


def class_frequencies(pixel_counts: np.ndarray, void: int | None = None) -> np.ndarray:
    """Each class's share of the non-void pixels (float64); void 0, and all 0 without labelled pixels."""
    counts = np.asarray(pixel_counts, dtype=np.float64)
    real = np.ones(len(counts), dtype=bool)
    if void is not None:
        real[void] = False
    total = counts[real].sum()
    return np.where(real, counts / total, 0.0) if total > 0 else np.zeros(len(counts))


def weight_table(pixel_counts: np.ndarray, void: int | None = None) -> dict[str, np.ndarray]:
    """What `camseg stats` reports and `camseg train --class-weights` uses: frequency, median, enet."""
    table = {"frequency": class_frequencies(pixel_counts, void)}
    return table | {m: class_weights(pixel_counts, m, void, warn=False) for m in METHODS if m != "none"}


def class_weights(
    pixel_counts: np.ndarray, method: str, void: int | None = None, warn: bool = True
) -> np.ndarray:
    """Per-class weights (float32). Void and classes without pixels get 0 (the latter with a warning).

    median: median(f) / f_c over classes present (Eigen & Fergus); enet: 1 / ln(1.02 + f_c) (Paszke et al.),
    where f_c is the class's share of the non-void pixels.
    """
    if method not in METHODS:
        raise CamsegError(f"unknown class-weight method {method!r} — choose one of {', '.join(METHODS)}")
    counts = np.asarray(pixel_counts, dtype=np.float64)
    real = np.ones(len(counts), dtype=bool)
    if void is not None:
        real[void] = False
    if method == "none":
        return real.astype(np.float32)
    if counts[real].sum() <= 0:
        raise CamsegError(
            "cannot compute class weights: the training split has no labelled (non-void) pixels"
        )
    freq = class_frequencies(counts, void)
    present = real & (counts > 0)
    weights = np.zeros(len(counts), dtype=np.float64)
    if method == "median":
        weights[present] = np.median(freq[present]) / freq[present]
    else:
        weights[present] = 1.0 / np.log(1.02 + freq[present])
    if warn and (real & ~present).any():
        log.warning("%d class(es) have no training pixels and get weight 0", int((real & ~present).sum()))
    return weights.astype(np.float32)
