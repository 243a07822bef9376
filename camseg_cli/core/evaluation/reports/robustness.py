"""The robustness table of a comparison as text (console and report.md), CSV and robustness.png."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.compare.shift_table import RobustComparison
from camseg_cli.core.files import fmt_number, pyplot, save_figure, write_csv, write_json

TRAINED_MARK = "†"  # the arm trained on this family: not a fair test of robustness to it
WORDS = {"helps": "helps", "hurts": "hurts", "negligible": "negligible", "within noise": "~ noise",
         "not tested": "untested"}  # fmt: skip


def cell_text(rc: RobustComparison, arm: str, column: str) -> str:
    """'+1.2 helps', '-8.0 hurts', '+0.3 ~ noise' (points against the baseline arm); the baseline's mean."""
    cell = rc.cells[(arm, column)]
    mark = f" {TRAINED_MARK}" if cell.trained else ""
    if cell.test is None:
        return f"{fmt_number(cell.mean)}{mark}"
    return f"{100 * cell.test.delta:+.1f} {WORDS[cell.word]}{mark}"


def table_rows(rc: RobustComparison) -> tuple[list[str], list[list[str]]]:
    """Header and a row per arm (baseline first); columns: clean, families, suite, slices."""
    header = ["arm", *(c.name for c in rc.columns)]
    order = [rc.baseline, *(a for a in rc.arms if a != rc.baseline)]
    return header, [[a, *(cell_text(rc, a, c.name) for c in rc.columns)] for a in order]


def legend(rc: RobustComparison) -> list[str]:
    """What the cells mean, in two sentences, and the notes."""
    lines = [
        f"Baseline row: its mean mIoU over seeds. Other rows: the difference to {rc.baseline} in mIoU points "
        f"(mean over seeds), with the seed-aware arm test's verdict after one Holm adjustment over all "
        f"{rc.tests} tests of this table (clean, every family, the suite and every slice).",
        f"A family column pools every frame under its corruptions at severities "
        f"{', '.join(map(str, rc.severities)) or '—'} (corruption seed {rc.corrupt_seed}); "
        f"{TRAINED_MARK} = the arm trained on this family (an augmentation of the same kind): not a test of "
        "robustness to an unseen shift.",
    ]
    effects = {c.min_effect for c in rc.cells.values()}
    if effects:
        lines.append(
            f"Words: helps/hurts = significant after Holm; negligible = the whole 95% interval within "
            f"±{max(effects):g} points (--min-effect); ~ noise = neither; not tested = no verdict allowed."
        )
    return lines + [f"note: {n}" for n in rc.notes]


def robust_markdown(rc: RobustComparison) -> list[str]:
    """The report.md section: the table, its legend, the picture."""
    header, rows = table_rows(rc)
    lines = ["## Under shift: clean, corruption families and slices", ""]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", *legend(rc), ""]
    return lines


def cells_frame(rc: RobustComparison) -> Any:
    """robustness.csv: one row per (arm, column) with every number of the cell."""
    import pandas as pd

    rows = []
    for cell in rc.cells.values():
        row = cell.to_json()
        ci = row.pop("delta_ci") or [math.nan, math.nan]
        per_seed = row.pop("per_seed")
        rows.append(
            row
            | {
                "delta_lo": ci[0],
                "delta_hi": ci[1],
                "per_seed": " ".join(f"{v:.4f}" for v in per_seed.values()),
            }
        )
    return pd.DataFrame(rows)


def plot_arms_under_shift(rc: RobustComparison) -> Any:
    """Per family: mIoU against severity (0 = clean), a line per arm (mean over seeds), seed range as band."""
    plt = pyplot()
    fams = list(dict.fromkeys(f for arm in rc.curves.values() for f in arm))
    fig, axes = plt.subplots(
        1, max(1, len(fams)), figsize=(3.6 * max(1, len(fams)), 3.4), squeeze=False, sharey=True
    )
    for ax, fam in zip(axes[0], fams):
        for arm in rc.arms:
            curve = rc.curves[arm].get(fam, {})
            xs = sorted(curve)
            per = [np.asarray(curve[x], dtype=np.float64) for x in xs]
            mean = [float(np.mean(v)) for v in per]
            (line,) = ax.plot(xs, mean, marker="o", ms=3, label=arm)
            if any(len(v) > 1 for v in per):
                ax.fill_between(
                    xs, [v.min() for v in per], [v.max() for v in per], color=line.get_color(), alpha=0.2
                )
        ax.set_title(fam, fontsize=9)
        ax.set_xticks(sorted({x for arm in rc.curves.values() for x in arm.get(fam, {})}))
        ax.set_xlabel("severity (0 = clean)", fontsize=8)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("mIoU (pooled over the family)")
    fig.suptitle("arms under corruption: mean over seeds, band = seed range", fontsize=9)
    fig.tight_layout()
    return fig


def write_robust(rc: RobustComparison, out: Path | str) -> list[Path]:
    """out/compare/robustness.csv, robustness.json and (with corruptions) robustness.png."""
    dest = Path(out) / "compare"
    written = [
        write_csv(dest / "robustness.csv", cells_frame(rc)),
        write_json(dest / "robustness.json", rc.to_json()),
    ]
    if any(rc.curves[a] for a in rc.arms):
        written.append(save_figure(dest / "robustness.png", plot_arms_under_shift(rc)))
    return written
