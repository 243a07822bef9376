"""A checkpoint against a checkpoint: a paired block bootstrap over the same test images.

Both models are fixed and only the test images are resampled, the same images for both runs in every
resample (in blocks of consecutive frames of one sequence: neighbouring frames of a drive are nearly
one image), so image-to-image difficulty cancels out and only the runs' difference varies. It says
whether *this checkpoint* beats *that one* on images like these, not whether an augmentation helps:
the arms answer that, over seeds (verdicts.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.scoring.bootstrap import (
    NO_TEST,
    DrawTest,
    block_indices,
    default_block,
    draw_test,
    frame_blocks,
    resampled_scores,
)
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.evaluation.stats.study import decide


@dataclass(frozen=True)
class Paired:
    """Run minus baseline, on the same images: observed difference, and its 95% CI and two-sided
    p-value from the same resampled differences (bootstrap.draw_test), so p < 0.05 iff the CI excludes 0."""

    delta: float
    test: DrawTest
    reason: str = ""  # why there is no test, when there is none

    @property
    def ci(self) -> tuple[float, float]:
        return self.test.ci

    @property
    def p_value(self) -> float:
        return self.test.p_value

    @property
    def within_noise(self) -> bool:
        return not self.test.significant


def paired_bootstrap(
    base: EvalResult, other: EvalResult, reps: int = 1000, seed: int = 0, block: int | None = None
) -> Paired:
    """Difference other - base in mIoU with a paired percentile bootstrap over the same images, drawn
    in blocks of `block` consecutive frames of a sequence (default n^(1/3); names without one alone)."""
    ignore = base.classes.ignore_index
    delta = other.scores.miou - base.scores.miou
    if reps <= 0:
        return Paired(delta, NO_TEST, "--bootstrap 0")
    if base.num_images == 0 or not math.isfinite(delta):
        return Paired(delta, NO_TEST, "no labelled pixel in the split: mIoU undefined")
    names = base.image_names
    idx = block_indices(
        frame_blocks(names, block or default_block(len(names))), reps, np.random.default_rng(seed)
    )
    d = (
        resampled_scores(other.per_image, idx, ignore)["miou"]
        - resampled_scores(base.per_image, idx, ignore)["miou"]
    )
    test = draw_test(d)
    return Paired(float(delta), test, "" if test.tested else "no resample had a labelled pixel")


def verdict(run: Any, base: Any, p: Paired, min_effect: float = 0.0) -> str:
    """One sentence a person can act on, by the same rule as every arm cell (study.decide): a difference
    whose whole CI lies within +-`min_effect` points is negligible."""
    if run is base:
        return "baseline"
    points = 100 * p.delta
    if not p.test.tested:
        return f"not tested ({p.reason}): {points:+.1f} mIoU points vs {base.name}"
    ci = f"95% CI {100 * p.ci[0]:+.1f} to {100 * p.ci[1]:+.1f} points"
    kind = decide(True, p.delta, p.ci, p.test.significant, min_effect)
    if kind == "negligible":
        return f"negligible: {points:+.1f} mIoU points vs {base.name} ({ci}, within +-{min_effect:g})"
    if kind == "within noise":
        return f"within noise: {points:+.1f} mIoU points vs {base.name} ({ci} includes 0, {p.test.p_text()})"
    return f"{kind} than {base.name} by {abs(points):.1f} mIoU points ({ci}, {p.test.p_text()})"
