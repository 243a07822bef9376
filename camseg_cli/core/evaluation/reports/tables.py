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
CONDITION_COLUMNS = ("condition", "images", "arm", "baseline mIoU", "arm mIoU", "Δ points", "Δ 95% CI",
                     "p", "Holm p")  # fmt: skip


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
