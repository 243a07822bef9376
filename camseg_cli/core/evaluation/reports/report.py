"""Pictures and the Markdown report of a comparison: mIoU bars, per-class heatmap, curves, samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.compare.comparison import Comparison, best_run
from camseg_cli.core.evaluation.compare.verdicts import arms_frame
from camseg_cli.core.evaluation.reports.study import arm_markdown, plot_arms
from camseg_cli.core.evaluation.reports.tables import (
    RANK_COLUMNS,
    cell_rows,
    cells_markdown,
    condition_markdown,
    flat_frame,
    markdown_table,
    pts,
    ranking_rows,
)
from camseg_cli.core.files import fmt_number, pyplot, save_figure, write_csv, write_text

RANK_LEFT = ("run", "arch", "aug", "95% CI", "Δ 95% CI")

# (samples: [(name, image, mask)], predictions: {run: [mask per sample]}), as scoring.masks returns it
SampleMasks = tuple[list, dict[str, list]]


def plot_miou(c: Comparison) -> Any:
    """Left: mIoU per run with 95% CI whiskers. Right: each run's paired difference to its baseline
    run with that test's 95% CI: two runs' whiskers may overlap while the paired test separates them."""
    plt = pyplot()
    r = c.results.iloc[::-1]
    fig, (ax, dx) = plt.subplots(
        1, 2, figsize=(11, 0.5 * len(r) + 1.6), sharey=True, gridspec_kw={"width_ratios": [3, 2]}
    )
    lo = (r["miou"] - r["miou_lo"]).clip(lower=0).fillna(0)
    hi = (r["miou_hi"] - r["miou"]).clip(lower=0).fillna(0)
    base = r["run"] == r["vs_run"]
    colors = ["#999999" if b else "#4c72b0" for b in base]
    labels = [f"{run}\n({aug})" for run, aug in zip(r["run"], r["aug"])]
    ax.barh(labels, r["miou"], xerr=[lo, hi], color=colors, capsize=4, error_kw={"elinewidth": 1.2})
    top = r["miou_hi"].fillna(r["miou"])
    xmax = min(1.0, float(np.nanmax(top)) * 1.25 + 0.02)
    for y, (m, end) in enumerate(zip(r["miou"], top)):
        ax.text(end + 0.01 * xmax, y, f"{m:.3f}", va="center", fontsize=8, clip_on=True)
    ax.set_xlabel(f"mIoU on {c.split} (whiskers: 95% bootstrap CI)")
    ax.set_xlim(0, xmax)
    ax.set_title("Runs ranked by mIoU — grey: baseline runs")
    d = r["delta_vs_baseline"].where(~base)
    err = [(d - r["delta_lo"]).clip(lower=0).fillna(0), (r["delta_hi"] - d).clip(lower=0).fillna(0)]
    dx.errorbar(d, range(len(r)), xerr=err, fmt="o", color="#c44e52", capsize=4)
    dx.axvline(0, color="#999999", lw=1)
    dx.set_xlabel("paired difference vs the baseline run of its seed (95% CI)")
    dx.set_title("Against the baseline, same images")
    dx.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_per_class(c: Comparison) -> Any:
    """Heatmap: classes x runs, IoU annotated; blank where a class is absent."""
    plt = pyplot()
    ranked = list(c.results["run"])  # best first, as the ranking table
    frame = c.per_class[ranked].dropna(how="all")
    base = {r.vs_run for r in c.results.itertuples()}
    frame.columns = [f"{run} (baseline)" if run in base else run for run in frame.columns]
    data = frame.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.3 * frame.shape[1] + 3, 0.32 * frame.shape[0] + 1.5))
    im = ax.imshow(np.ma.masked_invalid(data), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(frame.shape[1]), frame.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(frame.shape[0]), frame.index, fontsize=8)
    for i in range(data.shape[0]):
        best = list(frame.columns).index(b) if (b := best_run(frame.iloc[i])) is not None else -1
        for j in range(data.shape[1]):
            if not math.isnan(data[i, j]):
                color = "black" if data[i, j] > 0.6 else "white"
                weight = "bold" if j == best else "normal"
                ax.text(
                    j,
                    i,
                    f"{data[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=color,
                    weight=weight,
                )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="IoU (bold: best run for the class)")
    ax.set_title(f"Per-class IoU on {c.split}, runs in rank order")
    if np.isnan(data).any():
        ax.text(0, -0.02, "blank: class in neither the labels nor the predictions (not scored)",
                transform=ax.transAxes, ha="left", va="top", fontsize=7)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_curves(c: Comparison) -> Any:
    """Validation mIoU per epoch of every run, from the checkpoints' histories."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in c.runs:
        epochs = [row.get("epoch", i + 1) for i, row in enumerate(r.history)]
        miou = [row.get("val_miou", math.nan) for row in r.history]
        if epochs:
            ax.plot(epochs, miou, marker="o", markersize=3, label=f"{r.name} ({r.aug})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation mIoU")
    ax.set_ylim(0, None)  # from 0: an axis that starts near the data makes small gaps look large
    ax.set_title("Validation mIoU per epoch")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_samples(c: Comparison, samples: list, preds: dict[str, list]) -> Any:
    """Rows: images; columns: image, ground truth, each run's prediction — same class colours."""
    plt = pyplot()
    classes = c.baseline.result.classes
    cols = 2 + len(preds)
    fig, axes = plt.subplots(
        len(samples), cols, figsize=(2.4 * cols, 1.9 * len(samples) + 0.4), squeeze=False
    )
    for i, (name, image, mask) in enumerate(samples):
        panels = [(image, name), (classes.palette()[mask], "ground truth")]
        panels += [(classes.palette()[p[i]], run) for run, p in preds.items()]
        for j, (panel, title) in enumerate(panels):
            ax = axes[i][j]
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0 or j == 0:
                ax.set_title(title, fontsize=7)
    shown = np.unique(
        np.concatenate([m.ravel() for _, _, m in samples] + [x.ravel() for p in preds.values() for x in p])
    )
    fig.legend(handles=class_legend(classes, shown), loc="lower center", ncol=min(6, len(shown)), fontsize=7)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(shown) / 6), 1, 1))
    return fig


