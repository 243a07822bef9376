"""A study judged per condition (ACDC's fog, night, rain, snow): every arm against the baseline arm on
each condition's images alone, read from the study's one table (cells.judge_table: the arm test, the
withholding rule, including a condition of under MIN_FRAMES frames, and Holm over every cell of the
table with a verdict).

"Does jitter help at night?" is the night row of this table, asked of the night frames only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.compare.cells import MIN_EFFECT, Table, judge_table
from camseg_cli.core.evaluation.compare.measures import study_measures


def condition_tests(arms: Sequence[Any], base: Any, min_effect: float = MIN_EFFECT) -> list[dict[str, Any]]:
    """One row per (condition, arm other than the baseline) of the study's table (measures.study_measures);
    [] when the evaluation recorded no conditions."""
    table = judge_table(arms, base, study_measures(base), min_effect, notes=False)
    return condition_rows(table)


def condition_rows(table: Table) -> list[dict[str, Any]]:
    """The condition cells of `table`: mean mIoU of both arms on the condition, Δ mIoU, 95% CI, p, Holm's
    p, the verdict word and the size of Holm's family."""
    rows = []
    for m in table.of_kind("condition"):
        for arm in table.arms:
            if arm == table.baseline:
                continue
            cell = table.cell(arm, m)
            t = cell.test
            rows.append(
                {
                    "condition": m.name,
                    "arm": arm,
                    "baseline": table.baseline,
                    "images": m.frames,
                    "miou_baseline": float(np.mean(list(cell.base_per_seed.values()))),
                    "miou_arm": float(np.mean(list(cell.per_seed.values()))),
                    "delta": t.delta,
                    "ci": list(t.ci),
                    "p_value": t.p_value,
                    "seeds": t.n,
                    "paired": t.kind == "paired t",
                    "test": t.description,
                    "reason": t.reason,
                    "p_holm": cell.p_holm,
                    "verdict": cell.word,
                    "holm_family": cell.family,
                    "measure": m.kind,
                }  # fmt: skip
            )
    return rows
