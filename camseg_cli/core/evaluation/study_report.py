"""The study's part of compare's report: the arm table (every seed's mIoU, the seed-aware test, Holm),
the power lines, the notes, and a chart of every seed as a point beside its arm's mean and interval."""

from __future__ import annotations

import math
from typing import Any

from camseg_cli.core.evaluation.arms import arm_cells
from camseg_cli.core.evaluation.compare import Comparison
from camseg_cli.core.files import pyplot

ARM_COLUMNS = ("arm", "seeds", "mIoU per seed", "mean", "SD", "Δ vs baseline", "Δ 95% CI", "p", "Holm p")


def _row(cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def arm_markdown(c: Comparison) -> list[str]:
    """Markdown lines: the arm table, each arm's verdict, the power lines and the notes."""
    lines = [
        "## Arms: augmentation against baseline, over seeds",
        "",
        f"Runs equal in every setting but the seed form one arm. Baseline arm: **{c.baseline_arm.name}**. "
        "Each difference counts seed noise (per-seed differences, paired by seed, with a Student t "
        "small-sample correction) and test-image noise (blocks of consecutive frames resampled, the "
        "same images for every run); CI and p come from the same draws; Holm adjusts p over the arms.",
        "",
        _row(ARM_COLUMNS),
        "|---|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in sorted(c.arms, key=lambda r: -r.arm.miou_mean):
        name = f"**{r.arm.name}**" if r.test is None else r.arm.name
        lines.append(_row([name, " ".join(map(str, r.arm.seeds)), *arm_cells(r)]))
    lines += [""] + [f"- **{r.arm.name}**: {r.verdict}" for r in c.arms if r.test is not None]
    if c.power:
        lines += ["", "Power (80%, 5% level, this study's seed SD and image noise):", ""]
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
        if r.test is not None and r.test.test.tested:
            lo, hi = (base + v for v in r.test.test.ci)
            ax.plot([lo, hi], [y, y], color="#c44e52", lw=1.5, zorder=2)
    ax.axvline(base, color="#999999", ls="--", lw=1, label=f"baseline mean ({c.baseline_arm.name})")
    ax.set_yticks(range(len(arms)), [f"{r.arm.name} ({len(r.arm.runs)} seeds)" for r in arms])
    ax.set_xlabel(
        f"{c.split} mIoU: dots = seeds, black = arm mean, red = baseline + 95% CI of the difference"
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    lo_all = min(min(r.arm.miou_per_seed) for r in arms)
    ax.set_xlim(max(0.0, lo_all - 0.05) if math.isfinite(lo_all) else 0.0, None)
    fig.tight_layout()
    return fig
