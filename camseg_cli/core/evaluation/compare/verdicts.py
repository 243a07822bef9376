"""Verdicts of a study: every arm against the baseline arm on the clean split, in numbers and in words.

The numbers are the clean cells of the study's one table (cells.judge_table): the arm test on each
run's test-set mIoU (a paired t over the seeds both arms share, about these test images and new training
seeds), withheld by the table's one rule, Holm's p over every cell of the table that carries a verdict
(the clean arms, and the dataset conditions or the cells under shift when there are any), and
fragility.py's notes on when one test image or one class decides a verdict; study_power.py says how
large a difference the seeds could find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from camseg_cli.core.evaluation.compare.arms import Arm
from camseg_cli.core.evaluation.compare.cells import MIN_EFFECT, Cell, Table, distinct_runs, judge_table
from camseg_cli.core.evaluation.compare.measures import study_measures
from camseg_cli.core.evaluation.stats.power import POWER, detectable, seeds_needed
from camseg_cli.core.evaluation.stats.study import MIN_SEEDS, POPULATION, ArmTest, decision
from camseg_cli.core.files import fmt_number

ARM_COLUMNS = (
    "arm", "seeds", "mIoU per seed", "mean", "SD", "Δ points", "Δ 95% CI", "p", "Holm p", "P(arm > base)",
    "test",
)  # fmt: skip


@dataclass
class ArmResult:
    """An arm against the baseline arm: the test, Holm's p, notes, and what it means in words."""

    arm: Arm
    test: ArmTest | None  # None for the baseline arm itself
    p_holm: float | None = None  # None: no verdict, so no member of the Holm family
    verdict: str = "baseline"
    notes: list[str] = field(default_factory=list)
    family: int = 0  # size of the Holm family p_holm belongs to: every cell of the table with a verdict
    cells: list[Cell] = field(default_factory=list)  # the arm's row of the table: one cell per measure


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _seeds(seeds: Sequence[Any]) -> str:
    return ", ".join("unknown" if s is None else str(s) for s in seeds)


def arm_verdict(res: ArmResult, base: Arm, min_effect: float, family: int, members: str = "arms") -> str:
    """One sentence a person can act on, from the (Holm-adjusted) test; `members` names what the Holm
    family of `family` tests holds."""
    t = res.test
    assert t is not None
    delta = f"{_points(t.delta)} mIoU points vs {base.name}"
    ci = ""
    if t.tested:
        ci = f"95% CI {_points(t.ci[0])} to {_points(t.ci[1])}, {t.p_text()}"
        if family > 1 and res.p_holm is not None:
            ci += ", " + t.p_text(res.p_holm, "Holm p")
    extra = "".join(f"; {n}" for n in res.notes)
    if t.seeds_unpaired:
        extra = f"; seeds {_seeds(t.seeds_unpaired)} have no partner, left out of the pairing" + extra
    if t.withheld:
        return f"no verdict ({t.reason}): {delta}{extra}"
    if not t.verdict_allowed:
        if t.n <= 1 and math.isfinite(t.delta):
            return (
                f"one seed, so seed noise cannot be separated: {delta} describes these checkpoints, "
                f"not the augmentation — a verdict needs {MIN_SEEDS} seeds in both arms{extra}"
            )
        shown = f"{delta} ({ci})" if ci else delta
        return f"no verdict ({t.reason}): {shown}{extra}"
    kind = decision(t, res.p_holm if family > 1 else None, min_effect)
    how = f"{t.description}{extra}"
    if kind == "negligible":
        return f"negligible: {delta} ({ci}), the whole interval within ±{min_effect:g} points; {how}"
    if kind in ("better", "worse"):
        return f"{kind} than {base.name} by {abs(100 * t.delta):.1f} mIoU points ({ci}); {how}"
    if t.significant:
        return f"within noise after Holm's correction for {family} {members}: {delta} ({ci}); {how}"
    return f"within noise: {delta} ({ci} includes 0); {how}"


def judge_arms(arms: Sequence[Arm], base: Arm, min_effect: float = MIN_EFFECT) -> list[ArmResult]:
    """Every arm against `base` on every measure of the study (measures.study_measures) in one table, read
    as the clean arms' results: the paired t over shared seeds, Holm over the whole table, notes on
    fragile verdicts, the verdicts in words."""
    return arm_results(judge_table(arms, base, study_measures(base), min_effect), arms, base)


def arm_results(table: Table, arms: Sequence[Arm], base: Arm) -> list[ArmResult]:
    """The clean cells of `table` as one ArmResult per arm, with the copies note and the verdict."""
    (clean,) = table.of_kind("clean")
    kinds = {c.measure.kind for c in table.cells.values() if c.p_holm is not None}
    members = "arms" if kinds <= {"clean"} else "tests (every arm on every measure)"
    results = []
    for a in arms:
        cell = table.cell(a.name, clean)
        copies = distinct_runs(a)[1]
        res = ArmResult(a, cell.test, cell.p_holm, notes=[copies] if copies else [])
        res.notes += cell.notes
        res.family, res.cells = table.family, table.row(a.name)
        if cell.test is not None:
            res.verdict = arm_verdict(res, base, table.min_effect, table.family, members)
        results.append(res)
    return results


