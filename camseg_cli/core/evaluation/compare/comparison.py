"""Compare runs on one split (runs.gather scores them): rank them, test arms and checkpoints.

Arms (all seeds of one configuration) are judged in verdicts.py, over seeds. A checkpoint against the
baseline arm's checkpoint of its seed is a paired block bootstrap: the same test images for both runs
in every resample (blocks of consecutive frames of one sequence), so image-to-image difficulty cancels
out and only the runs' difference varies; it speaks of these two checkpoints, not of the augmentation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from camseg_cli.core.evaluation.compare.arms import Arm, group_arms, pick_baseline_arm, study_notes
from camseg_cli.core.evaluation.compare.cells import Table, judge_table
from camseg_cli.core.evaluation.compare.conditions import condition_rows
from camseg_cli.core.evaluation.compare.judgement import withhold_verdicts
from camseg_cli.core.evaluation.compare.measures import study_measures
from camseg_cli.core.evaluation.compare.pairs import Paired, paired_bootstrap, verdict
from camseg_cli.core.evaluation.compare.runs import Run
from camseg_cli.core.evaluation.compare.verdicts import (
    MIN_EFFECT,
    ArmResult,
    arm_results,
    arms_json,
    power_lines,
)


def results_frame(
    runs: Sequence[Run],
    bases: dict[str, Run],
    paired: dict[str, Paired],
    arm_of: dict[str, str],
    min_effect: float = MIN_EFFECT,
) -> pd.DataFrame:
    """One row per run, best mIoU first; each run against its baseline run (same seed where there is one)."""
    rows = []
    for r in runs:
        s, p, base = r.result.scores, paired[r.name], bases[r.name]
        ci = r.result.ci.get("miou", (math.nan, math.nan))
        rows.append(
            {
                "run": r.name,
                "arm": arm_of[r.name],
                "seed": r.seed,
                "arch": r.arch,
                "aug": r.aug,
                "epochs": r.epochs,
                "miou": s.miou,
                "miou_lo": ci[0],
                "miou_hi": ci[1],
                "pixel_acc": s.pixel_acc,
                "mean_acc": s.mean_acc,
                "fwiou": s.fwiou,
                "train_seconds": r.train_seconds,
                "epoch_seconds": r.epoch_seconds,
                "still_improving": r.still_improving,
                "vs_run": base.name,
                "delta_vs_baseline": p.delta,
                "delta_lo": p.ci[0],
                "delta_hi": p.ci[1],
                "p_value": p.p_value,
                "p_text": "" if r is base else p.test.p_text(),  # "p=0.012", "p < 0.002", "no test"
                "verdict": verdict(r, base, p, min_effect),
                "never_labelled": ", ".join(r.result.unlabelled_names()),  # predicted, IoU 0 in the mean
                "checkpoint": str(r.path),
                "cached": r.cached,
            }
        )
    return pd.DataFrame(rows).sort_values("miou", ascending=False, na_position="last").reset_index(drop=True)


def per_class_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Classes as rows (void left out), runs as columns, IoU in each cell (NaN: class absent)."""
    table = {r.name: {row["class"]: row["iou"] for row in r.result.per_class()} for r in runs}
    frame = pd.DataFrame(table)
    frame.index.name = "class"
    return frame


def per_class_json(per_class: pd.DataFrame) -> list[dict[str, Any]]:
    """per_class.csv as JSON rows: {'class': name, run: IoU or None (class absent)}."""
    return [{"class": cls} | {k: None if v != v else float(v) for k, v in row.items()}
            for cls, row in per_class.iterrows()]  # fmt: skip


def best_run(row: pd.Series) -> str | None:
    """The run with the highest IoU for a class; None when no run stands out (absent, or all tied)."""
    vals = row.dropna()
    return None if vals.empty or vals.max() == vals.min() else str(vals.idxmax())


def arm_means(per_class: pd.DataFrame, arms: Sequence[Arm]) -> pd.DataFrame:
    """Per-class IoU averaged over each arm's seeds (classes as rows, arms as columns)."""
    return pd.DataFrame({a.name: per_class[[r.name for r in a.runs]].mean(axis=1) for a in arms})


