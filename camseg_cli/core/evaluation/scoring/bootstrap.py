"""Bootstrap over images: confidence intervals for mIoU and pixel accuracy from per-image matrices.

Resampling draws whole images with replacement, sums their confusion matrices and scores the sum the
same way as the full split (absent classes NaN and left out), so the interval describes how much the
split-level number would move with a different draw of test images. `bootstrap_indices` is shared so
that a paired comparison of two runs can resample the very same images for both. A checkpoint against
a checkpoint (both models fixed) resamples images in blocks of consecutive frames of one sequence
(`frame_blocks`): neighbouring frames of a drive are nearly the same image.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camseg_cli.core.evaluation.scoring.iou import mean_iou

LEVEL = 0.95
_CHUNK_CELLS = 8_000_000  # float64 cells per chunk of resampled matrices (~64 MB)


def bootstrap_indices(num_images: int, reps: int, seed: int = 0) -> np.ndarray:
    """(reps, num_images) int64 image indices drawn with replacement; same seed, same draws."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_images, size=(reps, num_images), dtype=np.int64)


def matrix_scores(mats: np.ndarray, ignore_index: int | None) -> dict[str, np.ndarray]:
    """mIoU and pixel accuracy of each (r, n, n) matrix."""
    tp = np.diagonal(mats, axis1=1, axis2=2)
    total = mats.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(total > 0, tp.sum(1) / np.where(total > 0, total, 1), np.nan)
    return {"miou": mean_iou(mats, ignore_index), "pixel_acc": acc}


def resampled_scores(
    per_image: np.ndarray, indices: np.ndarray, ignore_index: int | None
) -> dict[str, np.ndarray]:
    """Score each resample: {"miou": (reps,), "pixel_acc": (reps,)}.

    The resampled matrix of one draw is counts @ per_image (counts = how often each image was drawn),
    so the cost is one matrix product per chunk of draws, not a loop over images.
    """
    per_image = np.asarray(per_image, dtype=np.float64)
    num, n = per_image.shape[0], per_image.shape[-1]
    flat = per_image.reshape(num, n * n)
    reps = len(indices)
    out: dict[str, list[np.ndarray]] = {"miou": [], "pixel_acc": []}
    chunk = max(1, _CHUNK_CELLS // max(n * n, num))
    for start in range(0, reps, chunk):
        idx = indices[start : start + chunk]
        r = len(idx)
        counts = np.bincount((np.arange(r)[:, None] * num + idx).ravel(), minlength=r * num).reshape(r, num)
        mats = (counts.astype(np.float64) @ flat).reshape(r, n, n)
        for key, value in matrix_scores(mats, ignore_index).items():
            out[key].append(value)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


def percentile_ci(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Two-sided percentile interval; NaN samples (a draw with no labelled pixel) are left out."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (float("nan"), float("nan"))
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return (float(lo), float(hi))


def bootstrap_ci(
    per_image: np.ndarray,
    reps: int = 1000,
    seed: int = 0,
    ignore_index: int | None = None,
    level: float = LEVEL,
) -> dict[str, tuple[float, float]]:
    """95% (by default) percentile intervals for mIoU and pixel accuracy; NaN when reps or images are 0."""
    num = len(per_image)
    if reps <= 0 or num == 0:
        return {"miou": (float("nan"), float("nan")), "pixel_acc": (float("nan"), float("nan"))}
    samples = resampled_scores(per_image, bootstrap_indices(num, reps, seed), ignore_index)
    return {k: percentile_ci(v, level) for k, v in samples.items()}


@dataclass(frozen=True)
class DrawTest:
    """Interval and two-sided p-value from one set of resampled differences, so they never disagree.

    The interval's ends are the k-th smallest and k-th largest draws, k = ceil(B * alpha / 2), and
    p = 2 * min(#draws <= 0, #draws >= 0) / B. Then p < alpha exactly when the interval excludes 0:
    the low end is above 0 iff fewer than k draws are <= 0, iff 2 * #(<= 0) / B < alpha (likewise the
    high end). p = 0 means no draw reached 0; it is shown as "p < 2/B", the resampling floor.
    """

    ci: tuple[float, float]
    p_value: float
    draws: int
    level: float = LEVEL

    @property
    def tested(self) -> bool:
        return self.draws > 0

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (equivalently p < 1 - level; read off the interval, which has no
        rounding trouble: 1 - 0.95 is 0.050000000000000044 in floating point)."""
        return self.tested and (self.ci[0] > 0 or self.ci[1] < 0)

    def p_text(self, p: float | None = None, label: str = "p") -> str:
        """This test's p (or another from its draws, e.g. Holm's), at the floor as 'p < 2/B'."""
        if not self.tested:
            return "no test"
        p = self.p_value if p is None else p
        return f"{label} < {2 / self.draws:.2g}" if p == 0 else f"{label}={p:.3f}"


NO_TEST = DrawTest((math.nan, math.nan), math.nan, 0)


def draw_test(draws: np.ndarray, level: float = LEVEL) -> DrawTest:
    """DrawTest of resampled differences (NaN draws, e.g. a resample with no labelled pixel, left out)."""
    d = np.sort(np.asarray(draws, dtype=np.float64))
    d = d[~np.isnan(d)]
    b = len(d)
    if b == 0:
        return NO_TEST
    k = max(1, math.ceil(b * (1 - level) / 2 - 1e-9))  # -1e-9: 1000 * 0.05 / 2 is 25.000000000000004
    p = min(1.0, 2 * min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0)) / b)
    return DrawTest((float(d[k - 1]), float(d[b - k])), float(p), b, level)


# SEQUENCE_FRAME: 0001TP_008550, Seq05VD_f01020, 0016E5_07965
_FRAME = re.compile(r"^(?P<seq>.+?)_f?(?P<frame>\d+)$")


def frame_key(name: str) -> tuple[str, int] | None:
    """(sequence, frame number) of a CamVid-style name; None when the name carries no sequence."""
    m = _FRAME.match(name)
    return (m.group("seq"), int(m.group("frame"))) if m else None


def default_block(num_images: int) -> int:
    """Block length n^(1/3), the classic rate for block-bootstrap variance estimates (Hall, Horowitz
    and Jing 1995): 6 frames for CamVid's 233 SegNet test images (about 6 s of one drive)."""
    return max(1, round(num_images ** (1 / 3)))


def frame_blocks(names: Sequence[str], block: int) -> list[np.ndarray]:
    """Image indices in blocks of `block` consecutive frames of one sequence; a name without a
    sequence is a block of its own."""
    by_seq: dict[str, list[tuple[int, int]]] = {}
    blocks: list[np.ndarray] = []
    for i, name in enumerate(names):
        key = frame_key(name)
        if key is None:
            blocks.append(np.array([i]))
        else:
            by_seq.setdefault(key[0], []).append((key[1], i))
    for frames in by_seq.values():
        order = [i for _, i in sorted(frames)]
        blocks += [np.array(order[k : k + block]) for k in range(0, len(order), max(1, block))]
    return blocks


def block_indices(blocks: Sequence[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, n) image indices: each draw takes blocks with replacement until it holds n images."""
    n = sum(len(b) for b in blocks)
    out = np.empty((reps, n), dtype=np.int64)
    for r in range(reps):
        picked: list[np.ndarray] = []
        size = 0
        while size < n:
            b = blocks[int(rng.integers(len(blocks)))]
            picked.append(b)
            size += len(b)
        out[r] = np.concatenate(picked)[:n]
    return out