def power_lines(results: Sequence[ArmResult]) -> list[str]:
    """For each tested arm: the smallest difference its seeds find 80% of the time, and the shared
    seeds its observed difference would need (exact, noncentral t; same SD of a per-seed difference)."""
    lines = []
    for r in results:
        t = r.test
        if t is None or not t.tested or not math.isfinite(t.sd) or t.sd == 0:
            continue
        mde = detectable(t.sd, t.n)
        need = seeds_needed(t.delta, t.sd)
        needs = f"{need} shared seeds" if need else "more than 100 seeds per arm (or more test images)"
        lines.append(
            f"{r.arm.name}: with {t.n} seeds (SD of a per-seed difference {100 * t.sd:.1f} points) the "
            f"smallest difference found {100 * POWER:.0f}% of the time is {100 * mde:.1f} points; the "
            f"observed {_points(t.delta)} would need {needs}"
        )
    return lines


def method_cell(r: ArmResult) -> str:
    """What stands behind the arm's numbers, or how many seeds a verdict needs."""
    t = r.test
    if t is None:
        return "baseline"
    if t.verdict_allowed:
        return f"paired t, {t.n} seeds" if t.kind == "paired t" else "Welch t (no shared seed)"
    return f"no verdict: needs {MIN_SEEDS} shared seeds (has {len(t.seeds_paired)})"


def arm_cells(r: ArmResult) -> list[str]:
    """An arm's numbers as text, for the console table and report.md alike: mIoU per seed, mean, SD,
    and against the baseline Δ in points, its 95% CI, p, Holm's p, P(improvement), the test."""
    a, t = r.arm, r.test
    cells = [" ".join(fmt_number(v) for v in a.miou_per_seed), fmt_number(a.miou_mean), fmt_number(a.miou_sd)]
    if t is None:
        return [*cells, "—", "", "", "", "", method_cell(r)]
    ci = f"{_points(t.ci[0])} to {_points(t.ci[1])}" if t.tested else "—"
    lo, hi = t.prob_improvement_ci
    pi = f"{t.prob_improvement:.2f} ({lo:.2f}–{hi:.2f})" if math.isfinite(t.prob_improvement) else "—"
    holm_p = "—" if r.p_holm is None else t.p_text(r.p_holm, "")  # no verdict: not in the family
    return [*cells, _points(t.delta), ci, t.p_text(), holm_p, pi, method_cell(r)]


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def arms_json(results: Sequence[ArmResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        a, t = r.arm, r.test
        row: dict[str, Any] = {"arm": a.name, "aug": a.aug, "seeds": a.seeds, "miou_mean": a.miou_mean,
                               "miou_sd": a.miou_sd, "miou_per_seed": a.miou_per_seed}  # fmt: skip
        if t is None:
            row.update(delta_vs_baseline=None, delta_ci=None, p_value=None, p_holm=None, reason=None,
                       test=None, population=None, seeds_paired=None, seeds_unpaired=None,
                       prob_improvement=None, prob_improvement_ci=None, seed_aware=None)  # fmt: skip
        else:
            reason = t.reason if t.reason else None
            if t.tested and r.p_holm is None and reason is None:
                reason = "not in the Holm family"
            row.update(
                delta_vs_baseline=t.delta,
                delta_ci=list(t.ci) if t.tested else None,
                p_value=_finite(t.p_value),
                p_holm=_finite(r.p_holm),
                reason=reason,
                test=t.description,
                population=POPULATION,
                seeds_paired=list(t.seeds_paired),
                seeds_unpaired=list(t.seeds_unpaired),
                prob_improvement=_finite(t.prob_improvement),
                prob_improvement_ci=list(t.prob_improvement_ci),
                seed_aware=t.kind != "none",
            )
        row.update(verdict=r.verdict, notes=list(r.notes), holm_family=r.family)
        out.append(row)
    return out


def arms_frame(results: Sequence[ArmResult]) -> pd.DataFrame:
    """One row per arm (arms.csv): seeds, mean and SD of mIoU, each seed's, the test against the baseline."""
    rows = []
    for row in arms_json(results):
        ci = row.pop("delta_ci") or [math.nan, math.nan]
        pi = row.pop("prob_improvement_ci") or [math.nan, math.nan]
        rows.append(
            {
                **row,
                "seeds": " ".join(map(str, row["seeds"])),
                "seeds_paired": " ".join(map(str, row["seeds_paired"] or [])),
                "seeds_unpaired": " ".join(map(str, row["seeds_unpaired"] or [])),
                "miou_per_seed": " ".join(f"{v:.4f}" for v in row["miou_per_seed"]),
                "notes": " | ".join(row["notes"]),
                "delta_lo": ci[0],
                "delta_hi": ci[1],
                "prob_improvement_lo": pi[0],
                "prob_improvement_hi": pi[1],
            }
        )
    return pd.DataFrame(rows)
