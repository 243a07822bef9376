"""Compare runs on one split: gather (cached) evaluations, rank, test arms and checkpoints.

Arms (all seeds of one configuration) are judged in verdicts.py, over seeds. A checkpoint against the
baseline arm's checkpoint of its seed is a paired block bootstrap: the same test images for both runs
in every resample (blocks of consecutive frames of one sequence), so image-to-image difficulty cancels
out and only the runs' difference varies; it speaks of these two checkpoints, not of the augmentation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.compare.arms import Arm, group_arms, pick_baseline_arm, study_notes
from camseg_cli.core.evaluation.compare.cells import Table, judge_table
from camseg_cli.core.evaluation.compare.conditions import condition_rows
from camseg_cli.core.evaluation.compare.judgement import withhold_verdicts
from camseg_cli.core.evaluation.compare.measures import study_measures
from camseg_cli.core.evaluation.compare.pairs import Paired, paired_bootstrap, verdict
from camseg_cli.core.evaluation.compare.verdicts import (
    MIN_EFFECT,
    ArmResult,
    arm_results,
    arms_json,
    power_lines,
)
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint, split_settings, write_reports
from camseg_cli.core.evaluation.scoring.result_cache import cached_result, distinct_files
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.model.checkpoint import load_checkpoint, run_name

Track = Callable[[Iterable, str], Iterable]
log = logging.getLogger("camseg")


@dataclass
class Run:
    """One checkpoint's metadata and its evaluation on the compared split."""

    path: Path
    name: str
    arch: str
    aug: str
    epochs: int
    train_seconds: float
    history: list[dict[str, Any]]
    result: EvalResult
    cached: bool
    seed: int | None = None
    config: dict[str, Any] | None = None

    @property
    def epoch_seconds(self) -> float:
        """Steady-state seconds per epoch: the median epoch after the first, which carries the
        process's start-up (worker spin-up, lazy initialisation, cuDNN autotuning)."""
        secs = [float(h["seconds"]) for h in self.history if h.get("seconds") is not None]
        steady = secs[1:] or secs
        return float(np.median(steady)) if steady else math.nan

    @property
    def still_improving(self) -> bool:
        """Its best validation epoch was its last: it might have gone on improving."""
        best = max(self.history, key=lambda h: h.get("val_miou", -1.0), default=None)
        return best is not None and len(self.history) > 1 and best is self.history[-1]


def _metadata(path: Path, split_args: dict[str, Any]) -> dict[str, Any]:
    ckpt = load_checkpoint(path)
    return {
        "settings": split_settings(ckpt, **split_args),
        "name": run_name(ckpt),
        "arch": ckpt["arch"],
        "aug": str(ckpt.get("aug", "?")),
        "epochs": int(ckpt.get("epochs", len(ckpt.get("history", [])))),  # "epoch" is the best one
        "train_seconds": float(ckpt.get("train_seconds", math.nan)),
        "history": list(ckpt.get("history", [])),
        "seed": ckpt.get("seed"),
        "config": ckpt.get("config"),
        "classes": ckpt["classes_map"],
    }


