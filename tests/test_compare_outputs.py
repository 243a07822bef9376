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
from camseg_cli.core.evaluation.compare import measures
from camseg_cli.core.evaluation.compare.cells import Measure
from camseg_cli.core.evaluation.reports.tables import condition_markdown, flat_frame, interval_names
from tests.test_robustness_eval import study  # noqa: F401  (the fixture: 2 arms x 2 seeds)

runner = CliRunner()


def csv_names(row: dict) -> set[str]:
    """The CSV columns a JSON row becomes, by the one documented rule (docs/outputs.md)."""
    return set(flat_frame([row]).columns)


def md_table(report: str, first: str, after: str = "") -> list[dict[str, str]]:
    """The Markdown table of report.md whose header starts with `first` (the first one after the line
    starting with `after`), as dicts (bold stripped)."""
    lines = report.splitlines()
    begin = next(i for i, ln in enumerate(lines) if ln.startswith(after)) if after else 0
    start = next(i for i, ln in enumerate(lines) if i >= begin and ln.startswith(f"| {first} |"))
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
    if text.startswith(("p < ", "< ")):
        assert value < float(text.split("< ")[1]) + 1e-12, (text, value)
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
        "cells.csv": doc["cells"],
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
    assert {c["kind"] for c in doc["cells"]} == {"clean", "family", "suite"}  # --corrupt low_light
    check_cells(doc["cells"], pd.read_csv(dest / "cells.csv"), report)


CELLS = "## Every cell"


def check_cells(cells: list[dict], csv: pd.DataFrame, report: str) -> None:
    """cells.csv, --json's cells and report.md's cell table hold the same cells with the same numbers."""
    key = lambda r: (r["arm"], r["kind"], r["measure"])  # noqa: E731
    by_key = {key(c): c for c in cells}
    assert len(by_key) == len(cells) == len(csv)  # one row per (arm, measure)
    for row in csv.to_dict("records"):
        c = by_key[key(row)]
        assert row["verdict"] == c["verdict"] and (row["seeds"] == c["seeds"] or c["seeds"] is None)
        for col in ("mean", "baseline_mean", "delta", "p_value", "p_holm", "prob_improvement"):
            want = math.nan if c[col] is None else c[col]
            assert row[col] == pytest.approx(want, nan_ok=True), (col, row, c)
        lo, hi = c["delta_ci"] or (math.nan, math.nan)
        assert row["delta_lo"] == pytest.approx(lo, nan_ok=True) and row["delta_hi"] == pytest.approx(
            hi, nan_ok=True
        )
    table = md_table(report, "arm", CELLS)
    assert len(table) == len(cells)
    for row in table:
        c = by_key[(row["arm"], row["kind"], row["measure"])]
        shown(row["arm mean"], c["mean"])
        shown(row["baseline mean"], c["baseline_mean"])
        shown(row["p"], c["p_value"])
        shown(row["Holm p"], c["p_holm"])
        shown(row["P(arm > base)"], c["prob_improvement"], digits=2)
        assert row["verdict"] == c["verdict"] and row["withheld"] == (c["reason"] or "")
        if c["arm"] != c["baseline"]:
            shown(row["Δ points"], c["delta"], 100, 1)
            if c["delta_ci"] is not None:
                lo, hi = row["Δ 95% CI"].split(" to ")
                shown(lo, c["delta_ci"][0], 100, 1)
                shown(hi, c["delta_ci"][1], 100, 1)


def test_a_new_measure_reaches_cells_csv_json_and_report_md_with_no_other_change(study, monkeypatch):  # noqa: F811
    root, data, paths = study
    seen = []

    def probe(first):  # the whole change a new measure needs: one provider of per-run scores
        def score(run):
            seen.append(run.name)
            return 0.2 + 0.1 * (run.aug == "lowlight") + 0.01 * run.seed * (1 + (run.aug == "lowlight"))

        return [Measure("probe", "made up", score)]

    monkeypatch.setattr(measures, "PROVIDERS", (*measures.PROVIDERS, probe))
    out = root / "probe"
    args = ["compare", *map(str, paths.values()), "--out", str(out), "--bootstrap", "20", "--samples", "0"]
    result = runner.invoke(app, [*args, "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(set(seen)) == sorted(f"m-{aug}-s{s}" for aug in ("none", "lowlight") for s in (0, 1))
    doc = json.loads(result.stdout)
    dest = out / "compare"
    csv, report = pd.read_csv(dest / "cells.csv"), (dest / "report.md").read_text()
    check_cells(doc["cells"], csv, report)
    made_up = {c["arm"]: c for c in doc["cells"] if c["kind"] == "probe"}
    assert set(made_up) == {"none", "lowlight"}
    arm, base = made_up["lowlight"], made_up["none"]
    assert arm["mean"] == pytest.approx((0.30 + 0.32) / 2) and arm["baseline_mean"] == pytest.approx(0.205)
    assert arm["delta"] == pytest.approx(0.105)  # per-seed differences 0.10 and 0.11, paired by seed
    assert arm["per_seed"] == pytest.approx({"0": 0.30, "1": 0.32}) and base["verdict"] == "baseline"
    assert arm["seeds"] == 2 and arm["reason"] is not None  # two seeds: a test, but no verdict
    rows = csv[csv["kind"] == "probe"].set_index("arm")
    assert (
        rows.loc["lowlight", "delta"] == pytest.approx(0.105) and rows.loc["lowlight", "measure"] == "made up"
    )
    lines = [r for r in md_table(report, "arm", CELLS) if r["kind"] == "probe"]
    assert [(r["arm"], r["measure"]) for r in lines] == [("none", "made up"), ("lowlight", "made up")]
    assert lines[1]["Δ points"] == "+10.5" and lines[1]["arm mean"] == "0.310"


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
