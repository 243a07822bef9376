"""Arms of a study: the runs whose training configuration is equal except for the seed.

compare groups its runs into arms, tests every arm against the baseline arm with both seed noise and
test-image noise (study.arm_test), adjusts the p-values of several arms with Holm's method, and says
in words what a user may conclude, including how large a difference the study could have seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from camseg_cli.core.choices import RUNTIME_FIELDS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.study import ArmTest, arm_test, holm
from camseg_cli.core.files import fmt_number

# Not part of what an arm is: the seed, the run's name, and how it ran (not what it computed).
NOT_THE_ARM = (*RUNTIME_FIELDS, "run", "seed", "deterministic")
MIN_EFFECT = 0.5  # mIoU points: a third of CamVid's 1-2 point seed SD; smaller gains change no decision
LEVEL = 0.95
POWER = 0.8


@dataclass
class Arm:
    """All seeds of one configuration. `runs` are compare's Run objects, sorted by seed."""

    name: str
    aug: str
    settings: dict[str, Any]
    runs: list[Any]

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def miou_per_seed(self) -> list[float]:
        return [float(r.result.scores.miou) for r in self.runs]

    @property
    def miou_mean(self) -> float:
        return float(np.mean(self.miou_per_seed))

    @property
    def miou_sd(self) -> float:
        v = self.miou_per_seed
        return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def _settings(run: Any) -> dict[str, Any]:
    config = run.config or {"arch": run.arch, "aug": run.aug, "epochs": run.epochs}
    return {k: v for k, v in sorted(config.items()) if k not in NOT_THE_ARM}


def _key(settings: dict[str, Any]) -> str:
    return repr(sorted(settings.items()))


def differing_settings(arms: Sequence[Arm]) -> list[str]:
    """Settings whose value is not the same in every arm (aug first), e.g. ['aug', 'epochs']."""
    keys = sorted({k for a in arms for k in a.settings})
    differ = [k for k in keys if len({repr(a.settings.get(k)) for a in arms}) > 1]
    return sorted(differ, key=lambda k: (k != "aug", k))


def group_arms(runs: Sequence[Any]) -> list[Arm]:
    """Runs with equal settings but for the seed form one arm, named by what sets it apart."""
    groups: dict[str, list[Any]] = {}
    for r in runs:
        groups.setdefault(_key(_settings(r)), []).append(r)
    arms, copies = [], []
    for members in groups.values():
        # A second checkpoint of one configuration and seed (a copy, or a retrain) cannot pair with
        # the first: it opens a copy of the arm, "aug #2", instead of being silently merged.
        layers: list[list[Any]] = []
        for r in sorted(members, key=lambda r: (r.seed is None, r.seed or 0, r.name)):
            layer = next((g for g in layers if all(x.seed != r.seed for x in g)), None)
            if layer is None:
                layers.append(layer := [])
            layer.append(r)
        for k, layer in enumerate(layers, start=1):
            arms.append(Arm("", layer[0].aug, _settings(layer[0]), layer))
            copies.append(k)
    differ = differing_settings(arms)
    for a, k in zip(arms, copies):
        extra = [f"{key}={a.settings.get(key)}" for key in differ if key != "aug"]
        a.name = a.aug + (f" ({', '.join(extra)})" if extra else "") + (f" #{k}" if k > 1 else "")
    return arms


def pick_baseline_arm(arms: Sequence[Arm], baseline: str | None) -> Arm:
    """--baseline by arm name or by the name of one of its runs; else the aug=none arm; else the first."""
    if baseline is not None:
        for a in arms:
            if baseline == a.name or any(baseline in (r.name, r.path.stem, str(r.path)) for r in a.runs):
                return a
        names = ", ".join(a.name for a in arms)
        raise CamsegError(f"--baseline {baseline!r} is no arm or run of this comparison (arms: {names})")
    return next((a for a in arms if a.aug == "none"), arms[0])


