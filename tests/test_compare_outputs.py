"""compare's outputs are one set: every CSV column is a key of the same table in --json and the other way
round, report.md's numbers are the JSON's, and per-condition results reach a CSV and report.md."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from camseg_cli.cli import app
from camseg_cli.core.evaluation.reports.tables import condition_markdown, flat_frame, interval_names
from tests.test_robustness_eval import study  # noqa: F401  (the fixture: 2 arms x 2 seeds)

runner = CliRunner()


def csv_names(row: dict) -> set[str]:
    """The CSV columns a JSON row becomes, by the one documented rule (docs/outputs.md)."""
    return set(flat_frame([row]).columns)


def md_table(report: str, first: str) -> list[dict[str, str]]:
    """The Markdown table of report.md whose header starts with `first`, as dicts (bold stripped)."""
    lines = report.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in ln.strip().strip("|").split("|")]
        rows.append(dict(zip(header, cells)))
    return rows


def shown(text: str, value: float | None, scale: float = 1.0, digits: int = 3) -> None:
    """A number as report.md shows it equals the JSON's value at the digits shown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        assert text in ("—", ""), text
        return
    if text.startswith("p < "):
        assert value < float(text[4:]) + 1e-12, (text, value)
        return
    got = float(re.sub(r"^p=", "", text))
    assert got == pytest.approx(scale * value, abs=0.5 * 10**-digits + 1e-9), (text, value)


@pytest.mark.slow
def test_every_csv_column_is_a_json_key_and_report_md_shows_the_json_numbers(study):  # noqa: F811
    root, data, paths = study
    out = root / "parity"
    args = ["compare", *map(str, paths.values()), "--out", str(out), "--bootstrap", "50", "--samples", "0"]
    args += ["--corrupt", "low_light", "--severity", "1", "--device", "cpu", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    dest = out / "compare"
    tables = {
        "results.csv": doc["runs"],
        "arms.csv": doc["arms"],
        "per_class.csv": doc["per_class"],
        "robustness.csv": doc["robustness"]["cells"],
    }
    for name, rows in tables.items():
        columns = set(pd.read_csv(dest / name).columns)
        for row in rows:
            assert csv_names(row) == columns, (name, csv_names(row) ^ columns)
    runs = {r["run"]: r for r in doc["runs"]}
    assert all({"fwiou", "epoch_seconds", "train_seconds"} <= set(r) for r in runs.values())
    csv = pd.read_csv(dest / "results.csv").set_index("run")
    for run, r in runs.items():
        assert csv.loc[run, "fwiou"] == pytest.approx(r["fwiou"])
        seconds = math.nan if r["epoch_seconds"] is None else r["epoch_seconds"]  # NaN: null in JSON
        assert csv.loc[run, "epoch_seconds"] == pytest.approx(seconds, nan_ok=True)

    report = (dest / "report.md").read_text()
    ranking = md_table(report, "rank")
    assert [r["run"] for r in ranking] == [r["run"] for r in doc["runs"]]  # one order, best first
    for row in ranking:
        r = runs[row["run"]]
        shown(row["mIoU"], r["miou"])
        lo, hi = row["95% CI"].split("–")
        shown(lo, r["miou_ci"][0])
        shown(hi, r["miou_ci"][1])
        if r["run"] != r["vs_run"]:
            shown(row["Δ points"], r["delta_vs_baseline"], 100, 1)
            assert row["p"] == r["p_text"]
            if r["p_value"] is not None and row["p"] not in ("no test",):
                shown(row["p"], r["p_value"])
    arms = {a["arm"]: a for a in doc["arms"]}
    table = md_table(report, "arm")
    assert {row["arm"] for row in table} == set(arms)
    for row in table:
        a = arms[row["arm"]]
        shown(row["mean"], a["miou_mean"])
        shown(row["SD"], a["miou_sd"])
        if a["test"] is not None:
            shown(row["Δ points"], a["delta_vs_baseline"], 100, 1)
            shown(row["p"], a["p_value"])
            shown(row["Holm p"].removeprefix("p="), a["p_holm"])


CONDITIONS = [
    {"condition": "night", "arm": "flip", "baseline": "none", "images": 3, "miou_baseline": 0.41,
     "miou_arm": 0.4375, "delta": 0.0275, "ci": [-0.01, 0.065], "p_value": 0.1234, "seeds": 3,
     "paired": True, "test": "paired t", "reason": "", "p_holm": 0.2468},
    {"condition": "fog", "arm": "flip", "baseline": "none", "images": 2, "miou_baseline": 0.5,
     "miou_arm": 0.48, "delta": -0.02, "ci": [-0.05, 0.01], "p_value": 0.3, "seeds": 2,
     "paired": True, "test": "paired t", "reason": "needs 3 shared seeds", "p_holm": None},
]  # fmt: skip


def test_per_condition_results_reach_a_csv_and_report_md():
    frame = flat_frame(CONDITIONS)
    assert {"ci_lo", "ci_hi"} <= set(frame.columns) and "ci" not in frame.columns
    assert interval_names("ci") == ("ci_lo", "ci_hi") and interval_names("delta_ci") == (
        "delta_lo",
        "delta_hi",
    )
    assert list(frame["ci_hi"]) == [0.065, 0.01] and list(frame["condition"]) == ["night", "fog"]
    md = "\n".join(condition_markdown(CONDITIONS, "none"))
    rows = md_table(md, "condition")
    assert [r["condition"] for r in rows] == ["night", "fog"]
    night, fog = rows
    assert night["Δ points"] == "+2.8" and night["Δ 95% CI"] == "-1.0 to +6.5"
    assert night["baseline mIoU"] == "0.410" and night["arm mIoU"] == "0.438"  # 0.4375 at 3 digits
    assert night["p"] == "0.123" and night["Holm p"] == "0.247" and fog["Holm p"] == ""
    assert condition_markdown([], "none") == []
