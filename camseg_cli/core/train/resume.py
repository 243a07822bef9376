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


def apply_overrides(
    saved: TrainConfig, given: TrainConfig, explicit: set[str] | frozenset[str]
) -> tuple[TrainConfig, list[str]]:
    """A resumed run's config: `saved`, with the runtime fields given on the command line (`explicit`:
    field names) and an explicit --epochs extending it; and a note for each other flag given with
    another value than the saved one, which is ignored (a resumed run keeps its settings)."""
    overrides = {f: getattr(given, f) for f in RUNTIME_FIELDS if f != "out" and f in explicit}
    used = dataclasses.replace(saved, **overrides)
    if "epochs" in explicit and given.epochs != used.epochs:
        used = extend_run(used, given.epochs)
    notes = [
        f"--{f.name.replace('_', '-')} ignored: resuming {used.run_name} with its saved "
        f"{f.name}={getattr(used, f.name)}"
        for f in dataclasses.fields(TrainConfig)
        if f.name in explicit
        and f.name not in (*RUNTIME_FIELDS, "run", "epochs")
        and getattr(given, f.name) != getattr(used, f.name)
    ]
    return used, notes


def resumed_config(given: TrainConfig, explicit: set[str] | frozenset[str]) -> tuple[TrainConfig, list[str]]:
    """apply_overrides on the config saved in OUT/runs/<run>/last.pt."""
    return apply_overrides(resume_config(given.out, given.run_name), given, explicit)


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
