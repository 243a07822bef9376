"""Fragile arm verdicts: does one test image or one class decide it?

From the per-image confusion matrices compare already has, every run's mIoU is rescored without one
image (the split's matrix minus that image's) and without one class (its IoU left out of the mean),
and the arm test is re-run on those scores. When leaving out a single image or class turns the verdict
into another kind ("better" into "within noise", say), the verdict carries a note naming it. A class
that some run predicts but the test labels never contain scores IoU 0 for that run and can move the
arm difference by whole points; when leaving it out moves the difference by more than --min-effect,
that is said too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from camseg_cli.core.evaluation.scoring.bootstrap import matrix_scores
from camseg_cli.core.evaluation.scoring.iou import class_iou
from camseg_cli.core.evaluation.stats.study import ArmTest, arm_test, decision

Mats = Mapping[Any, np.ndarray]  # {seed: (images, n, n) per-image confusion matrices}


def _without_class(mats: Mats, ignore: int | None) -> dict[Any, np.ndarray]:
    """{seed: (n,) mIoU of the split with class c left out of the mean, for every c}."""
    out = {}
    for s, m in mats.items():
        iou = class_iou(m.sum(0), ignore)
        n = len(iou)
        rows = np.tile(iou, (n, 1))
        rows[np.arange(n), np.arange(n)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a run with one class: all-NaN row, NaN
            out[s] = np.nanmean(rows, axis=1)
    return out


def _without_image(mats: Mats, ignore: int | None) -> dict[Any, np.ndarray]:
    """{seed: (images,) mIoU of the split with image i left out, for every i}."""
    out = {}
    for s, m in mats.items():
        m = np.asarray(m, dtype=np.float64)
        out[s] = matrix_scores(m.sum(0)[None] - m, ignore)["miou"]
    return out


def _whole(mats: Mats, ignore: int | None) -> dict[Any, float]:
    """{seed: mIoU of the whole split}, scored as the leave-one-out scores are."""
    return {s: float(matrix_scores(np.asarray(m, np.float64).sum(0)[None], ignore)["miou"][0])
            for s, m in mats.items()}  # fmt: skip


def _names(items: Sequence[str], most: int = 3) -> str:
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def fragility_notes(
    base: Mats,
    arm: Mats,
    image_names: Sequence[str],
    class_names: Sequence[str],
    ignore: int | None,
    holm_factor: float,
    min_effect: float,
    test_kwargs: Mapping[str, Any] | None = None,
) -> list[str]:
    """Notes on what one image or one class does to the arm's verdict (empty: nothing decides it
    alone). `holm_factor` scales the arm's p as Holm's method did; `min_effect` is in points."""
    kw = dict(test_kwargs or {})

    def kind(b: Mapping[Any, float], a: Mapping[Any, float]) -> tuple[str, ArmTest]:
        t = arm_test(b, a, **kw)
        p = min(1.0, t.p_value * holm_factor) if t.tested else None
        return decision(t, p, min_effect), t

    now, t_full = kind(_whole(base, ignore), _whole(arm, ignore))
    notes = []
    img_b, img_a = _without_image(base, ignore), _without_image(arm, ignore)
    flips: dict[str, list[str]] = {}
    for i, name in enumerate(image_names):
        k, _ = kind({s: v[i] for s, v in img_b.items()}, {s: v[i] for s, v in img_a.items()})
        if k != now:
            flips.setdefault(k, []).append(name)
    for k, names in flips.items():
        notes.append(f"fragile: without test image {_names(names)} the verdict would be '{k}', not '{now}'")
    cls_b, cls_a = _without_class(base, ignore), _without_class(arm, ignore)
    labelled = sum(np.asarray(m).sum((0, 2)) for m in base.values())
    predicted = sum(np.asarray(m).sum((0, 1)) for d in (base, arm) for m in d.values())
    for c, name in enumerate(class_names):
        if c == ignore:
            continue
        b, a = {s: v[c] for s, v in cls_b.items()}, {s: v[c] for s, v in cls_a.items()}
        k, t = kind(b, a)
        if k != now:
            notes.append(f"fragile: without class {name} the verdict would be '{k}', not '{now}'")
        moved = 100 * (t_full.delta - t.delta)
        if labelled[c] == 0 and predicted[c] > 0 and math.isfinite(moved) and abs(moved) > min_effect:
            notes.append(
                f"class {name} is predicted but never labelled in this split (IoU 0 where predicted): "
                f"it moves the difference by {moved:+.1f} points"
            )
    return notes
