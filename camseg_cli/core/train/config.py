"""TrainConfig: the whole description of one training run, frozen, checked once, stored as plain JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camseg_cli.core.choices import ARCHS, CACHE_MODES, LOGS, OPTIMIZERS, SCHEDULES
from camseg_cli.core.data.aug_names import aug_name
from camseg_cli.core.data.class_weights import METHODS as CLASS_WEIGHT_METHODS
from camseg_cli.core.data.layouts import READ_LAYOUTS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.suggest import check_choice


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Built once by the CLI, changed only with dataclasses.replace."""

    data: str
    layout: str | None = None
    split_by: str = "dataset"  # or "sequence": whole sequences per split, none in two (core/data/splits.py)
    val_sequences: str | None = None
    test_sequences: str | None = None
    conditions: str | None = None  # ACDC: train and validate on these conditions only ("night,fog")
    skip_bad: bool = False  # leave out unreadable train/val samples (listed as warnings) instead of stopping
    aug: str = "none"
    arch: str = "resnet50"
    weights: str = "coco"
    aux_loss: bool = False
    epochs: int = 30
    batch_size: int = 8
    size: tuple[int, int] = (360, 480)
    lr: float = 1e-4
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "poly"
    warmup_epochs: float = 1.0
    class_weights: str = "none"
    accumulate: int = 1
    patience: int = 0  # epochs without a new best val mIoU before stopping; 0 = never stop early
    seed: int = 0
    deterministic: bool = False
    workers: int = 4
    cache: str = "none"  # decoded samples: none, ram or disk (out/cache/); see core/data/cache.py
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    channels_last: bool = True
    sync_bn: bool = False
    out: str = "out"
    run: str = ""  # empty: <arch>-<aug>
    log: str = "none"  # or "tensorboard": event files in OUT/runs/<run>/tb/
    keep_last: bool = True  # False: a finished run drops last.pt (resume state), so it cannot be extended

    def __post_init__(self) -> None:
        _check(self)

    @property
    def run_name(self) -> str:
        return self.run or f"{self.arch}-{aug_name(self.aug)}"

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / "runs" / self.run_name

    @property
    def best_path(self) -> Path:
        return Path(self.out) / f"{self.run_name}.pt"

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "size" in kwargs:
            kwargs["size"] = tuple(int(s) for s in kwargs["size"])
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise CamsegError(f"malformed training config record: {e}") from None


def _check(c: TrainConfig) -> None:
    aug_name(c.aug)  # raises on an unknown preset
    check_choice("--arch", c.arch, ARCHS)
    check_choice("--optimizer", c.optimizer, OPTIMIZERS)
    check_choice("--schedule", c.schedule, SCHEDULES)
    check_choice("--class-weights", c.class_weights, CLASS_WEIGHT_METHODS)
    check_choice("--cache", c.cache, CACHE_MODES)
    check_choice("--log", c.log, LOGS)
    if c.layout is not None:
        check_choice("--layout", c.layout, READ_LAYOUTS)
    check_choice("--split-by", c.split_by, ("dataset", "sequence"))
    if c.epochs < 1:
        raise CamsegError("--epochs must be at least 1")
    if c.batch_size < 2:
        raise CamsegError("--batch-size must be at least 2 (BatchNorm needs two samples); use --accumulate")
    if c.accumulate < 1:
        raise CamsegError("--accumulate must be at least 1")
    if len(c.size) != 2 or min(c.size) < 32:
        raise CamsegError(f"--size {c.size}: height and width must be at least 32 pixels")
    if not c.lr > 0:
        raise CamsegError("--lr must be positive")
    if c.weight_decay < 0 or c.warmup_epochs < 0 or c.patience < 0 or c.workers < 0:
        raise CamsegError("--weight-decay, --warmup-epochs, --patience and --workers must not be negative")
    if any(ch in c.run_name for ch in "/\\") or c.run_name.startswith("."):
        raise CamsegError(f"--run {c.run_name!r}: a run name cannot contain slashes or start with a dot")


# From scratch the network must move far from its random start; fine-tuning pretrained weights wants
# small steps that keep what they learnt. A from-scratch MobileNetV3 at 1e-4 reached val mIoU 0.05 in
# the README's 5-epoch CPU example; the demo has always trained from scratch at 1e-3.
LR_SCRATCH, LR_FINETUNE = 1e-3, 1e-4


def default_lr(weights: str) -> float:
    """--lr when not given: 1e-3 for --weights none, 1e-4 for coco, imagenet or a weights file."""
    return LR_SCRATCH if weights == "none" else LR_FINETUNE
