"""Arms of a study: the runs whose training configuration is equal except for the seed.

compare groups its runs into arms here; verdicts.py tests every arm against the baseline arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from camseg_cli.core.choices import RUNTIME_FIELDS
from camseg_cli.core.errors import CamsegError

# Not part of what an arm is: the seed, the run's name, and how it ran (not what it computed).
# A pipeline file's arm is its content's hash (config "aug"); its stem and the content itself only name it.
NOT_THE_ARM = (*RUNTIME_FIELDS, "run", "seed", "deterministic", "aug_label", "aug_pipeline")


@dataclass
class Arm:
    """All seeds of one configuration. `runs` are compare's Run objects, sorted by seed."""

    name: str
    aug: str
    settings: dict[str, Any]
    runs: list[Any]

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def miou_per_seed(self) -> list[float]:
        return [float(r.result.scores.miou) for r in self.runs]

    @property
    def miou_mean(self) -> float:
        return float(np.mean(self.miou_per_seed))

    @property
    def miou_sd(self) -> float:
        v = self.miou_per_seed
        return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def _settings(run: Any) -> dict[str, Any]:
    config = run.config or {"arch": run.arch, "aug": run.aug, "epochs": run.epochs}
    # A setting left unset (None) is the same arm as a checkpoint written before that setting existed.
    return {k: v for k, v in sorted(config.items()) if k not in NOT_THE_ARM and v is not None}


def _key(settings: dict[str, Any]) -> str:
    return repr(sorted(settings.items()))


def differing_settings(arms: Sequence[Arm]) -> list[str]:
    """Settings whose value is not the same in every arm (aug first), e.g. ['aug', 'epochs']."""
    keys = sorted({k for a in arms for k in a.settings})
    differ = [k for k in keys if len({repr(a.settings.get(k)) for a in arms}) > 1]
    return sorted(differ, key=lambda k: (k != "aug", k))


def group_arms(runs: Sequence[Any]) -> list[Arm]:
    """Runs with equal settings but for the seed form one arm, named by what sets it apart."""
    groups: dict[str, list[Any]] = {}
    for r in runs:
        groups.setdefault(_key(_settings(r)), []).append(r)
    arms, copies = [], []
    for members in groups.values():
        # A second checkpoint of one configuration and seed (a copy, or a retrain) cannot pair with
        # the first: it opens a copy of the arm, "aug #2", instead of being silently merged.
        layers: list[list[Any]] = []
        for r in sorted(members, key=lambda r: (r.seed is None, r.seed or 0, r.name)):
            layer = next((g for g in layers if all(x.seed != r.seed for x in g)), None)
            if layer is None:
                layers.append(layer := [])
            layer.append(r)
        for k, layer in enumerate(layers, start=1):
            arms.append(Arm("", layer[0].aug, _settings(layer[0]), layer))
            copies.append(k)
    differ = differing_settings(arms)
    for a, k in zip(arms, copies):
        extra = [f"{key}={a.settings.get(key)}" for key in differ if key != "aug"]
        a.name = a.aug + (f" ({', '.join(extra)})" if extra else "") + (f" #{k}" if k > 1 else "")
    for a in arms:  # one file stem, two pipelines (an edited file): the content's hash tells them apart
        aug = str(a.settings.get("aug", ""))
        if aug.startswith("pipeline:") and sum(b.name == a.name for b in arms) > 1:
            a.name += f" [{aug.removeprefix('pipeline:')[:6]}]"
    return arms


def pick_baseline_arm(arms: Sequence[Arm], baseline: str | None) -> Arm:
    """--baseline by arm name or by the name of one of its runs; else the aug=none arm; else the first."""
    if baseline is not None:
        for a in arms:
            if baseline == a.name or any(baseline in (r.name, r.path.stem, str(r.path)) for r in a.runs):
                return a
        names = ", ".join(a.name for a in arms)
        raise CamsegError(f"--baseline {baseline!r} is no arm or run of this comparison (arms: {names})")
    return next((a for a in arms if a.aug == "none"), arms[0])


def study_notes(split: str, arms: Sequence[Arm], runs: Sequence[Any]) -> list[str]:
    """What a reader must know before trusting the ranking."""
    notes = []
    if split == "val":
        notes.append(
            "compared on val, the split that chose each run's best epoch: optimistic for every run; "
            "compare on a held-out test split (or --split-by sequence) for numbers to report"
        )
    differ = [k for k in differing_settings(arms) if k != "aug"]
    if differ:
        notes.append(f"the arms differ in more than the augmentation: {', '.join(differ)}")
    still = [r.name for r in runs if r.still_improving]
    if still:
        notes.append(
            f"best epoch = last epoch (still improving, so training length matters too): {', '.join(still)}"
        )
    return notes
