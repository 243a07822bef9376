"""The study under shift as a table: its columns (clean, corruption families, the suite, slices), its
cells (an arm in a column: per-seed scores, the test, Holm's p, the verdict word) and the whole table
with the severity curves, as shift.py fills it from the study's one table of cells."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from camseg_cli.core.choices import AUG_FAMILIES
from camseg_cli.core.evaluation.compare.cells import MIN_EFFECT
from camseg_cli.core.evaluation.compare.judgement import word
from camseg_cli.core.evaluation.stats.study import ArmTest

SUITE = "suite"


@dataclass
class Column:
    """One column of the table: its name, kind (clean, family, suite, slice) and what it pools."""

    name: str
    kind: str
    passes: list[tuple[str, int]] = field(default_factory=list)  # (corruption, severity); [] = clean frames
    images: np.ndarray | None = None  # indices of the clean frames of a slice; None = all


@dataclass
class Cell:
    """One arm in one column: per-seed scores, and (not for the baseline arm) the test and its verdict."""

    arm: str
    column: str
    per_seed: dict[int, float]
    test: ArmTest | None = None
    p_holm: float = math.nan
    trained: bool = False
    min_effect: float = MIN_EFFECT  # points: --min-effect, as for the clean arms
    kind: str = ""  # the column's kind: clean, family, suite, slice
    family: int = 0  # size of the Holm family p_holm belongs to (every cell of the study's table)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_seed.values())))

    @property
    def sd(self) -> float:
        v = list(self.per_seed.values())
        return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan

    @property
    def word(self) -> str:
        """helps / hurts / negligible / within noise / not tested (judgement.word), after Holm over every
        test of the table."""
        return word(self.test, self.p_holm, self.min_effect)

    def to_json(self) -> dict[str, Any]:
        t = self.test
        return {
            "arm": self.arm,
            "column": self.column,
            "mean": self.mean,
            "sd": self.sd,
            "per_seed": {str(k): v for k, v in self.per_seed.items()},
            "delta": None if t is None else t.delta,
            "delta_points": None if t is None else 100 * t.delta,
            "delta_ci": None if t is None else list(t.ci),
            "p_value": None if t is None or not t.tested else t.p_value,
            "p_holm": None if t is None or not math.isfinite(self.p_holm) else self.p_holm,
            "seeds": None if t is None else t.n,
            "test": None if t is None else t.kind,
            "reason": None if t is None else t.reason,
            "verdict": self.word,
            "trained_on_family": self.trained,
            "measure": self.kind,
            "holm_family": self.family,
        }


@dataclass
class RobustComparison:
    """The arms x columns table, with the severity curves for the figure and notes on thin slices."""

    baseline: str
    columns: list[Column]
    cells: dict[tuple[str, str], Cell]
    arms: list[str]
    curves: dict[str, dict[str, dict[int, list[float]]]]  # arm -> family -> severity -> per-seed scores
    notes: list[str]
    tests: int
    corrupt_seed: int
    severities: list[int]

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline_arm": self.baseline,
            "columns": [
                {"name": c.name, "kind": c.kind, "passes": [list(p) for p in c.passes]} for c in self.columns
            ],
            "cells": [cell.to_json() for cell in self.cells.values()],
            "holm_tests": self.tests,
            "corrupt_seed": self.corrupt_seed,
            "severities": self.severities,
            "notes": self.notes,
        }


def aug_families(aug: str) -> set[str]:
    """Corruption families an augmentation trains on ('lowlight+flip' -> {'camera'})."""
    return {AUG_FAMILIES[p] for p in aug.replace(",", "+").split("+") if p in AUG_FAMILIES}
