"""Tables of a comparison as rows of strings (terminal and report.md) and as flat CSV rows made from the
JSON rows, so a CSV column and a JSON key are one name (docs/outputs.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from camseg_cli.core.files import fmt_number

# a JSON list that a CSV spells as two columns: "miou_ci" -> miou_lo, miou_hi; "ci" -> ci_lo, ci_hi
INTERVAL = "_ci"
CSV_NAMES = {"predicted_never_labelled": "never_labelled"}  # the CSV's older name for a JSON key

RANK_COLUMNS = (
    "rank", "run", "arch", "aug", "epochs", "mIoU", "95% CI", "pixel acc", "mean acc",
    "Δ points", "Δ 95% CI", "p", "s/epoch",
)  # fmt: skip
CELL_COLUMNS = ("arm", "measure", "kind", "frames", "seeds", "arm mean", "baseline mean", "Δ points",
                "Δ 95% CI", "p", "Holm p", "P(arm > base)", "verdict", "withheld")  # fmt: skip
CONDITION_COLUMNS = ("condition", "images", "arm", "baseline mIoU", "arm mIoU", "Δ points", "Δ 95% CI",
                     "p", "Holm p")  # fmt: skip


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def pts(x: float | None) -> str:
    """A difference in mIoU points, '+1.2'; '—' when there is none."""
    return "—" if x is None or x != x else f"{100 * x:+.1f}"


def interval_names(key: str) -> tuple[str, str]:
    """The CSV columns of a JSON interval: delta_ci -> (delta_lo, delta_hi); ci -> (ci_lo, ci_hi)."""
    stem = key[: -len(INTERVAL)] if key.endswith(INTERVAL) else key
    return f"{stem}_lo", f"{stem}_hi"


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON row as a CSV row: intervals split in two columns, other lists and dicts joined by spaces."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "ci" or key.endswith(INTERVAL):
            lo, hi = value if value else (math.nan, math.nan)
            out |= dict(zip(interval_names(key), (lo, hi)))
        elif isinstance(value, dict):
            out[key] = " ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value.values())
        elif isinstance(value, list):
            out[CSV_NAMES.get(key, key)] = ", ".join(map(str, value))
        else:
            out[key] = value
    return out


def flat_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """JSON rows as one CSV table."""
    return pd.DataFrame([flat_row(r) for r in rows])


def ranking_rows(c: Any, names: dict[str, str] | None = None) -> list[list[str]]:
    """The ranking table (RANK_COLUMNS), one row per run best first; `names` shortens run names."""
    rows = []
    for i, r in enumerate(c.results.itertuples(), start=1):
        base = r.run == r.vs_run  # the baseline against itself: nothing to show
        rows.append(
            [
                str(i),
                (names or {}).get(r.run, r.run),
                r.arch,
                r.aug,
                f"{r.epochs}{' ↑' if r.still_improving else ''}",
                fmt_number(r.miou),
                f"{fmt_number(r.miou_lo)}–{fmt_number(r.miou_hi)}",
                fmt_number(r.pixel_acc),
                fmt_number(r.mean_acc),
                "—" if base else pts(r.delta_vs_baseline),
                "" if base else f"{pts(r.delta_lo)} to {pts(r.delta_hi)}",
                "" if base else r.p_text,
                fmt_number(r.epoch_seconds, 1),  # steady state: epoch 1 carries the start-up
            ]
        )
    return rows


def condition_rows(conditions: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The per-condition table (CONDITION_COLUMNS): one row per (condition, arm)."""
    rows = []
    for row in conditions:
        holm = "" if row["p_holm"] is None else fmt_number(row["p_holm"], 3)
        rows.append(
            [
                row["condition"],
                str(row["images"]),
                row["arm"],
                fmt_number(row["miou_baseline"]),
                fmt_number(row["miou_arm"]),
                pts(row["delta"]),
                f"{pts(row['ci'][0])} to {pts(row['ci'][1])}",
                fmt_number(row["p_value"], 3),
                holm,
            ]
        )
    return rows


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[str]) -> list[str]:
    """A Markdown table; the columns named in `left` align left, the others right."""
    align = "|" + "|".join("---" if c in left else "---:" for c in columns) + "|"
    return ["| " + " | ".join(columns) + " |", align, *("| " + " | ".join(map(str, r)) + " |" for r in rows)]