def gather(
    paths: Sequence[Path | str],
    split: str = "test",
    data: Path | str | None = None,
    out: Path | str = "out",
    split_by: str | None = None,
    val_sequences: str | None = None,
    test_sequences: str | None = None,
    conditions: str | None = None,
    class_map: Path | str | None = None,
    **eval_kwargs: Any,
) -> list[Run]:
    """Evaluate each checkpoint (or reuse its cached evaluation) on the same split and images.

    The split definition (--split-by and its sequences) defaults to the one each run was trained with.
    `data` may be another dataset than the runs were trained on: classes matched by name or `class_map`.
    """
    if len(paths) < 1:
        raise CamsegError("compare needs at least one checkpoint")
    paths, repeats = distinct_files(paths)
    for path, same, how in repeats:
        log.warning("%s: %s as %s — counted once", path, how, same)
    split_args = {"split_by": split_by, "val_sequences": val_sequences, "test_sequences": test_sequences}
    split_args |= {"conditions": conditions}
    metas = [(Path(p), _metadata(Path(p), split_args)) for p in paths]
    first_path, first = metas[0]
    seen: dict[str, Path] = {}
    for path, meta in metas:
        if meta["classes"] != first["classes"]:
            raise CamsegError(
                f"{path}: its class map ({meta['classes'].num_classes} classes) differs from {first_path}'s "
                f"({first['classes'].num_classes}) — compare only runs trained on the same classes"
            )
        name, k = meta["name"], 2
        while meta["name"] in seen:  # two checkpoints of one run name: number the later ones
            meta["name"], k = f"{name}-{k}", k + 1
        seen[meta["name"]] = path
    runs = []
    for path, meta in metas:
        settings = meta.pop("settings")
        result = cached_result(
            path, meta["name"], split, out, data, settings, eval_kwargs.get("layout"), class_map
        )
        cached = result is not None
        if result is None:
            result = evaluate_checkpoint(
                path, data=data, split=split, **settings, class_map=class_map, **eval_kwargs
            )
            result.run = meta["name"]
            write_reports(result, out)
        meta.pop("classes")
        runs.append(Run(path=path, result=result, cached=cached, **meta))
    names = runs[0].result.image_names
    for r in runs[1:]:
        if r.result.image_names != names:
            raise CamsegError(
                f"{r.path}: evaluated on other images than {runs[0].path} ({len(r.result.image_names)} vs "
                f"{len(names)}) — pass the same --data to compare them"
            )
    return runs


def results_frame(
    runs: Sequence[Run], bases: dict[str, Run], paired: dict[str, Paired], arm_of: dict[str, str]
) -> pd.DataFrame:
    """One row per run, best mIoU first; each run against its baseline run (same seed where there is one)."""
    rows = []
    for r in runs:
        s, p, base = r.result.scores, paired[r.name], bases[r.name]
        ci = r.result.ci.get("miou", (math.nan, math.nan))
        rows.append(
            {
                "run": r.name,
                "arm": arm_of[r.name],
                "seed": r.seed,
                "arch": r.arch,
                "aug": r.aug,
                "epochs": r.epochs,
                "miou": s.miou,
                "miou_lo": ci[0],
                "miou_hi": ci[1],
                "pixel_acc": s.pixel_acc,
                "mean_acc": s.mean_acc,
                "fwiou": s.fwiou,
                "train_seconds": r.train_seconds,
                "epoch_seconds": r.epoch_seconds,
                "still_improving": r.still_improving,
                "vs_run": base.name,
                "delta_vs_baseline": p.delta,
                "delta_lo": p.ci[0],
                "delta_hi": p.ci[1],
                "p_value": p.p_value,
                "p_text": "" if r is base else p.test.p_text(),  # "p=0.012", "p < 0.002", "no test"
                "verdict": verdict(r, base, p),
                "never_labelled": ", ".join(r.result.unlabelled_names()),  # predicted, IoU 0 in the mean
                "checkpoint": str(r.path),
                "cached": r.cached,
            }
        )
    return pd.DataFrame(rows).sort_values("miou", ascending=False, na_position="last").reset_index(drop=True)


def per_class_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Classes as rows (void left out), runs as columns, IoU in each cell (NaN: class absent)."""
    table = {r.name: {row["class"]: row["iou"] for row in r.result.per_class()} for r in runs}
    frame = pd.DataFrame(table)
    frame.index.name = "class"
    return frame


def per_class_json(per_class: pd.DataFrame) -> list[dict[str, Any]]:
    """per_class.csv as JSON rows: {'class': name, run: IoU or None (class absent)}."""
    return [{"class": cls} | {k: None if v != v else float(v) for k, v in row.items()}
            for cls, row in per_class.iterrows()]  # fmt: skip


def best_run(row: pd.Series) -> str | None:
    """The run with the highest IoU for a class; None when no run stands out (absent, or all tied)."""
    vals = row.dropna()
    return None if vals.empty or vals.max() == vals.min() else str(vals.idxmax())


def arm_means(per_class: pd.DataFrame, arms: Sequence[Arm]) -> pd.DataFrame:
    """Per-class IoU averaged over each arm's seeds (classes as rows, arms as columns)."""
    return pd.DataFrame({a.name: per_class[[r.name for r in a.runs]].mean(axis=1) for a in arms})


