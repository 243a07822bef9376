"""One table of cells: every question a study answers is an (arm, measure) cell, judged here and only here.

A Measure is a kind (clean, condition, family, suite, slice, or any new one), a name and a function from a
run to its score on that measure (None: the run has none). `judge_table` scores every run of every arm on
every measure and turns each (arm, measure) into one judgement:

- the study's arm test on the per-seed scores (judgement.judge: paired t over the shared seeds, Welch
  without one; bit-identical runs counted once, see `distinct_runs`);
- one withholding rule: a run of either arm that ignores its input (no p, no interval), fewer than
  study.MIN_SEEDS shared seeds (the arm test says so), fewer than MIN_FRAMES test frames behind the
  measure (the test stands, the verdict does not);
- ONE Holm family over every cell that carries a verdict, whatever its kind;
- one verdict word (judgement.word, honouring --min-effect), and a measure's own notes where it has a
  `notes` function (fragility for the clean measure).

verdicts.py (clean arms), conditions.py and shift.py only turn this table into their rows, and
reports.tables.cell_row is the one row of a cell in cells.csv, --json's "cells" and report.md, so a new
measure is one function in measures.py that yields a score per run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.compare.judgement import judge, word
from camseg_cli.core.evaluation.scoring.slices import MIN_SLICE
from camseg_cli.core.evaluation.stats.study import ArmTest, holm

MIN_EFFECT = 0.5  # mIoU points: a third of CamVid's 1-2 point seed SD; smaller gains change no decision
MIN_FRAMES = MIN_SLICE  # test frames a measure needs for a verdict (a slice, a condition)

Notes = Callable[[Sequence[Any], Sequence[Any], float, float], list[str]]  # base runs, arm runs, holm, effect


@dataclass(frozen=True)
class Measure:
    """What a cell measures: `score(run)` is the run's score (a fraction; None: no score for that run);
    `frames` the test frames behind it, when they are a subset; `notes` more to say about a verdict."""

    kind: str
    name: str
    score: Callable[[Any], float | None]
    frames: int | None = None
    notes: Notes | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass
class Cell:
    """One arm on one measure: both arms' per-seed scores and (not for the baseline arm) the judgement."""

    arm: str
    measure: Measure
    per_seed: dict[Any, float]  # this arm's runs (all of them, as shown)
    base_per_seed: dict[Any, float]
    test: ArmTest | None = None  # None for the baseline arm
    p_holm: float | None = None  # None: no verdict, so no member of the Holm family
    family: int = 0  # size of the study's one Holm family (the whole table's cells with a verdict)
    word: str = "baseline"
    notes: list[str] = field(default_factory=list)

    @property
    def withheld(self) -> str | None:
        """Why the cell carries no verdict (None: it does, or it is the baseline)."""
        if self.test is None or self.test.verdict_allowed:
            return None
        return self.test.reason or "no test"

    @property
    def mean(self) -> float:
        """This arm's mean score over its runs (NaN: none scored)."""
        return _mean(self.per_seed)

    @property
    def base_mean(self) -> float:
        """The baseline arm's mean score over its runs on the same measure."""
        return _mean(self.base_per_seed)


def _mean(per_seed: dict[Any, float]) -> float:
    return float(np.mean(list(per_seed.values()))) if per_seed else math.nan


@dataclass
class Table:
    """Every (arm, measure) cell of a study, keyed (arm name, measure key), in measure then arm order."""

    baseline: str
    arms: list[str]
    measures: list[Measure]
    cells: dict[tuple[str, tuple[str, str]], Cell]
    family: int  # cells with a verdict: Holm's m
    min_effect: float

    def cell(self, arm: str, measure: Measure) -> Cell:
        return self.cells[(arm, measure.key)]

    def of_kind(self, kind: str) -> list[Measure]:
        return [m for m in self.measures if m.kind == kind]

    def row(self, arm: str) -> list[Cell]:
        """The arm's cells, one per measure."""
        return [self.cells[(arm, m.key)] for m in self.measures]


def distinct_runs(arm: Any) -> tuple[list[Any], str | None]:
    """The arm's runs with bit-identical evaluations counted once (a seed that never reached training
    gives the same model twice: one draw, not two), and a note naming the copies."""
    kept: list[Any] = []
    copies: list[str] = []
    for r in arm.runs:
        twin = next((k for k in kept if np.array_equal(k.result.per_image, r.result.per_image)), None)
        if twin is None:
            kept.append(r)
        else:
            copies.append(f"seed {r.seed} = seed {twin.seed}")
    if not copies:
        return kept, None
    note = "one model, not several: does the seed reach training, or does the model ignore its input?"
    return kept, f"bit-identical results counted once ({', '.join(copies)}): {note}"


def too_few_frames(measure: Measure) -> str | None:
    """The frames part of the withholding rule: a slice or condition of under MIN_FRAMES test frames."""
    if measure.frames is None or measure.frames >= MIN_FRAMES:
        return None
    return f"{measure.frames} test frame(s), under {MIN_FRAMES}: too few to say anything"


def _judged(base_runs: Sequence[Any], arm_runs: Sequence[Any], measure: Measure, raw: dict) -> ArmTest:
    """The arm test withheld as the rule says: judge() for a run ignoring its input, then the frames."""
    test = judge(base_runs, arm_runs, lambda r: raw[id(r)])
    thin = too_few_frames(measure)
    if thin is None:
        return test
    return dataclasses.replace(test, reason="; ".join(x for x in (test.reason, thin) if x))


def judge_table(
    arms: Sequence[Any],
    base: Any,
    measures: Sequence[Measure],
    min_effect: float = MIN_EFFECT,
    notes: bool = True,
) -> Table:
    """Every arm against `base` on every measure: the arm test, the withholding rule, one Holm family over
    every cell with a verdict, the words after --min-effect (points), and (`notes`) the measures' notes."""
    keys = [m.key for m in measures]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"measures given twice: {', '.join(' '.join(k) for k in twice)}")
    kept = {a.name: distinct_runs(a)[0] for a in arms}
    cells: dict[tuple[str, tuple[str, str]], Cell] = {}
    for m in measures:
        raw = {id(r): m.score(r) for a in arms for r in a.runs}
        shown = {a.name: {r.seed: float(raw[id(r)]) for r in a.runs if raw[id(r)] is not None} for a in arms}
        for a in arms:
            cell = Cell(a.name, m, shown[a.name], shown[base.name])
            if a is not base:
                cell.test = _judged(kept[base.name], kept[a.name], m, raw)
            cells[(a.name, m.key)] = cell
    family = [c for c in cells.values() if c.test is not None and c.test.verdict_allowed]
    for c, p in zip(family, holm([c.test.p_value for c in family])):
        c.p_holm = p
    for c in cells.values():
        c.family = len(family)
        c.word = word(c.test, c.p_holm, min_effect)
        if notes and c.measure.notes is not None and c.test is not None and math.isfinite(c.test.delta):
            t = c.test  # without a verdict only what needs no p can speak (fragility: never-labelled)
            factor = c.p_holm / t.p_value if c.p_holm and len(family) > 1 and t.p_value > 0 else 1.0
            c.notes += c.measure.notes(kept[base.name], kept[c.arm], factor, min_effect)
    return Table(base.name, [a.name for a in arms], list(measures), cells, len(family), min_effect)
