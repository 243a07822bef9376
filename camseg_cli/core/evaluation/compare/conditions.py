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

from camseg_cli.core.evaluation.compare.judgement import judge
from camseg_cli.core.evaluation.scoring.metrics import scores_from_matrix
from camseg_cli.core.evaluation.stats.study import holm


def _condition_miou(run: Any, keep: np.ndarray) -> float:
    """The condition's measure: the run's mIoU on this condition's images (their matrices summed)."""
    return scores_from_matrix(
        torch.from_numpy(run.result.per_image[keep].sum(0)), run.result.classes.void
    ).miou


def _test(base: Any, arm: Any, keep: np.ndarray) -> dict[str, Any]:
    """The study's judgement (judgement.judge: paired t over shared seeds, withheld for a run that
    ignores its input) on one condition's images."""
    t = judge(base.runs, arm.runs, lambda r: _condition_miou(r, keep))
    return {"delta": t.delta, "ci": list(t.ci), "p_value": t.p_value, "seeds": t.n,
            "paired": t.kind == "paired t", "test": t.description, "reason": t.reason,
            "verdict_allowed": t.verdict_allowed}  # fmt: skip


def condition_tests(arms: Sequence[Any], base: Any) -> list[dict[str, Any]]:
    """One row per (condition, arm other than the baseline): mean mIoU of both arms on the condition,
    Δ mIoU, 95% CI, p and Holm's p; [] when the evaluation recorded no conditions."""
    first = base.runs[0].result
    masks = first.condition_masks()
    if not masks:
        return []
    rows = []
    for cond, keep in masks.items():
        base_miou = float(np.mean([_condition_miou(r, keep) for r in base.runs]))
        for arm in arms:
            if arm is base:
                continue
            test = _test(base, arm, keep)
            arm_miou = float(np.mean([_condition_miou(r, keep) for r in arm.runs]))
            rows.append({"condition": cond, "arm": arm.name, "baseline": base.name, "images": int(keep.sum()),
                         "miou_baseline": base_miou, "miou_arm": arm_miou, **test})  # fmt: skip
    # Holm's family: the tests that can give a verdict (enough shared seeds), as for the arms
    family = holm([r["p_value"] if r.pop("verdict_allowed") else None for r in rows])
    for row, p in zip(rows, family):
        row["p_holm"] = None if p is None or math.isnan(p) else p
    return rows