@dataclass
class ArmResult:
    """An arm against the baseline arm: the test, Holm's p, and what it means in words."""

    arm: Arm
    test: ArmTest | None  # None for the baseline arm itself
    p_holm: float = math.nan
    verdict: str = "baseline"


def _t_quantile(q: float, df: float) -> float:
    """Student t quantile (scipy, which albumentations already requires; scipy.special loads in 0.2 s)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def detectable(seed_sd: float, image_sd: float, seeds: int) -> float:
    """Smallest true difference (mIoU, not points) a paired study of `seeds` seeds per arm finds with
    80% power at the 5% level: (t_.975 + t_.80) x sqrt(seed_sd^2 / seeds + image_sd^2)."""
    if seeds < 2 or not math.isfinite(seed_sd):
        return math.nan
    df = seeds - 1
    factor = _t_quantile(1 - (1 - LEVEL) / 2, df) + _t_quantile(POWER, df)
    return factor * math.sqrt(seed_sd**2 / seeds + image_sd**2)


def seeds_needed(delta: float, seed_sd: float, image_sd: float, most: int = 100) -> int | None:
    """Fewest seeds per arm whose detectable difference is at most |delta|; None if over `most`."""
    for n in range(2, most + 1):
        if detectable(seed_sd, image_sd, n) <= abs(delta):
            return n
    return None


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def arm_verdict(res: ArmResult, base: Arm, min_effect: float, arms_tested: int, study_sd: float) -> str:
    """One sentence a person can act on, from the Holm-adjusted test."""
    t = res.test
    assert t is not None
    delta = f"{_points(t.delta)} mIoU points vs {base.name}"
    if not t.test.tested:
        return f"not tested (--bootstrap 0): {delta}"
    ci = f"95% CI {_points(t.test.ci[0])} to {_points(t.test.ci[1])}, {t.test.p_text()}"
    if arms_tested > 1:
        ci += ", " + t.test.p_text(res.p_holm, "Holm p")
    if not t.seed_aware:
        need = ""
        if math.isfinite(study_sd):
            one = 1.96 * math.sqrt(study_sd**2 + t.image_sd**2)
            need = f"; at the other arms' seed SD, one pair of runs must differ by {100 * one:.1f}+ points"
        return (
            f"one seed, so seed noise cannot be separated: {delta} ({ci}) describes these checkpoints, "
            f"not the augmentation — train more seeds{need}"
        )
    lo, hi = t.test.ci
    if -min_effect / 100 <= lo and hi <= min_effect / 100:
        return f"negligible: {delta} ({ci}), the whole interval within ±{min_effect:g} points"
    significant = t.test.significant and res.p_holm < 1 - LEVEL
    if significant:
        word = "better" if t.delta > 0 else "worse"
        by = f"{abs(100 * t.delta):.1f} mIoU points"
        return f"{word} than {base.name} by {by} ({ci}), over {t.seeds} seeds"
    if t.test.significant:
        return f"within noise after Holm's correction for {arms_tested} arms: {delta} ({ci})"
    return f"within noise: {delta} ({ci} includes 0)"


def judge_arms(
    arms: Sequence[Arm],
    base: Arm,
    reps: int = 1000,
    seed: int = 0,
    block: int | None = None,
    min_effect: float = MIN_EFFECT,
) -> list[ArmResult]:
    """Every arm against `base` (seed-aware, block bootstrap), Holm over the arms tested, verdicts."""
    names = base.runs[0].result.image_names
    ignore = base.runs[0].result.classes.ignore_index
    per_seed = {a.name: {r.seed: r.result.per_image for r in a.runs} for a in arms}
    results = []
    for a in arms:
        if a is base:
            results.append(ArmResult(a, None))
            continue
        test = arm_test(per_seed[base.name], per_seed[a.name], names, ignore, reps, seed, block)
        results.append(ArmResult(a, test))
    tested = [r for r in results if r.test is not None]
    raw = [r.test.test.p_value if r.test.test.tested else math.nan for r in tested]
    for r, p in zip(tested, holm(raw)):
        r.p_holm = p
    sds = [r.test.seed_sd for r in tested if r.test.seed_aware and math.isfinite(r.test.seed_sd)]
    study_sd = float(np.sqrt(np.mean(np.square(sds)))) if sds else math.nan
    for r in tested:
        r.verdict = arm_verdict(r, base, min_effect, len(tested), study_sd)
    return results


def power_lines(results: Sequence[ArmResult]) -> list[str]:
    """For each seed-aware arm: the smallest difference its seeds could detect, and the seeds its
    observed difference would need (80% power, 5% level, same seed SD and image noise)."""
    lines = []
    for r in results:
        t = r.test
        if t is None or not t.seed_aware or not math.isfinite(t.seed_sd):
            continue
        mde = detectable(t.seed_sd, t.image_sd, t.seeds)
        need = seeds_needed(t.delta, t.seed_sd, t.image_sd)
        needs = f"{need} seeds per arm" if need else "more than 100 seeds per arm (or more test images)"
        lines.append(
            f"{r.arm.name}: with {t.seeds} seeds (seed SD {100 * t.seed_sd:.1f} points) the smallest "
            f"difference found 80% of the time is {100 * mde:.1f} points; the observed "
            f"{_points(t.delta)} would need {needs}"
        )
    return lines


def arm_cells(r: ArmResult) -> list[str]:
    """An arm's numbers as text, for the console table and report.md alike: mIoU per seed, mean,
    SD, and against the baseline Δ, its 95% CI, p and Holm's p (blank for the baseline)."""
    a, t = r.arm, r.test
    cells = [" ".join(fmt_number(v) for v in a.miou_per_seed), fmt_number(a.miou_mean), fmt_number(a.miou_sd)]
    if t is None:
        return [*cells, "—", "", "", ""]
    ci = f"{fmt_number(t.test.ci[0], 4)} to {fmt_number(t.test.ci[1], 4)}"
    holm = fmt_number(r.p_holm, 3) if t.test.tested else ""
    return [*cells, f"{t.delta:+.4f}", ci, t.test.p_text(), holm]