def condition_markdown(conditions: Sequence[dict[str, Any]], baseline: str) -> list[str]:
    """report.md's per-condition section; [] when the data recorded no conditions."""
    if not conditions:
        return []
    return [
        "## Per condition",
        "",
        f"Every arm against the baseline arm **{baseline}** on each condition's images alone (the arm test "
        "above, Holm over every (arm, condition) test with a verdict). Differences in mIoU points.",
        "",
        *markdown_table(CONDITION_COLUMNS, condition_rows(conditions), ("condition", "arm", "Δ 95% CI")),
        "",
    ]


# ------------------------------------------------------------------------------- the table of cells


def cell_row(cell: Any, baseline: str) -> dict[str, Any]:
    """THE row of one (arm, measure) cell (cells.Cell), read, never computed: cells.csv (through flat_row),
    --json's "cells" and report.md's cell table are all made of it. Fractions, not points; None where a
    number does not exist (the baseline's own cell, a withheld test)."""
    t = cell.test
    tested = t is not None and t.tested
    known = t is not None and math.isfinite(t.prob_improvement)
    return {
        "arm": cell.arm,
        "baseline": baseline,
        "measure": cell.measure.name,
        "kind": cell.measure.kind,
        "frames": cell.measure.frames,  # None: the whole split
        "seeds": None if t is None else t.n,
        "mean": _finite(cell.mean),
        "baseline_mean": _finite(cell.base_mean),
        "per_seed": {str(k): v for k, v in cell.per_seed.items()},
        "baseline_per_seed": {str(k): v for k, v in cell.base_per_seed.items()},
        "delta": None if t is None else _finite(t.delta),
        "delta_ci": list(t.ci) if tested else None,
        "p_value": None if t is None else _finite(t.p_value),
        "p_holm": _finite(cell.p_holm),
        "holm_family": cell.family,
        "prob_improvement": None if t is None else _finite(t.prob_improvement),
        "prob_improvement_ci": list(t.prob_improvement_ci) if t is not None and known else None,
        "test": None if t is None else t.description,
        "verdict": cell.word,
        "reason": cell.withheld,  # why the cell carries no verdict (None: it does, or it is the baseline)
        "notes": list(cell.notes),
    }


def cell_rows(table: Any) -> list[dict[str, Any]]:
    """Every cell of a study's table (cells.Table), measure by measure, as cell_row's rows."""
    return [] if table is None else [cell_row(c, table.baseline) for c in table.cells.values()]


def p_cell(p: float | None) -> str:
    """A p-value as the cell table shows it: '0.012', '< 0.001', '—' when there is none."""
    return "—" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def cell_text_row(row: dict[str, Any]) -> list[str]:
    """One cell_row in CELL_COLUMNS, as text (report.md)."""
    ci, pi = row["delta_ci"], row["prob_improvement"]
    return [
        row["arm"],
        row["measure"],
        row["kind"],
        "all" if row["frames"] is None else str(row["frames"]),
        "" if row["seeds"] is None else str(row["seeds"]),
        fmt_number(row["mean"]),
        fmt_number(row["baseline_mean"]),
        pts(row["delta"]) if row["arm"] != row["baseline"] else "—",
        f"{pts(ci[0])} to {pts(ci[1])}" if ci else "—",
        p_cell(row["p_value"]),
        p_cell(row["p_holm"]),
        "—" if pi is None else f"{pi:.2f}",
        row["verdict"],
        row["reason"] or "",
    ]


def cells_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """report.md's section of every cell (cell_rows), one line each; [] without cells."""
    if not rows:
        return []
    family = max(r["holm_family"] for r in rows)
    return [
        "## Every cell: one judgement per (arm, measure)",
        "",
        f"Each arm against the baseline arm **{rows[0]['baseline']}** on every measure of the study: one "
        f"arm test, one withholding rule, one Holm family over the {family} cells with a verdict. Means are "
        "the measure's score (mIoU), differences in its points. cells.csv holds every number of this table.",
        "",
        *markdown_table(CELL_COLUMNS, [cell_text_row(r) for r in rows], ("arm", "measure", "kind", "Δ 95% CI",
                                                                         "verdict", "withheld")),
        "",
    ]  # fmt: skip
