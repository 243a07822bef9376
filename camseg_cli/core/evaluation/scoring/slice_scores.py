"""`camseg evaluate --slice`: one checkpoint's score on each slice of its split (dark frames, each drive),
from the evaluation's per-image confusion matrices, as compare --slice scores a run's slice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.scoring.bootstrap import bootstrap_ci, resampled_scores
from camseg_cli.core.evaluation.scoring.results import EvalResult
from camseg_cli.core.evaluation.scoring.slices import MIN_SLICE, slice_luminance, slice_members, thin_note

NAN2 = (math.nan, math.nan)


@dataclass(frozen=True)
class SliceScore:
    """A slice's frames, and (with at least MIN_SLICE of them) its pooled mIoU and pixel accuracy with
    bootstrap CIs over the slice's images; a thin slice has a note instead."""

    name: str
    frames: int
    miou: float = math.nan
    miou_ci: tuple[float, float] = NAN2
    pixel_acc: float = math.nan
    pixel_acc_ci: tuple[float, float] = NAN2
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "slice": self.name,
            "frames": self.frames,
            "miou": self.miou,
            "miou_ci": list(self.miou_ci),
            "pixel_acc": self.pixel_acc,
            "pixel_acc_ci": list(self.pixel_acc_ci),
            "note": self.note or None,
        }


def score_slices(result: EvalResult, slices: Sequence[str]) -> list[SliceScore]:
    """Each slice asked for, scored from `result`'s per-image matrices with its bootstrap settings (the
    split's frames are read once more for their luminance when "dark" is asked for)."""
    if not slices:
        return []
    lum = slice_luminance(result, result.split) if "dark" in slices else {}
    ignore = result.classes.ignore_index
    out = []
    for name, idx in slice_members(slices, lum, result.image_names):
        if len(idx) < MIN_SLICE:
            out.append(SliceScore(name, len(idx), note=thin_note(name, len(idx), "not scored")))
            continue
        mats = result.per_image[idx]
        pooled = resampled_scores(mats, np.arange(len(idx))[None], ignore)  # every frame once
        ci = bootstrap_ci(mats, result.bootstrap, result.seed, ignore)
        out.append(
            SliceScore(
                name,
                len(idx),
                float(pooled["miou"][0]),
                ci["miou"],
                float(pooled["pixel_acc"][0]),
                ci["pixel_acc"],
            )
        )
    return out


def slices_frame(scores: Sequence[SliceScore]) -> Any:
    """One CSV row per slice: the JSON's fields, CIs as lo / hi columns."""
    import pandas as pd

    rows = []
    for s in scores:
        d = s.to_json()
        for key in ("miou_ci", "pixel_acc_ci"):
            d[f"{key}_lo"], d[f"{key}_hi"] = d.pop(key)
        rows.append(d)
    return pd.DataFrame(rows)