def arms_json(results: Sequence[ArmResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        a, t = r.arm, r.test
        out.append(
            {
                "arm": a.name,
                "aug": a.aug,
                "seeds": a.seeds,
                "miou_mean": a.miou_mean,
                "miou_sd": a.miou_sd,
                "miou_per_seed": a.miou_per_seed,
                "delta_vs_baseline": None if t is None else t.delta,
                "delta_ci": None if t is None else list(t.test.ci),
                "p_value": None if t is None else t.test.p_value,
                "p_holm": None if t is None else r.p_holm,
                "verdict": r.verdict,
                "seed_aware": None if t is None else t.seed_aware,
            }
        )
    return out


def arms_frame(results: Sequence[ArmResult]) -> pd.DataFrame:
    """One row per arm (arms.csv): seeds, mean and SD of mIoU, each seed's, the test against the baseline."""
    rows = []
    for row in arms_json(results):
        ci = row.pop("delta_ci") or [math.nan, math.nan]
        rows.append(
            {
                **row,
                "seeds": " ".join(map(str, row["seeds"])),
                "miou_per_seed": " ".join(f"{v:.4f}" for v in row["miou_per_seed"]),
                "delta_lo": ci[0],
                "delta_hi": ci[1],
            }
        )
    return pd.DataFrame(rows)


def study_notes(split: str, arms: Sequence[Arm], runs: Sequence[Any]) -> list[str]:
    """What a reader must know before trusting the ranking."""
    notes = []
    if split == "val":
        notes.append(
            "compared on val, the split that chose each run's best epoch: optimistic for every run; "
            "compare on a held-out test split (or --split-by sequence) for numbers to report"
        )
    differ = [k for k in differing_settings(arms) if k != "aug"]
    if differ:
        notes.append(f"the arms differ in more than the augmentation: {', '.join(differ)}")
    still = [r.name for r in runs if r.still_improving]
    if still:
        notes.append(
            f"best epoch = last epoch (still improving, so training length matters too): {', '.join(still)}"
        )
    return notes
