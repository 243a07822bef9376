"""Arms under shift: clean mIoU, each corruption family, the whole suite and real-condition slices, every
column a measure of the study's one table (cells.judge_table: the seed-aware arm test, the withholding rule,
one Holm family over every cell with a verdict, the one verdict word).

A column's score for one run is the mIoU of its frames pooled into one confusion matrix: for a family, every
frame under every corruption of the family at every severity scored; for a slice (dark frames, one drive),
the clean frames of the slice; the clean column is the study's clean measure itself. Each run gives one
score per column; the arm test pairs them over seeds. `judge_under_shift` judges these columns in one table
with the comparison's own measures (clean, dataset conditions), so compare's arms and conditions share
their Holm family. A cell is marked "trained on this family" when the arm's augmentation shares the family
of the test corruptions (ImageNet-C's rule: judge on corruptions a model did not train on, or say that it
did).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.choices import CORRUPTION_FAMILIES
from camseg_cli.core.data.corruption.suite import family_of
from camseg_cli.core.evaluation.compare.arms import Arm
from camseg_cli.core.evaluation.compare.cells import MIN_EFFECT, Measure, Table, judge_table
from camseg_cli.core.evaluation.compare.comparison import Comparison
from camseg_cli.core.evaluation.compare.conditions import condition_rows
from camseg_cli.core.evaluation.compare.measures import clean, study_measures
from camseg_cli.core.evaluation.compare.shift_table import (
    SUITE,
    Cell,
    Column,
    RobustComparison,
    aug_families,
)
from camseg_cli.core.evaluation.compare.verdicts import arm_results
from camseg_cli.core.evaluation.scoring.bootstrap import resampled_scores
from camseg_cli.core.evaluation.scoring.robustness import Robustness, robustness
from camseg_cli.core.evaluation.scoring.slices import check_slices, slice_images, slice_luminance


def _pooled_miou(mats: np.ndarray, ignore: int | None) -> float:
    """mIoU of the frames pooled into one matrix, scored exactly as the arm test scores a split."""
    return float(resampled_scores(mats, np.arange(len(mats))[None], ignore)["miou"][0])


def _column_mats(rob: Robustness, col: Column) -> tuple[np.ndarray, list[str]]:
    """A run's per-image matrices and image names for one column (passes stacked, names tagged by pass)."""
    if not col.passes:
        idx = np.arange(rob.clean.num_images) if col.images is None else col.images
        return rob.clean.per_image[idx], [rob.clean.image_names[i] for i in idx]
    mats = [rob.passes[p].per_image for p in col.passes]
    names = [f"{n}-s{s}/{img}" for n, s in col.passes for img in rob.clean.image_names]
    return np.concatenate(mats), names


def build_columns(
    names: Sequence[str], severities: Sequence[int], slices: Sequence[str], luminance: dict[str, float],
    image_names: Sequence[str],
) -> tuple[list[Column], list[str]]:  # fmt: skip
    """clean, then each family of `names`, the suite, then the slices asked for; and notes on thin slices."""
    cols = [Column("clean", "clean")]
    for fam, members in CORRUPTION_FAMILIES.items():
        passes = [(n, s) for n in names if n in members for s in severities]
        if passes:
            cols.append(Column(fam, "family", passes))
    if names:
        cols.append(Column(SUITE, "suite", [(n, s) for n in names for s in severities]))
    found, notes = slice_images(slices, luminance, image_names)
    cols += [Column(name, "slice", images=idx) for name, idx in found]
    return cols, notes


def column_measures(
    columns: Sequence[Column], robs: dict[str, Robustness], first: Any
) -> dict[str, Measure]:  # fmt: skip
    """{column name: its measure}: the clean column is the study's clean measure, each other column the
    pooled mIoU of its frames in the run's Robustness (`robs[run name]`)."""
    ignore = first.classes.ignore_index
    out = {}
    for col in columns:
        if col.kind == "clean":
            out[col.name] = clean(first)[0]
            continue

        def score(run: Any, col: Column = col) -> float:
            return _pooled_miou(_column_mats(robs[run.name], col)[0], ignore)

        frames = None if col.images is None else len(col.images)
        out[col.name] = Measure(col.kind, col.name, score, frames=frames)
    return out