def class_legend(classes: Any, indices: Any) -> list[Any]:
    """Colour patches naming the classes `indices` (the ones a figure shows)."""
    from matplotlib.patches import Patch

    colors = classes.palette() / 255.0
    return [Patch(color=colors[i], label=classes.names[i]) for i in indices if 0 <= i < len(classes.names)]


def shift_text(s: dict[str, list]) -> str:
    """'largest rises Road +2.1, ...; largest falls Sky -1.0' in IoU points: differences of means with
    no test behind them, so not 'helps' or 'hurts'."""
    up = ", ".join(f"{k} {pts(v)}" for k, v in s["helps"]) or "—"
    down = ", ".join(f"{k} {pts(v)}" for k, v in s["hurts"]) or "—"
    return f"largest rises {up}; largest falls {down}"


def _row(cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _bold_best(rows: list[list[str]]) -> list[list[str]]:
    """The best run's name in bold, as the terminal shows it in green."""
    return [[r[0], f"**{r[1]}**", *r[2:]] if i == 0 else r for i, r in enumerate(rows)]


def markdown(c: Comparison, pictures: list[str], extra: Sequence[str] = ()) -> str:
    """report.md: arms, `extra` sections (robustness), ranking, paired tests, class shifts, per-class table,
    pictures."""
    lines = [f"# camseg compare — {c.split} split", ""]
    n = c.baseline.result.num_images
    lines += [
        f"{len(c.runs)} runs evaluated on the same {n} images of `{c.baseline.result.data}`.",
        "",
        *arm_markdown(c),
        *condition_markdown(c.conditions, c.baseline_arm.name),
        *extra,
        *cells_markdown(cell_rows(c.table)),
        "## Runs",
        "",
        "Each run against the baseline arm's run of the same seed: a paired block bootstrap over the same "
        "images (95% CI, two-sided p-value). Differences in mIoU points, as everywhere in this report.",
        "",
        *markdown_table(RANK_COLUMNS, _bold_best(ranking_rows(c)), RANK_LEFT),
    ]
    never = [(r.run, r.never_labelled) for r in c.results.itertuples() if r.never_labelled]
    if never:
        note = f"Predicted, never labelled in {c.split}: IoU 0, in mIoU as published CamVid numbers count it"
        lines += ["", note + " (README, evaluate).", ""]
        lines += [f"- **{run}**: {names}" for run, names in never]
    lines += ["", "## Checkpoint against checkpoint", ""]
    lines += [
        "Each run against the baseline arm's run of its seed, test images resampled with both models "
        "fixed: this says whether *this checkpoint* beats *that one* on images like these, not whether "
        "the augmentation helps (the arms above answer that).",
        "",
    ]
    lines += [f"- **{r.run}**: {r.verdict}" for r in c.results.itertuples() if r.run != r.vs_run]
    if c.shifts:
        lines += ["", "## Largest per-class changes (IoU points vs baseline, means over seeds, untested)", ""]
        for run, s in c.shifts.items():
            lines.append(f"- **{run}**: {shift_text(s)}")
    lines += ["", "## Per-class IoU (bold: best run for the class)", ""]
    frame = c.per_class.dropna(how="all")
    lines.append(_row(["class", *frame.columns]))
    lines.append("|---|" + "---:|" * len(frame.columns))
    for cls, row in frame.iterrows():
        best = best_run(row)
        cells = [f"**{fmt_number(v)}**" if k == best else fmt_number(v) for k, v in row.items()]
        lines.append(_row([cls, *cells]))
    lines += [""] + [f"![{p}]({p})" for p in pictures] + [""]
    return "\n".join(lines)


def write_report(
    c: Comparison,
    out: Path | str,
    samples: SampleMasks | None = None,
    extra: Sequence[str] = (),
    extra_pictures: Sequence[str] = (),
) -> list[Path]:
    """Everything under out/compare/: report.md, results.csv, arms.csv, cells.csv (every (arm, measure)
    cell), per_class.csv and the pictures; `extra`
    Markdown lines (and pictures already written there) join report.md after the arms; `samples` (from
    scoring.masks.sample_predictions, which runs the models) adds samples.png."""
    dest = Path(out) / "compare"
    written = [
        write_csv(dest / "results.csv", c.results),
        write_csv(dest / "arms.csv", arms_frame(c.arms)),
        save_figure(dest / "arms.png", plot_arms(c)),
        write_csv(dest / "per_class.csv", c.per_class.reset_index()),
        *([write_csv(dest / "conditions.csv", flat_frame(c.conditions))] if c.conditions else []),
        *([write_csv(dest / "cells.csv", flat_frame(cell_rows(c.table)))] if c.table is not None else []),
        save_figure(dest / "mIoU.png", plot_miou(c)),
        save_figure(dest / "per_class.png", plot_per_class(c)),
        save_figure(dest / "curves.png", plot_curves(c)),
    ]
    if samples is not None:
        written.append(save_figure(dest / "samples.png", plot_samples(c, *samples)))
    pictures = [p.name for p in written if p.suffix == ".png"] + list(extra_pictures)
    written.append(write_text(dest / "report.md", markdown(c, pictures, extra)))
    return written
