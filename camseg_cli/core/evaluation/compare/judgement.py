"""One judgement for every cell of a study: an arm against the baseline arm on one measure.

A measure (clean mIoU, a corruption family, the suite, a slice, a dataset condition) is a function of a run
that yields its score; `judge` turns the two arms' per-seed scores into the study's arm test and applies the
one withholding rule: no verdict about a run that ignores its input (dependence.py). `word` is the one
verdict word, honouring --min-effect. cells.judge_table is their one caller: verdicts.py (clean arms),
conditions.py and shift.py read their rows from its table, so no path can skip the rule or drift in its
words.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from camseg_cli.core.evaluation.stats.study import ArmTest, arm_test, decision


def ignoring(runs: Sequence[Any]) -> list[str]:
    """Names of the runs (once each, in order) whose evaluation is flagged as ignoring its input."""
    names = []
    for r in runs:
        dep = r.result.dependence
        if dep is not None and dep.flagged and r.name not in names:
            names.append(r.name)
    return names


def why_withheld(names: Sequence[str]) -> str:
    """'run blind ignores its input': the reason a withheld test gives."""
    names = list(dict.fromkeys(names))
    verb = "ignores its input" if len(names) == 1 else "ignore their input"
    return f"run{'s' if len(names) > 1 else ''} {', '.join(names)} {verb}"


def withheld(test: ArmTest, names: Sequence[str]) -> ArmTest:
    """The test with no p-value, interval or SD (so no verdict and no place in Holm's family), saying why;
    the observed difference stays."""
    nan = math.nan
    return dataclasses.replace(
        test, ci=(nan, nan), p_value=nan, sd=nan, reason=why_withheld(names), withheld=True
    )


def judge(base_runs: Sequence[Any], arm_runs: Sequence[Any], score: Callable[[Any], float | None]) -> ArmTest:
    """`score` of each run of both arms ({seed: score}; None: the run has no score, left out) through the
    study's arm test, withheld when a run of either arm ignores its input (scored or not)."""

    def per_seed(runs: Sequence[Any]) -> dict[Any, float]:
        return {r.seed: float(v) for r in runs if (v := score(r)) is not None}

    test = arm_test(per_seed(base_runs), per_seed(arm_runs))
    bad = ignoring([*base_runs, *arm_runs])
    return withheld(test, bad) if bad else test


# decision()'s kinds in a robustness cell's words (kept as they were: JSON readers match on them)
CELL_WORDS = {"better": "helps", "worse": "hurts", "negligible": "negligible", "within noise": "within noise",
              "no verdict": "not tested"}  # fmt: skip


def word(test: ArmTest | None, p_adjusted: float | None, min_effect: float) -> str:
    """A cell's verdict word: 'baseline' (no test), else CELL_WORDS of study.decision with the p that the
    verdict uses (Holm's over the table) and --min-effect in points."""
    if test is None:
        return "baseline"
    if p_adjusted is not None and not math.isfinite(p_adjusted):
        return "not tested"  # left out of Holm's family
    return CELL_WORDS[decision(test, p_adjusted, min_effect)]


def withhold_verdicts(comparison: Any) -> list[str]:
    """compare's run-against-run rows (checkpoint against checkpoint, a bootstrap over images): no verdict
    that involves a run that ignores its input (p-value and interval set to null, the verdict says why).
    Every arm test (clean, conditions, robustness cells) is withheld where it is made, by
    judgement.judge. Returns one warning per such run."""
    flagged = ignoring(comparison.runs)
    frame = comparison.results
    for i, row in frame.iterrows():
        bad = [n for n in (row["vs_run"], row["run"]) if n in flagged]
        if bad and row["run"] != row["vs_run"]:
            frame.loc[i, ["p_value", "delta_lo", "delta_hi"]] = math.nan
            frame.loc[i, "p_text"] = "no test"
            frame.loc[i, "verdict"] = "no verdict: " + why_withheld(bad)
    deps = {r.name: r.result.dependence for r in comparison.runs}
    return [deps[name].warning(name) for name in flagged]
