"""The study's statistics: an arm (all seeds of one configuration) against a baseline arm.

One trained model is one draw: a second seed moves CamVid mIoU by 1-2 points, as much as most
augmentations do. So the difference between two arms carries two sources of noise, and this test
counts both in every draw:
- test images: resampled in blocks of consecutive frames of one sequence (neighbouring frames of a
  drive are nearly the same image, so single-image resampling would overstate how much we know), the
  same images for every run of a draw;
- seeds: the per-seed differences of a draw (paired by seed where both arms have it) give a mean and
  a standard error, and the draw adds that standard error times a Student t variate with the seeds'
  degrees of freedom. A plain percentile bootstrap over 3 seeds is too narrow (it shrinks the variance
  by (n-1)/n and has a handful of distinct draws); the t scaling is the small-sample correction, and
  tests/test_study.py simulates studies to show its false-positive rate and power.
The interval and the p-value come from the same draws (bootstrap.draw_test), so they never disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camseg_cli.core.evaluation.bootstrap import NO_TEST, DrawTest, draw_test, resampled_scores

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


@dataclass(frozen=True)
class ArmTest:
    """Arm minus baseline arm: the mean per-seed difference in mIoU, and its test."""

    delta: float
    test: DrawTest
    seeds: int  # seed pairs (paired) or the smaller arm's seed count (unpaired)
    paired: bool
    seed_aware: bool  # False when either arm has one seed: then only image noise is counted
    seed_sd: float  # SD across seeds of the per-seed difference (paired) or pooled SD (unpaired)
    image_sd: float = math.nan  # SD of the mean difference over image resamples alone (no seed noise)


def _miou(mats: np.ndarray, ignore_index: int | None) -> float:
    """mIoU of the whole split (every image once), scored as bootstrap draws are."""
    return float(resampled_scores(mats, np.arange(len(mats))[None], ignore_index)["miou"][0])


def _sd(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _welch_df(sa: float, sb: float, na: int, nb: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two means with unequal variances."""
    va, vb = sa**2 / na, sb**2 / nb
    den = va**2 / (na - 1) + vb**2 / (nb - 1)
    return (va + vb) ** 2 / den if den > 0 else float(min(na, nb) - 1)


def _draws(
    base: dict[int, np.ndarray], arm: dict[int, np.ndarray], idx: np.ndarray, ignore: int | None,
    paired: bool, rng: np.random.Generator,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """One resampled mean difference per row of idx (the same images for every run), with seed noise
    added as (seed standard error of that draw) x Student t, when both arms have several seeds; and
    the SD of the image-only part."""
    b = np.stack([resampled_scores(base[s], idx, ignore)["miou"] for s in sorted(base)], axis=1)
    a = np.stack([resampled_scores(arm[s], idx, ignore)["miou"] for s in sorted(arm)], axis=1)
    nb, na = b.shape[1], a.shape[1]
    if paired:
        d = a - b
        mean = d.mean(1)
        if na < 2:
            return mean, float(mean.std())
        se, df = d.std(1, ddof=1) / math.sqrt(na), float(na - 1)
    else:
        mean = a.mean(1) - b.mean(1)
        if min(na, nb) < 2:
            return mean, float(mean.std())  # one seed on a side: only the images can be resampled
        se = np.sqrt(a.var(1, ddof=1) / na + b.var(1, ddof=1) / nb)
        df = _welch_df(float(np.median(b.std(1, ddof=1))), float(np.median(a.std(1, ddof=1))), nb, na)
    return mean + se * rng.standard_t(max(df, 1.0), size=len(mean)), float(mean.std())


def arm_test(
    base: dict[int, np.ndarray],
    arm: dict[int, np.ndarray],
    names: Sequence[str],
    ignore_index: int | None,
    reps: int = 1000,
    seed: int = 0,
    block: int | None = None,
) -> ArmTest:
    """Two-level test of `arm` against `base`, each {seed: per-image confusion matrices (images, n, n)},
    all on the same test images `names`. Pairs by seed when both arms have the same seeds."""
    paired = sorted(base) == sorted(arm)
    miou_b = {s: _miou(m, ignore_index) for s, m in base.items()}
    miou_a = {s: _miou(m, ignore_index) for s, m in arm.items()}
    if paired:
        per_seed = [miou_a[s] - miou_b[s] for s in sorted(base)]
        delta, seed_sd = float(np.mean(per_seed)), _sd(per_seed)
    else:
        delta = float(np.mean(list(miou_a.values())) - np.mean(list(miou_b.values())))
        seed_sd = float(np.nanmean([_sd(list(miou_b.values())), _sd(list(miou_a.values()))]))
    seeds = min(len(base), len(arm))
    if reps <= 0:
        return ArmTest(delta, NO_TEST, seeds, paired, seeds > 1, seed_sd)
    rng = np.random.default_rng(seed)
    idx = block_indices(frame_blocks(names, block or default_block(len(names))), reps, rng)
    draws, image_sd = _draws(base, arm, idx, ignore_index, paired, rng)
    return ArmTest(delta, draw_test(draws), seeds, paired, seeds > 1, seed_sd, image_sd)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    ok = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()
