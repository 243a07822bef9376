"""`camseg train` in core: the TrainConfig from the command's fields, and the study loop (each run planned
under its lock: skipped, resumed or trained; a run another process holds is skipped in a sweep).

Nothing here prints: what the command should tell the user goes to its `note(kind, text)` callback, kind
"plan" (what happens to a run), "skip" (a finished run left alone) or "locked" (another trainer has it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camseg_cli.core.choices import WEIGHTS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.model.device import default_train_workers
from camseg_cli.core.suggest import check_data_folder, check_device, check_out, did_you_mean
from camseg_cli.core.train.config import TrainConfig, default_lr

Note = Callable[[str, str], None]


def is_main_process() -> bool:
    """Rank 0 under torchrun (or no torchrun): the process that locks, writes and reports."""
    return os.environ.get("RANK", "0") == "0"


def given_config(fields: dict[str, Any], resume: bool) -> TrainConfig:
    """TrainConfig from the command's fields: names, folders and files checked before torch loads, --data
    made absolute (so the run's config and its resume hint work from any folder), defaults for --lr,
    --precise-bn and --workers filled in."""
    fields = dict(fields)
    check_device(fields["device"])
    check_out(fields["out"])
    weights = fields["weights"]
    if weights not in WEIGHTS and not Path(weights).is_file() and not resume:
        raise CamsegError(
            f"--weights {weights}: not {', '.join(WEIGHTS)}, nor an existing file"
            + did_you_mean(weights, WEIGHTS)
        )
    if fields["data"]:
        check_data_folder("--data", fields["data"])
        fields["data"] = str(Path(fields["data"]).resolve())
    elif not resume:
        raise CamsegError("pass --data DIR (a CamVid-like dataset folder, or make one with `camseg synth`)")
    else:
        fields["data"] = ""  # resuming: the run's saved dataset
    fields["out"] = str(fields["out"])
    fields["lr"] = default_lr(fields["weights"]) if fields["lr"] is None else fields["lr"]
    fields["precise_bn"] = _batches(fields["precise_bn"])
    fields["workers"] = default_train_workers() if fields["workers"] is None else fields["workers"]
    return TrainConfig(**fields)


def _batches(value: int | str) -> int | str:
    """--precise-bn: "auto" or a whole number of batches."""
    if isinstance(value, int) or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise CamsegError(f"--precise-bn {value!r}: a number of batches (0: off) or auto") from None


@dataclass
class StudyOutcome:
    """The runs trained (TrainResults, in order) and the names of those skipped because locked."""

    results: list[Any] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)


def train_study(
    configs: list[TrainConfig],
    resume: bool,
    force: bool,
    note: Note,
    events: Any = None,
    explicit: frozenset[str] = frozenset(),
    many: bool | None = None,
) -> StudyOutcome:
    """Train each run in turn (train_one). With several runs (`many`, default: more than one config) a
    run another process holds is skipped and named; alone, its RunLocked is the error. TrainingInterrupted
    (Ctrl-C) propagates: the run's state is saved, the caller says how to resume."""
    from camseg_cli.core.train.lock import RunLocked

    many = len(configs) > 1 if many is None else many
    outcome = StudyOutcome()
    for c in configs:
        try:
            result = train_one(c, resume, force, note, events, explicit, start_missing=many)
        except RunLocked as e:
            if not many:
                raise
            note("locked", str(e))
            outcome.locked.append(c.run_name)
            continue
        if result is not None:
            outcome.results.append(result)
    return outcome


def train_one(
    c: TrainConfig,
    resume: bool,
    force: bool,
    note: Note,
    events: Any = None,
    explicit: frozenset[str] = frozenset(),
    start_missing: bool = False,
) -> Any:
    """Plan the run under its lock (skip, resume or start), say what happens, and train it (None: skipped)."""
    from camseg_cli.core.train.lock import run_lock
    from camseg_cli.core.train.resume import resumed_config

    main = is_main_process()
    with run_lock(c.run_dir) if main else nullcontext():  # under torchrun rank 0 holds it
        plan = plan_run(c, resume, start_missing, force, c.epochs if "epochs" in explicit else None)
        if plan.why and main:
            note("skip" if plan.action == "skip" else "plan", f"{c.run_name}: {plan.why}")
        if plan.action == "skip":
            return None
        config = c
        if plan.action == "resume":
            config, ignored = resumed_config(c, explicit)
            for text in ignored:
                note("plan", text)
        return fit(config, events, resume=plan.action == "resume", force=force)


def plan_run(*args: Any) -> Any:
    from camseg_cli.core.train.sweep import plan_run as plan

    return plan(*args)


def fit(*args: Any, **kwargs: Any) -> Any:
    from camseg_cli.core.train.run import fit as train

    return train(*args, **kwargs)
