"""What to do with one checkpoint: a comparison needs a baseline, trained with the run's own settings."""

from __future__ import annotations

import json
from pathlib import Path


def baseline_command(path: Path) -> str:
    """How to make what `path` should be compared with: from its config.json (out/runs/<run>/) a
    `camseg train --config ...` with the other --aug and a new --run; without one, the general recipe."""
    config_path = path.parent / "runs" / path.stem / "config.json"
    try:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        return (
            "train a baseline with the same settings and seeds and --aug none "
            "(e.g. `camseg train --data DIR --aug none,flip --sweep --seeds 0,1,2`)"
        )
    aug, run = str(saved.get("aug", "")), str(saved.get("run") or "")
    other = "flip" if aug == "none" else "none"
    rename = (
        f" --run {run.replace(aug, other, 1) if aug and aug in run else run + '-' + other}" if run else ""
    )
    if aug == "none":
        return (
            "this run is a baseline (--aug none): train what it should be compared with, e.g. "
            f"`camseg train --config {config_path} --aug flip{rename}`"
        )
    return (
        "train its baseline with the same settings and seeds and --aug none: "
        f"`camseg train --config {config_path} --aug none{rename}`"
    )


def nothing_to_compare(path: Path) -> str:
    """The note a comparison of one run gives: it is one run, and how to get a second."""
    return f"nothing to compare: {path} is one run — {baseline_command(path)}, then compare both"
