"""The runs of a comparison: each checkpoint's metadata and its evaluation on the compared split, scored
once (or read from OUT/eval while checkpoint and files are unchanged) on the same images for all."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.errors import CamsegError
from camseg_cli.core.evaluation.scoring.eval_files import write_reports
from camseg_cli.core.evaluation.scoring.evaluate import evaluate_checkpoint, split_settings
from camseg_cli.core.evaluation.scoring.result_cache import cached_result, distinct_files
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.model.checkpoint import load_checkpoint, run_name

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
