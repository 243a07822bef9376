"""The study's test: an arm (all seeds of one configuration) against a baseline arm, over seeds.

One trained model is one draw: a second seed moves CamVid mIoU by 1-2 points, as much as most
augmentations do. The question a study answers is "on these test images, would new training seeds
of the arm beat new seeds of the baseline?". Each run's mIoU on the fixed test set already holds
the test images' noise and the seed x image interaction, so the per-seed differences over the seeds
both arms share carry every source of noise that question has, and the paired t-test on them
(delta +- t(n-1) * sd / sqrt(n)) is exact when the differences are normal: in simulated studies
(tests/test_study_calibration.py) its false-positive rate stays at the nominal 5% with heavy-tailed
seed effects, seed x image interaction, 2 to 5 seeds, 20 to 233 images and unequal arms. Resampling
the test images on top would count their noise twice. It says nothing about new test images (new
drives): CamVid's test split holds a handful of drives, too few for that claim.

Seeds only one arm has are listed and left out of the pairing; with no shared seed the arms are
compared unpaired (Welch). The block bootstrap over images stays for a checkpoint against a
checkpoint (compare.paired_bootstrap), where both models are fixed.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LEVEL = 0.95
MIN_SEEDS = 3  # shared seeds a verdict needs: at 2 (df 1) the t interval is about +-6 seed SDs wide
POPULATION = "these test images, new training seeds"

Seed = Hashable  # an int, or None for a run that recorded no seed (never paired)


@dataclass(frozen=True)
class ArmTest:
    """Arm minus baseline arm in mIoU (fractions, not points), and the test behind the verdict."""

    delta: float  # mean per-seed difference over the shared seeds (Welch / no test: difference of means)
    ci: tuple[float, float]
    p_value: float  # NaN when no test could be run (then `reason` says why)
    kind: str  # "paired t", "Welch t" or "none"
    n: int = 0  # seeds behind the test: shared seeds (paired), the smaller arm's (unpaired)
    seeds_paired: list = field(default_factory=list)
    seeds_unpaired: list = field(default_factory=list)  # seeds only one arm has (or unknown: None)
    df: float = math.nan
    sd: float = math.nan  # SD of one per-seed difference (Welch: of a difference of two independent runs)
    reason: str | None = None  # why there is no p-value, or why there is no verdict
    prob_improvement: float = math.nan  # share of (arm run, baseline run) pairs the arm's run wins
    prob_improvement_ci: tuple[float, float] = (math.nan, math.nan)
    level: float = LEVEL
    withheld: bool = False  # judgement.withheld: a run of either arm ignores its input (then `reason`)

    @property
    def tested(self) -> bool:
        return math.isfinite(self.p_value)

    @property
    def verdict_allowed(self) -> bool:
        """Enough seeds for an arm-level verdict (and a place in the Holm family)."""
        return self.tested and self.reason is None

    @property
    def significant(self) -> bool:
        return self.tested and self.p_value < 1 - self.level - 1e-12

    @property
    def description(self) -> str:
        """What was run, in words, for the terminal, report.md and JSON."""
        if self.kind == "paired t":
            return f"paired t over {len(self.seeds_paired)} shared seeds (about {POPULATION})"
        if self.kind == "Welch t":
            return f"Welch t, unpaired: the arms share no seed (about {POPULATION})"
        return "no test: " + (self.reason or "not enough seeds")

    def p_text(self, p: float | None = None, label: str = "p") -> str:
        p = self.p_value if p is None else p
        if p is None or not math.isfinite(p):
            return "—"
        eq = f"{label}=" if label else ""
        return f"{label} < 0.001".strip() if p < 0.001 else f"{eq}{p:.3f}"


def _t_ppf(q: float, df: float) -> float:
    from scipy.special import stdtrit  # scipy.special loads in 0.2 s; scipy.stats takes longer

    return float(stdtrit(df, q))


def t_rows(mean: np.ndarray, se: np.ndarray, df: np.ndarray | float, level: float = LEVEL) -> tuple:
    """(lo, hi, p) of a two-sided t test of each row's `mean` with standard error `se` and `df` degrees
    of freedom: vectorised, so a simulation of thousands of studies runs the product's own arithmetic."""
    from scipy.special import stdtr, stdtrit

    mean, se = np.asarray(mean, dtype=np.float64), np.asarray(se, dtype=np.float64)
    half = stdtrit(df, 1 - (1 - level) / 2) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.minimum(1.0, 2 * stdtr(df, -np.abs(mean / se)))
    return mean - half, mean + half, p


def paired_rows(d: np.ndarray, level: float = LEVEL) -> tuple:
    """Paired t over the last axis of per-seed differences d (..., n): (mean, lo, hi, p, sd)."""
    n = d.shape[-1]
    mean, sd = d.mean(-1), d.std(-1, ddof=1)
    return (mean, *t_rows(mean, sd / math.sqrt(n), n - 1, level), sd)


def welch_rows(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> tuple:
    """Welch t of a - b over the last axes (..., na) and (..., nb): (mean, lo, hi, p, df)."""
    na, nb = a.shape[-1], b.shape[-1]
    va, vb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))  # Welch-Satterthwaite
    mean = a.mean(-1) - b.mean(-1)
    return (mean, *t_rows(mean, np.sqrt(va + vb), df, level), df)