def shift_rows(
    table: Table, arms: Sequence[Arm], robs: dict[str, Robustness], columns: list[Column],
    measures: dict[str, Measure], notes: list[str], corrupt_seed: int = 0,
) -> RobustComparison:  # fmt: skip
    """The arms x columns of `table` as a RobustComparison (cells, curves, notes)."""
    cells: dict[tuple[str, str], Cell] = {}
    for col in columns:
        for a in arms:
            c = table.cell(a.name, measures[col.name])
            trained = col.kind == "family" and col.name in aug_families(a.aug)
            p = math.nan if c.p_holm is None else float(c.p_holm)
            cells[(a.name, col.name)] = Cell(a.name, col.name, c.per_seed, c.test, p, trained,
                                             table.min_effect, col.kind, c.family)  # fmt: skip
    first = robs[next(a for a in arms if a.name == table.baseline).runs[0].name]
    return RobustComparison(
        baseline=table.baseline,
        columns=columns,
        cells=cells,
        arms=[a.name for a in arms],
        curves=_curves(arms, robs, first.clean.classes.ignore_index),
        notes=notes,
        tests=table.family,
        corrupt_seed=corrupt_seed,
        severities=first.severities,
    )


def robust_compare(
    arms: Sequence[Arm], base: Arm, robs: dict[str, Robustness], columns: list[Column], notes: list[str],
    corrupt_seed: int = 0, min_effect: float = MIN_EFFECT,
) -> RobustComparison:  # fmt: skip
    """Every arm against `base` in every column, alone in one table (the columns' own Holm family).

    `robs[run name]` is that run's Robustness (its clean evaluation and corrupted passes).
    """
    measures = column_measures(columns, robs, robs[base.runs[0].name].clean)
    table = judge_table(arms, base, list(measures.values()), min_effect, notes=False)
    return shift_rows(table, arms, robs, columns, measures, notes, corrupt_seed)


def judge_under_shift(
    comparison: Any, robs: dict[str, Robustness], columns: list[Column], notes: list[str],
    corrupt_seed: int = 0, min_effect: float = MIN_EFFECT,
) -> RobustComparison:  # fmt: skip
    """The columns judged in one table with the comparison's own measures (clean, dataset conditions):
    one Holm family for all. The comparison's arms and conditions are re-read from that table, so every
    verdict compare prints, writes and reports is of the same family."""
    base = comparison.baseline_arm
    arms = [r.arm for r in comparison.arms]
    own = study_measures(base)
    measures = column_measures(columns, robs, robs[base.runs[0].name].clean)
    keys = {m.key for m in own}
    table = judge_table(arms, base, [*own, *(m for m in measures.values() if m.key not in keys)], min_effect)
    comparison.arms = arm_results(table, arms, base)
    comparison.conditions = condition_rows(table)
    comparison.table = table
    return shift_rows(table, arms, robs, columns, measures, notes, corrupt_seed)


def _curves(arms: Sequence[Arm], robs: dict[str, Robustness], ignore: int | None) -> dict[str, Any]:
    """arm -> family -> severity (0 = clean) -> each seed's pooled mIoU of the family at that severity."""
    out: dict[str, Any] = {}
    for a in arms:
        fams: dict[str, dict[int, list[float]]] = {}
        for r in a.runs:
            rob = robs[r.name]
            for fam in dict.fromkeys(family_of(n) for n in rob.corruptions):
                curve = fams.setdefault(fam, {})
                curve.setdefault(0, []).append(rob.clean_miou)
                for s in rob.severities:
                    mats = [rob.passes[(n, s)].per_image for n in rob.corruptions if family_of(n) == fam]
                    curve.setdefault(s, []).append(_pooled_miou(np.concatenate(mats), ignore))
        out[a.name] = fams
    return out


def study_under_shift(
    comparison: Comparison,
    names: Sequence[str],
    severities: Sequence[int],
    corrupt_seed: int = 0,
    slices: Sequence[str] = (),
    out: Path | str = "out",
    data: Path | str | None = None,
    min_effect: float = MIN_EFFECT,
    **eval_kwargs: Any,
) -> RobustComparison:
    """Score every run of `comparison` under the corruptions (cached passes reused) and on the slices,
    then test every arm in every column against the baseline arm.

    Args:
        names, severities: corruptions and severities (empty names: slices only).
        slices: "dark" (frames under camseg stats's dark threshold) and / or "sequence" (each drive).
        min_effect: --min-effect in points, for the cells' words as for the clean arms'.
        eval_kwargs: evaluate_passes's options and split_by / val_sequences / test_sequences.
    """
    check_slices(",".join(slices))
    split = comparison.split
    robs = {}
    for r in comparison.runs:
        if names:
            robs[r.name] = robustness(
                r.path,
                names,
                severities,
                corrupt_seed,
                split,
                data,
                out,
                r.name,
                r.result,
                **dict(eval_kwargs),
            )
        else:
            robs[r.name] = Robustness(r.result, {}, corrupt_seed)
    first = comparison.baseline.result
    lum = slice_luminance(first, split) if "dark" in slices else {}
    columns, notes = build_columns(names, severities, slices, lum, first.image_names)
    return judge_under_shift(comparison, robs, columns, notes, corrupt_seed, min_effect)
