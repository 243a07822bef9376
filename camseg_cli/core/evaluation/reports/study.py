"""The study's part of compare's report: the arm table (every seed's mIoU, the paired t over seeds,
Holm), the power lines, the notes, and a chart of every seed as a point beside its arm's mean and the
difference's interval."""

from __future__ import annotations

import math
from typing import Any

from camseg_cli.core.evaluation.compare.comparison import Comparison
from camseg_cli.core.evaluation.compare.verdicts import ARM_COLUMNS, arm_cells
from camseg_cli.core.evaluation.stats.study import MIN_SEEDS, POPULATION
from camseg_cli.core.files import pyplot

TEST_TEXT = (
    "The difference of an arm is the mean over the seeds both arms share of the per-seed difference in "
    "test mIoU, in mIoU points; its 95% CI and p come from a paired t-test on those differences "
    "(Δ ± t(n−1)·SD/√n), about **{population}**: each run's mIoU on this fixed test set already holds the "
    "images' noise, so nothing is resampled on top; it says nothing about new test images. Seeds only one "
    "arm has are listed and left out of the pairing (the arm means use every seed); arms sharing no seed "
    "are compared unpaired (Welch). A verdict needs {min_seeds} shared seeds; Holm adjusts p over the arms "
    "with a verdict. P(arm > base): the share of (arm run, baseline run) pairs the arm's run wins, with a "
    "conservative 95% interval."
)


def _row(cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def arm_markdown(c: Comparison) -> list[str]:
    """Markdown lines: the arm table, each arm's verdict, the power lines and the notes."""
    lines = [
        "## Arms: augmentation against baseline, over seeds",
        "",
        f"Runs equal in every setting but the seed form one arm. Baseline arm: **{c.baseline_arm.name}**. "
        + TEST_TEXT.format(population=POPULATION, min_seeds=MIN_SEEDS),
        "",
        _row(ARM_COLUMNS),
        "|---|---:|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for r in sorted(c.arms, key=lambda r: -r.arm.miou_mean):
        name = f"**{r.arm.name}**" if r.test is None else r.arm.name
        lines.append(_row([name, " ".join(map(str, r.arm.seeds)), *arm_cells(r)]))
    lines += [""] + [f"- **{r.arm.name}**: {r.verdict}" for r in c.arms if r.test is not None]
    if c.power:
        lines += [
            "",
            "Power (exact, noncentral t: 80%, 5% level, this study's SD of a per-seed difference):",
            "",
        ]
        lines += [f"- {line}" for line in c.power]
    if c.notes:
        lines += ["", *[f"> **Note:** {n}" for n in c.notes]]
    return lines + [""]


def plot_arms(c: Comparison) -> Any:
    """Every seed's mIoU as a point; each arm's mean as a bar mark and the baseline mean plus the arm's
    difference CI as a whisker, so overlap of seeds is not mistaken for the paired test's answer."""
    plt = pyplot()
    arms = sorted(c.arms, key=lambda r: r.arm.miou_mean)
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(arms) + 1.6))
    base = c.baseline_arm.miou_mean
    for y, r in enumerate(arms):
        a = r.arm
        ax.scatter(a.miou_per_seed, [y] * len(a.runs), color="#4c72b0", alpha=0.7, s=22, zorder=3)
        ax.plot([a.miou_mean] * 2, [y - 0.3, y + 0.3], color="black", lw=2, zorder=4)
    ax.axvline(base, color="#999999", ls="--", lw=1, label=f"baseline mean ({c.baseline_arm.name})")
    ax.set_yticks(range(len(arms)), [arm_label(r.arm.name, len(r.arm.runs)) for r in arms])
    ax.set_xlabel(
        f"{c.split} mIoU: dots = seeds, black = arm mean, red = baseline + 95% CI of the difference",
        fontsize=8,
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    left, right = arms_xlim(arms, base)
    ax.set_xlim(left, right)
    for y, r in enumerate(arms):
        if r.test is not None and r.test.tested:
            _whisker(ax, y, base + r.test.ci[0], base + r.test.ci[1])
    fig.tight_layout()
    return fig


def arms_xlim(arms: list[Any], base: float) -> tuple[float, float]:
    """x-limits holding every seed's point and every difference interval (baseline mean + CI), with a
    margin of 5% of the span; an interval never runs off the chart."""
    xs = [x for r in arms for x in r.arm.miou_per_seed]
    xs += [base + e for r in arms if r.test is not None and r.test.tested for e in r.test.ci]
    xs = [float(x) for x in xs if math.isfinite(x)] or [0.0, 1.0]
    lo, hi = min(xs), max(xs)
    pad = 0.05 * (hi - lo) or 0.02
    return lo - pad, hi + pad


def arm_label(name: str, seeds: int) -> str:
    """'all (2 seeds)'; an arm named by its settings, 'all (batch_size=4)': 'all, batch_size=4 (1 seed)'."""
    if name.endswith(")") and " (" in name:
        head, _, inner = name[:-1].partition(" (")
        name = f"{head}, {inner}"
    return f"{name} ({seeds} seed{'s' if seeds != 1 else ''})"


def _whisker(ax: Any, y: float, lo: float, hi: float) -> None:
    """The difference's CI as a red line (arms_xlim keeps it on the axis)."""
    ax.plot([lo, hi], [y, y], color="#c44e52", lw=1.5, zorder=2)