def prob_improvement(base: Sequence[float], arm: Sequence[float], level: float = LEVEL) -> tuple:
    """P(arm run > baseline run) over all (arm seed, baseline seed) pairs, ties counting one half
    (rliable's probability of improvement, Agarwal et al. 2021), with a Wilson-type interval whose
    variance is the Mann-Whitney maximum A(1-A)/min(m, n) (Birnbaum and Klose 1957): conservative,
    never zero width at 3 seeds (a bootstrap over 3 seeds collapses to [1, 1] when every pair wins)."""
    if not arm or not base:
        return math.nan, (math.nan, math.nan)
    pi = sum((x > y) + 0.5 * (x == y) for x in arm for y in base) / (len(arm) * len(base))
    n, z = min(len(arm), len(base)), _t_ppf(1 - (1 - level) / 2, 1e9)  # the normal quantile
    centre = (pi + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(pi * (1 - pi) / n + z * z / (4 * n * n))
    return pi, (max(0.0, centre - half), min(1.0, centre + half))


def _key(s: Seed) -> tuple:
    return (s is None, str(type(s)), s if s is not None else 0)


def arm_test(
    base: Mapping[Seed, float],
    arm: Mapping[Seed, float],
    level: float = LEVEL,
    min_seeds: int = MIN_SEEDS,
) -> ArmTest:
    """Test `arm` against `base`, each {seed: score on the test set} (mIoU, or any per-run score):
    a paired t over the seeds both have, Welch when they share none, no test with one seed a side."""
    undefined = sorted({s for d in (base, arm) for s, v in d.items() if not math.isfinite(v)}, key=_key)
    base = {s: float(v) for s, v in base.items() if math.isfinite(v)}
    arm = {s: float(v) for s, v in arm.items() if math.isfinite(v)}
    shared = sorted((s for s in base.keys() & arm.keys() if s is not None), key=_key)
    only = sorted(set(base) ^ set(arm) | ({None} & (set(base) | set(arm))), key=_key)
    pi, pi_ci = prob_improvement(list(base.values()), list(arm.values()), level)
    common = {"seeds_paired": shared, "seeds_unpaired": only, "prob_improvement": pi,
              "prob_improvement_ci": pi_ci, "level": level}  # fmt: skip
    nan2 = (math.nan, math.nan)
    if not base or not arm:
        why = "no score" if not undefined else f"mIoU undefined (no labelled pixel) for seeds {undefined}"
        return ArmTest(math.nan, nan2, math.nan, "none", 0, reason=why, **common)
    if shared:
        d = np.array([arm[s] - base[s] for s in shared])
        delta, n = float(d.mean()), len(d)
        if n < 2:
            why = f"one shared seed: seed noise cannot be measured; a verdict needs {min_seeds}"
            return ArmTest(delta, nan2, math.nan, "none", n, reason=why, **common)
        _, lo, hi, p, sd = (float(x) for x in paired_rows(d, level))
        if sd == 0:
            why = "every seed gave the same difference (SD 0): do the seeds reach training?"
            return ArmTest(delta, nan2, math.nan, "none", n, df=n - 1, sd=sd, reason=why, **common)
        ci = (lo, hi)
        why = None if n >= min_seeds else f"{n} shared seeds: a verdict needs {min_seeds}"
        return ArmTest(delta, ci, p, "paired t", n, df=n - 1, sd=sd, reason=why, **common)
    a, b = np.array(list(arm.values())), np.array(list(base.values()))
    delta = float(a.mean() - b.mean())
    small = min(len(a), len(b))
    if small < 2:
        why = f"one seed in an arm: seed noise cannot be measured; a verdict needs {min_seeds} per arm"
        return ArmTest(delta, nan2, math.nan, "none", small, reason=why, **common)
    if a.var() + b.var() == 0:
        why = "every run of both arms scored the same (SD 0): do the seeds reach training?"
        return ArmTest(delta, nan2, math.nan, "none", small, reason=why, **common)
    _, lo, hi, p, df = (float(x) for x in welch_rows(a, b, level))
    ci = (lo, hi)
    sd = math.sqrt(a.var(ddof=1) + b.var(ddof=1))
    why = None if small >= min_seeds else f"{small} seeds in the smaller arm: a verdict needs {min_seeds}"
    return ArmTest(delta, ci, p, "Welch t", small, df=df, sd=sd, reason=why, **common)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1); None or NaN is no member of the
    family and comes back None."""
    p = np.array([math.nan if v is None else v for v in p_values], dtype=np.float64)
    ok = np.flatnonzero(~np.isnan(p))
    out: list[float | None] = [None] * len(p)
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def decide(allowed: bool, delta: float, ci: tuple[float, float], significant: bool, min_effect: float) -> str:
    """The one verdict rule, for any test of a difference in mIoU (fractions): 'no verdict' unless
    `allowed`; 'negligible' when the whole CI lies within +-`min_effect` points; 'better'/'worse' when
    `significant`; else 'within noise'."""
    if not allowed:
        return "no verdict"
    lo, hi = ci
    if -min_effect / 100 <= lo and hi <= min_effect / 100:
        return "negligible"
    if significant:
        return "better" if delta > 0 else "worse"
    return "within noise"


def decision(test: ArmTest, p_adjusted: float | None, min_effect: float) -> str:
    """The verdict's kind for an arm test: 'better', 'worse', 'negligible', 'within noise' or 'no verdict';
    `p_adjusted` is the p the verdict uses (Holm's with several arms), `min_effect` in points."""
    p = test.p_value if p_adjusted is None else p_adjusted
    return decide(test.verdict_allowed, test.delta, test.ci, p < 1 - test.level - 1e-12, min_effect)
