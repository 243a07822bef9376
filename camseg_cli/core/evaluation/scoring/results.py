"""EvalResult: one evaluation as plain data (its cache, `out/eval/<run>-<split>.npz`, is result_cache.py).

The per-image confusion matrices and image names are kept so that a comparison of two runs can
bootstrap over the very same images; `result_cache.cached_result` returns a saved evaluation unless the
checkpoint file changed since, so nothing is evaluated twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.evaluation.scoring.dependence import Dependence, input_dependence
from camseg_cli.core.evaluation.scoring.metrics import Scores, scores_from_matrix


@dataclass
class EvalResult:
    """Everything one evaluation found; `per_image[i]` is the (n, n) matrix of `image_names[i]`."""

    checkpoint: str
    run: str
    split: str
    data: str
    classes: ClassMap
    image_names: list[str]
    per_image: np.ndarray  # (images, n, n) int64, rows ground truth, columns prediction
    ignored: np.ndarray  # (images,) int64 void / ignored pixels per image
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)  # miou, pixel_acc
    bootstrap: int = 0
    seed: int = 0
    seconds: float = float("nan")
    stamp: dict[str, Any] = field(default_factory=dict)  # checkpoint size / mtime: is a cache stale?
    conditions: list[str] | None = None  # per image: ACDC's condition (fog, night, rain, snow), if any
    # (images, 32, 32) int16 nearest thumbnails of each prediction and label (core/evaluation/dependence)
    pred_thumbs: np.ndarray | None = None
    label_thumbs: np.ndarray | None = None

    @cached_property
    def mat(self) -> np.ndarray:
        return self.per_image.sum(0)

    @cached_property
    def scores(self) -> Scores:
        return scores_from_matrix(torch.from_numpy(self.mat), self.classes.void)

    @cached_property
    def dependence(self) -> Dependence | None:
        """How much the predictions vary between images, beside the labels (None without thumbnails)."""
        if self.pred_thumbs is None or self.label_thumbs is None:
            return None
        return input_dependence(self.pred_thumbs, self.label_thumbs, self.per_image, self.classes.void)

    @property
    def num_images(self) -> int:
        return len(self.image_names)

    def per_class(self) -> list[dict[str, Any]]:
        """One row per non-void class, in class order: iou, acc, dice, gt pixels, predicted pixels."""
        s, void = self.scores, self.classes.void
        predicted = self.mat.sum(0)
        return [
            {
                "class": name,
                "iou": float(s.iou[i]),
                "acc": float(s.acc[i]),
                "dice": float(s.dice[i]),
                "pixels": int(s.pixels[i]),
                "predicted": int(predicted[i]),
            }
            for i, name in enumerate(self.classes.names)
            if i != void
        ]

    def void_report(self) -> dict[str, Any] | None:
        """Void is not scored: how many ground-truth pixels it covered and how often the model said void."""
        if self.classes.void is None:
            return {"name": None, "pixels": int(self.ignored.sum()), "predicted": 0}
        return {
            "name": self.classes.void_name,
            "pixels": int(self.ignored.sum()),
            "predicted": int(self.mat[:, self.classes.void].sum()),  # on labelled pixels: counted wrong
        }

    def unlabelled_names(self) -> list[str]:
        """Classes predicted on some pixels but never in this split's labels (IoU 0, in the mean)."""
        return [self.classes.names[i] for i in self.scores.unlabelled]

    def condition_masks(self) -> dict[str, np.ndarray]:
        """{condition: boolean mask over the images}, in name order; empty without conditions."""
        if not self.conditions:
            return {}
        conds = np.asarray(self.conditions)
        return {c: conds == c for c in sorted(set(self.conditions))}

    def by_condition(self) -> dict[str, dict[str, Any]]:
        """mIoU and pixel accuracy of each condition's images (ACDC), from their summed matrices."""
        out = {}
        for cond, keep in self.condition_masks().items():
            s = scores_from_matrix(torch.from_numpy(self.per_image[keep].sum(0)), self.classes.void)
            out[cond] = {"images": int(keep.sum()), "miou": s.miou, "pixel_acc": s.pixel_acc}
        return out

    def to_json(self) -> dict[str, Any]:
        s = self.scores
        return {
            "checkpoint": self.checkpoint,
            "run": self.run,
            "split": self.split,
            "data": self.data,
            "images": self.num_images,
            "miou": s.miou,
            "miou_ci": list(self.ci.get("miou", (math.nan, math.nan))),
            "pixel_acc": s.pixel_acc,
            "pixel_acc_ci": list(self.ci.get("pixel_acc", (math.nan, math.nan))),
            "mean_acc": s.mean_acc,
            "fwiou": s.fwiou,
            "absent": s.absent,
            "predicted_never_labelled": self.unlabelled_names(),
            "bootstrap": {"reps": self.bootstrap, "seed": self.seed, "level": 0.95},
            "seconds": self.seconds,
            "per_class": {r["class"]: {k: v for k, v in r.items() if k != "class"} for r in self.per_class()},
            "void": self.void_report(),
            "input_dependence": None if self.dependence is None else self.dependence.to_json(),
        } | ({"conditions": self.by_condition()} if self.conditions else {})