def class_shifts(per_class: pd.DataFrame, base: str, top: int = 3) -> dict[str, dict[str, list]]:
    """For each column (an arm's mean over seeds): the classes whose IoU rose and fell most against
    the baseline column."""
    shifts = {}
    for run in per_class.columns:
        if run == base:
            continue
        d = (per_class[run] - per_class[base]).dropna().sort_values()
        shifts[run] = {
            "helps": [(c, float(v)) for c, v in d[::-1].items() if v > 0][:top],
            "hurts": [(c, float(v)) for c, v in d.items() if v < 0][:top],
        }
    return shifts


@dataclass
class Comparison:
    split: str
    runs: list[Run]
    baseline: Run
    paired: dict[str, Paired]
    results: pd.DataFrame
    per_class: pd.DataFrame
    shifts: dict[str, dict[str, list]]
    arms: list[ArmResult]
    baseline_arm: Arm
    power: list[str]
    notes: list[str]
    conditions: list[dict[str, Any]] = field(default_factory=list)  # per ACDC condition: arm tests
    ignores_input: list[str] = field(default_factory=list)  # one warning per run that draws one mask
    table: Table | None = None  # the study's one table of cells: arms and conditions are read from it

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.results.itertuples():
            rows.append(
                {
                    "run": row.run,
                    "arm": row.arm,
                    "seed": None if pd.isna(row.seed) else int(row.seed),
                    "arch": row.arch,
                    "aug": row.aug,
                    "epochs": int(row.epochs),
                    "miou": row.miou,
                    "miou_ci": [row.miou_lo, row.miou_hi],
                    "pixel_acc": row.pixel_acc,
                    "mean_acc": row.mean_acc,
                    "vs_run": row.vs_run,
                    "delta_vs_baseline": row.delta_vs_baseline,
                    "delta_ci": [row.delta_lo, row.delta_hi],
                    "p_value": row.p_value,
                    "verdict": row.verdict,
                    "still_improving": bool(row.still_improving),
                    "predicted_never_labelled": [n for n in row.never_labelled.split(", ") if n],
                    # in results.csv too (docs/outputs.md): every CSV column is a JSON key
                    "fwiou": row.fwiou,
                    "train_seconds": row.train_seconds,
                    "epoch_seconds": row.epoch_seconds,
                    "p_text": row.p_text,
                    "checkpoint": row.checkpoint,
                    "cached": bool(row.cached),
                }
            )
        return {
            "split": self.split,
            "baseline": self.baseline.name,
            "runs": rows,
            "baseline_arm": self.baseline_arm.name,
            "arms": arms_json(self.arms),
            "power": self.power,
            "notes": self.notes,
            "ignores_input": self.ignores_input,
            "per_class": per_class_json(self.per_class),
        } | ({"conditions": self.conditions} if self.conditions else {})


def compare(
    runs: list[Run],
    baseline: str | None = None,
    reps: int = 1000,
    seed: int = 0,
    block: int | None = None,
    min_effect: float = MIN_EFFECT,
) -> Comparison:
    """Rank the runs, group them into arms and test each arm against the baseline arm (seeds and
    images); each run is also set against the baseline arm's run of the same seed (these checkpoints)."""
    arms = group_arms(runs)
    base_arm = pick_baseline_arm(arms, baseline)
    by_seed = {r.seed: r for r in base_arm.runs}
    bases = {r.name: by_seed.get(r.seed, base_arm.runs[0]) for r in runs}
    paired = {r.name: paired_bootstrap(bases[r.name].result, r.result, reps, seed, block) for r in runs}
    arm_of = {r.name: a.name for a in arms for r in a.runs}
    per_class = per_class_frame(runs)
    split = runs[0].result.split
    table = judge_table(arms, base_arm, study_measures(base_arm), min_effect)
    judged = arm_results(table, arms, base_arm)
    comparison = Comparison(
        split=split,
        runs=runs,
        baseline=base_arm.runs[0],
        paired=paired,
        results=results_frame(runs, bases, paired, arm_of),
        per_class=per_class,
        shifts=class_shifts(arm_means(per_class, arms), base_arm.name),
        arms=judged,
        baseline_arm=base_arm,
        power=power_lines(judged),
        notes=study_notes(split, arms, runs),
        conditions=condition_rows(table),
        table=table,
    )
    comparison.ignores_input = withhold_verdicts(comparison)  # no verdict about a model that cannot see
    return comparison
