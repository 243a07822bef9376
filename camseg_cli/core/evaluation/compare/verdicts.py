"""Verdicts of a study: every arm against the baseline arm, in numbers and in words.

Each arm is tested with judgement.judge (study.arm_test, withheld for a run that ignores its
input) on its runs' test-set mIoU (a paired t over the seeds both arms
share, about these test images and new training seeds); Holm's method adjusts the p-values of the arms
that get a verdict (at least MIN_SEEDS shared seeds); fragility.py says when one test image or one
class decides a verdict; study_power.py says how large a difference the seeds could find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from camseg_cli.core.evaluation.compare.arms import Arm
from camseg_cli.core.evaluation.compare.fragility import fragility_notes
from camseg_cli.core.evaluation.compare.judgement import judge
from camseg_cli.core.evaluation.stats.power import POWER, detectable, seeds_needed
from camseg_cli.core.evaluation.stats.study import MIN_SEEDS, POPULATION, ArmTest, decision, holm
from camseg_cli.core.files import fmt_number

MIN_EFFECT = 0.5  # mIoU points: a third of CamVid's 1-2 point seed SD; smaller gains change no decision
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


def distinct_runs(arm: Arm) -> tuple[list[Any], str | None]:
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


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _seeds(seeds: Sequence[Any]) -> str:
    return ", ".join("unknown" if s is None else str(s) for s in seeds)


def arm_verdict(res: ArmResult, base: Arm, min_effect: float, family: int) -> str:
    """One sentence a person can act on, from the (Holm-adjusted) test."""
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
        return f"within noise after Holm's correction for {family} arms: {delta} ({ci}); {how}"
    return f"within noise: {delta} ({ci} includes 0); {how}"


def _clean_miou(run: Any) -> float:
    """The clean measure: a run's mIoU on the whole split."""
    return float(run.result.scores.miou)


def judge_arms(arms: Sequence[Arm], base: Arm, min_effect: float = MIN_EFFECT) -> list[ArmResult]:
    """Every arm against `base` (paired t over shared seeds), Holm over the arms with a verdict, notes
    on fragile verdicts, and the verdicts in words."""
    first = base.runs[0].result
    names, ignore, classes = first.image_names, first.classes.ignore_index, first.classes.names
    distinct = {a.name: distinct_runs(a) for a in arms}
    kept = {name: runs for name, (runs, _) in distinct.items()}
    results = []
    for a in arms:
        copies = distinct[a.name][1]
        res = ArmResult(a, None, notes=[copies] if copies else [])
        if a is not base:
            res.test = judge(kept[base.name], kept[a.name], _clean_miou)
        results.append(res)
    family = [r for r in results if r.test is not None and r.test.verdict_allowed]
    for r, p in zip(family, holm([r.test.p_value for r in family])):
        r.p_holm = p
    mats = {a: {r.seed: r.result.per_image for r in kept[a]} for a in kept}
    for r in results:
        if r.test is None:
            continue
        if math.isfinite(r.test.delta):  # without a verdict only the never-labelled check can speak
            factor = r.p_holm / r.test.p_value if r.p_holm and len(family) > 1 and r.test.p_value > 0 else 1.0
            r.notes += fragility_notes(
                mats[base.name], mats[r.arm.name], names, classes, ignore, factor, min_effect
            )
        r.verdict = arm_verdict(r, base, min_effect, len(family))
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
        row.update(verdict=r.verdict, notes=list(r.notes))
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
