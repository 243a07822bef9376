"""Resume state: the progress a run saves in last.pt beside its tensors, and the config it resumes with."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camseg_cli.core.choices import RUNTIME_FIELDS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.checkpoint import load_checkpoint
from camseg_cli.core.train.config import TrainConfig
from camseg_cli.core.train.engine import EpochState


@dataclass
class RunProgress:
    """Everything about a run's progress that resume must restore besides the tensors."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_miou: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False
    epoch_state: EpochState = field(default_factory=EpochState)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["epoch_state"] = self.epoch_state.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunProgress:
        return cls(**{**d, "epoch_state": EpochState(**d["epoch_state"])})


def resume_config(out: str | Path, run: str, **overrides: Any) -> TrainConfig:
    """The saved config of run `run` under `out`; only runtime fields (data, workers, ...) may change."""
    path = Path(out) / "runs" / run / "last.pt"
    last = read_last(path)
    try:
        saved = TrainConfig.from_dict(last.get("config") or {})
    except CamsegError as e:
        raise CamsegError(f"{path}: checkpoint field config: {e}") from None
    bad = sorted(set(overrides) - set(RUNTIME_FIELDS))
    if bad:
        raise CamsegError(f"a resumed run keeps its settings; cannot change {', '.join(bad)}")
    return dataclasses.replace(saved, out=str(out), **overrides)


def check_extension(run: str, saved: int, epochs: int) -> None:
    """`--resume --epochs N` may extend a run set to `saved` epochs, never shorten it."""
    if epochs < saved:
        raise CamsegError(
            f"--epochs {epochs}: run {run} was set to {saved} epochs — a resumed run can be extended, "
            "not shortened (its best checkpoint so far is saved: out/<run>.pt)"
        )


def extend_run(saved: TrainConfig, epochs: int) -> TrainConfig:
    """`--resume --epochs N`: more epochs than saved extend the run; the learning-rate schedule is
    rebuilt for N epochs from the step reached (poly/cosine then decay over the longer run, so the
    rate jumps up a little where it resumes); fewer is an error, since they are trained already."""
    check_extension(saved.run_name, saved.epochs, epochs)
    return dataclasses.replace(saved, epochs=epochs)


def read_last(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CamsegError(f"{path}: no resume state for this run — train without --resume to start it")
    last = load_checkpoint(path)
    if "resume" not in last:
        raise CamsegError(f"{path}: holds no resume state (optimizer, schedule, RNG)")
    return last
