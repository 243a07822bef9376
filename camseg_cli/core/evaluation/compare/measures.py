"""The measures every study is judged on (cells.py judges them in one table): a measure is one function
from a run to its score. Each provider below turns the baseline's evaluation (its images, classes and
conditions) into measures; a new measure is one more provider in PROVIDERS. The measures under shift
(corruption families, the suite, slices) need each run's corrupted passes and are made by shift.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from camseg_cli.core.evaluation.compare.cells import Measure
from camseg_cli.core.evaluation.compare.fragility import fragility_notes
from camseg_cli.core.evaluation.scoring.metrics import scores_from_matrix
from camseg_cli.core.evaluation.scoring.results import EvalResult


def clean(first: EvalResult) -> list[Measure]:
    """mIoU on the whole split, with fragility notes (does one test image or one class decide it?)."""
    names, classes, ignore = first.image_names, first.classes.names, first.classes.ignore_index

    def notes(base_runs: Sequence[Any], arm_runs: Sequence[Any], factor: float, effect: float) -> list[str]:
        mats = [{r.seed: r.result.per_image for r in runs} for runs in (base_runs, arm_runs)]
        return fragility_notes(*mats, names, classes, ignore, factor, effect)

    return [Measure("clean", "clean", lambda run: float(run.result.scores.miou), notes=notes)]


def condition_miou(run: Any, keep: np.ndarray) -> float:
    """A condition's score: the run's mIoU on that condition's images (their matrices summed)."""
    mat = torch.from_numpy(run.result.per_image[keep].sum(0))
    return scores_from_matrix(mat, run.result.classes.void).miou


def conditions(first: EvalResult) -> list[Measure]:
    """mIoU on each dataset condition's images (ACDC's fog, night, rain, snow); none without conditions."""
    return [
        Measure("condition", cond, lambda run, keep=keep: condition_miou(run, keep), frames=int(keep.sum()))
        for cond, keep in first.condition_masks().items()
    ]


PROVIDERS: tuple[Callable[[EvalResult], list[Measure]], ...] = (clean, conditions)


def study_measures(base: Any) -> list[Measure]:
    """Every measure of PROVIDERS for the study whose baseline arm is `base` (of its first run's images)."""
    first = base.runs[0].result
    return [m for provider in PROVIDERS for m in provider(first)]