def class_shifts(per_class: pd.DataFrame, base: str, top: int = 3) -> dict[str, dict[str, list]]:
    """For each column (an arm's mean over seeds): the classes whose IoU rose and fell most against
    the baseline column."""
    shifts = {}
    for run in per_class.columns:
        if run == base:
            continue
        d = (per_class[run] - per_class[base]).dropna().sort_values()
        shifts[run] = {
            "helps": [(c, float(v)) for c, v in d[::-1].items() if v > 0][:top],
            "hurts": [(c, float(v)) for c, v in d.items() if v < 0][:top],
        }
    return shifts


@dataclass
class Comparison:
    split: str
    runs: list[Run]
    baseline: Run
    paired: dict[str, Paired]
    results: pd.DataFrame
    per_class: pd.DataFrame
    shifts: dict[str, dict[str, list]]
    arms: list[ArmResult]
    baseline_arm: Arm
    power: list[str]
    notes: list[str]
    conditions: list[dict[str, Any]] = field(default_factory=list)  # per ACDC condition: arm tests
    ignores_input: list[str] = field(default_factory=list)  # one warning per run that draws one mask
    table: Table | None = None  # the study's one table of cells: arms and conditions are read from it

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.results.itertuples():
            rows.append(
                {
                    "run": row.run,
                    "arm": row.arm,
                    "seed": None if pd.isna(row.seed) else int(row.seed),
                    "arch": row.arch,
                    "aug": row.aug,
                    "epochs": int(row.epochs),
                    "miou": row.miou,
                    "miou_ci": [row.miou_lo, row.miou_hi],
                    "pixel_acc": row.pixel_acc,
                    "mean_acc": row.mean_acc,
                    "vs_run": row.vs_run,
                    "delta_vs_baseline": row.delta_vs_baseline,
                    "delta_ci": [row.delta_lo, row.delta_hi],
                    "p_value": row.p_value,
                    "verdict": row.verdict,
                    "still_improving": bool(row.still_improving),
                    "predicted_never_labelled": [n for n in row.never_labelled.split(", ") if n],
                    # in results.csv too (docs/outputs.md): every CSV column is a JSON key
                    "fwiou": row.fwiou,
                    "train_seconds": row.train_seconds,
                    "epoch_seconds": row.epoch_seconds,
                    "p_text": row.p_text,
                    "checkpoint": row.checkpoint,
                    "cached": bool(row.cached),
                }
            )
        return {
            "split": self.split,
            "baseline": self.baseline.name,
            "runs": rows,
            "baseline_arm": self.baseline_arm.name,
            "arms": arms_json(self.arms),
            "power": self.power,
            "notes": self.notes,
            "ignores_input": self.ignores_input,
            "per_class": per_class_json(self.per_class),
        } | ({"conditions": self.conditions} if self.conditions else {})


def compare(
    runs: list[Run],
    baseline: str | None = None,
    reps: int = 1000,
    seed: int = 0,
    block: int | None = None,
    min_effect: float = MIN_EFFECT,
) -> Comparison:
    """Rank the runs, group them into arms and test each arm against the baseline arm (seeds and
    images); each run is also set against the baseline arm's run of the same seed (these checkpoints)."""
    arms = group_arms(runs)
    base_arm = pick_baseline_arm(arms, baseline)
    by_seed = {r.seed: r for r in base_arm.runs}
    bases = {r.name: by_seed.get(r.seed, base_arm.runs[0]) for r in runs}
    paired = {r.name: paired_bootstrap(bases[r.name].result, r.result, reps, seed, block) for r in runs}
    arm_of = {r.name: a.name for a in arms for r in a.runs}
    per_class = per_class_frame(runs)
    split = runs[0].result.split
    table = judge_table(arms, base_arm, study_measures(base_arm), min_effect)
    judged = arm_results(table, arms, base_arm)
    comparison = Comparison(
        split=split,
        runs=runs,
        baseline=base_arm.runs[0],
        paired=paired,
        results=results_frame(runs, bases, paired, arm_of, min_effect),
        per_class=per_class,
        shifts=class_shifts(arm_means(per_class, arms), base_arm.name),
        arms=judged,
        baseline_arm=base_arm,
        power=power_lines(judged),
        notes=study_notes(split, arms, runs),
        conditions=condition_rows(table),
        table=table,
    )
    comparison.ignores_input = withhold_verdicts(comparison)  # no verdict about a model that cannot see
    return comparison
