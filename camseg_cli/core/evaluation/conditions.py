"""A study judged per condition (ACDC's fog, night, rain, snow): every arm against the baseline arm on
each condition's images alone, with the study's arm test, and Holm over every (arm, condition) test.

"Does jitter help at night?" is the night row of this table, asked of the night frames only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from camseg_cli.core.evaluation.metrics import scores_from_matrix
from camseg_cli.core.evaluation.study import arm_test, holm


def _miou_per_seed(arm: Any, keep: np.ndarray) -> dict:
    """{seed: mIoU of the run on this condition's images} (their confusion matrices summed)."""
    return {
        r.seed: scores_from_matrix(
            torch.from_numpy(r.result.per_image[keep].sum(0)), r.result.classes.void
        ).miou
        for r in arm.runs
    }


def _test(base: Any, arm: Any, keep: np.ndarray, names: list[str], ignore: int, **kw: Any) -> dict[str, Any]:
    """The study's arm test on one condition's images: the one place this module calls it. (When
    study.arm_test takes {seed: score}, pass _miou_per_seed(base, keep) and _miou_per_seed(arm, keep).)"""
    t = arm_test(
        *({r.seed: r.result.per_image[keep] for r in a.runs} for a in (base, arm)), names, ignore, **kw
    )
    return {"delta": t.delta, "ci": list(t.test.ci), "p_value": t.test.p_value, "seeds": t.seeds,
            "paired": t.paired}  # fmt: skip


def condition_tests(
    arms: Sequence[Any], base: Any, reps: int = 1000, seed: int = 0, block: int | None = None
) -> list[dict[str, Any]]:
    """One row per (condition, arm other than the baseline): mean mIoU of both arms on the condition,
    Δ mIoU, 95% CI, p and Holm's p; [] when the evaluation recorded no conditions."""
    first = base.runs[0].result
    masks = first.condition_masks()
    if not masks:
        return []
    rows = []
    for cond, keep in masks.items():
        names = [n for n, k in zip(first.image_names, keep) if k]
        base_miou = float(np.mean(list(_miou_per_seed(base, keep).values())))
        for arm in arms:
            if arm is base:
                continue
            test = _test(
                base, arm, keep, names, first.classes.ignore_index, reps=reps, seed=seed, block=block
            )
            arm_miou = float(np.mean(list(_miou_per_seed(arm, keep).values())))
            rows.append({"condition": cond, "arm": arm.name, "baseline": base.name, "images": int(keep.sum()),
                         "miou_baseline": base_miou, "miou_arm": arm_miou, **test})  # fmt: skip
    for row, p in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = None if p is None or math.isnan(p) else p
    return rows
