"""A study judged per condition (ACDC's fog, night, rain, snow): every arm against the baseline arm on
each condition's images alone, with the study's arm test, and Holm over every (arm, condition) test.

"Does jitter help at night?" is the night row of this table, asked of the night frames only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.study import arm_test, holm


def _arm_scores(arm: Any, keep: np.ndarray) -> dict:
    """{seed: the run's per-image confusion matrices of this condition's images}."""
    return {r.seed: r.result.per_image[keep] for r in arm.runs}


def condition_tests(
    arms: Sequence[Any], base: Any, reps: int = 1000, seed: int = 0, block: int | None = None
) -> list[dict[str, Any]]:
    """One row per (condition, arm other than the baseline): Δ mIoU, 95% CI, p and Holm's p; [] when
    the evaluation recorded no conditions."""
    first = base.runs[0].result
    masks = first.condition_masks()
    if not masks:
        return []
    ignore = first.classes.ignore_index
    rows = []
    for cond, keep in masks.items():
        names = [n for n, k in zip(first.image_names, keep) if k]
        for arm in arms:
            if arm is base:
                continue
            t = arm_test(_arm_scores(base, keep), _arm_scores(arm, keep), names, ignore, reps, seed, block)
            rows.append({"condition": cond, "arm": arm.name, "baseline": base.name, "images": int(keep.sum()),
                         "delta": t.delta, "ci": list(t.test.ci), "p_value": t.test.p_value,
                         "seeds": t.seeds, "paired": t.paired})  # fmt: skip
    for row, p in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = None if p is None or math.isnan(p) else p
    return rows
