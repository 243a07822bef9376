"""TrainConfig: the whole description of one training run, frozen, checked once, stored as plain JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camseg_cli.core.checks import RULES, Rule, check_number, label, shown
from camseg_cli.core.choices import ARCHS, CACHE_MODES, LOGS, OPTIMIZERS, SCHEDULES
from camseg_cli.core.data.augment.names import aug_name, is_pipeline
from camseg_cli.core.data.sources.class_weights import METHODS as CLASS_WEIGHT_METHODS
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS
from camseg_cli.core.errors import CamsegError
from camseg_cli.core.sizes import MAX_SIDE
from camseg_cli.core.suggest import did_you_mean

# --precise-bn auto (core/train/precise_bn.py): on where BatchNorm's running averages lag the weights —
# from scratch, where the weights move far and fast, and in short runs, where few steps feed the averages.
AUTO_BATCHES = 16  # batches per recomputation when --precise-bn auto turns it on (capped at an epoch)
AUTO_MAX_EPOCHS = 10  # auto: on for runs from scratch and for runs of at most this many epochs
PRECISE_BN = Rule(0, 1_000_000)  # --precise-bn N: a whole number of batches (or "auto")


def auto_batches(weights: str, epochs: int) -> int:
    """--precise-bn auto: AUTO_BATCHES for --weights none or at most AUTO_MAX_EPOCHS epochs, else 0 (off)."""
    short = type(epochs) is int and epochs <= AUTO_MAX_EPOCHS  # a bad --epochs is _check's to report
    return AUTO_BATCHES if weights == "none" or short else 0


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Built once by the CLI, changed only with dataclasses.replace."""

    data: str
    layout: str | None = None
    split_by: str = (
        "dataset"  # or "sequence": whole sequences per split, none in two (core/data/sources/splits.py)
    )
    val_sequences: str | None = None
    test_sequences: str | None = None
    conditions: str | None = None  # ACDC: train and validate on these conditions only ("night,fog")
    skip_bad: bool = False  # leave out unreadable train/val samples (listed as warnings) instead of stopping
    aug: str = "none"  # presets, a pipeline file's path (read on construction) or 'pipeline:<hash>'
    aug_label: str = ""  # a pipeline file's stem: the arm's and the run's name (not the arm's identity)
    aug_pipeline: str = (
        ""  # a pipeline file's canonical content, sorted-key JSON (data/augment/pipeline_file.py)
    )
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
    threads: int | None = None  # main-process compute threads (core/cpus.py); None: as the process found them
    cache: str = "none"  # decoded samples: none, ram or disk (out/cache/); see core/data/loading/cache.py
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    channels_last: bool = True
    sync_bn: bool = False
    out: str = "out"
    run: str = ""  # empty: <arch>-<aug>
    log: str = "none"  # or "tensorboard": event files in OUT/runs/<run>/tb/
    keep_last: bool = True  # False: a finished run drops last.pt (resume state), so it cannot be extended
    # training batches over which BatchNorm statistics are recomputed before each validation (0: off);
    # "auto" is resolved on construction (core/train/precise_bn.py), so config.json holds the number
    precise_bn: int | str = "auto"

    def __post_init__(self) -> None:
        if self.precise_bn == "auto":
            object.__setattr__(self, "precise_bn", auto_batches(self.weights, self.epochs))
        if isinstance(self.aug, str):
            from camseg_cli.core.train.aug_source import resolve_aug

            aug, label, pipeline = resolve_aug(self.aug, self.aug_label, self.aug_pipeline)
            object.__setattr__(self, "aug", aug)
            object.__setattr__(self, "aug_label", label)
            object.__setattr__(self, "aug_pipeline", pipeline)
        _check(self)

    @property
    def aug_display(self) -> str:
        """The augmentation as runs and arms are named: a preset's canonical name or a file's stem."""
        if self.aug_pipeline:
            return self.aug_label
        items = [s.strip() for s in self.aug.split(",") if s.strip()]
        if any(is_pipeline(s) for s in items):  # a sweep list, split before it trains
            return "+".join(aug_name(s) for s in items)
        return aug_name(self.aug)

    @property
    def run_name(self) -> str:
        return self.run or f"{self.arch}-{self.aug_display}"

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
        kwargs.setdefault("precise_bn", 0)  # a run recorded before precise BN existed trained without it
        size = kwargs.get("size")
        if isinstance(size, list | tuple):
            kwargs["size"] = tuple(size)
        try:
            return cls(**kwargs)
        except TypeError as e:  # a missing field
            raise CamsegError(f"malformed training config record: {e}") from None


_CHOICES = {
    "arch": ARCHS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "class_weights": CLASS_WEIGHT_METHODS,
    "cache": CACHE_MODES,
    "log": LOGS,
    "layout": READ_LAYOUTS,
    "split_by": ("dataset", "sequence"),
}


def check_field(name: str, value: Any, where: str | None = None) -> None:
    """One TrainConfig field's value, checked by the rules the CLI, config files and checkpoints share;
    `where` (a file) is named in the message, else the field is named as its --flag."""
    if name in _CHOICES and not (name == "layout" and value is None) and value not in _CHOICES[name]:
        options = [str(o) for o in _CHOICES[name]]
        raise CamsegError(
            f"{label(name, where)} {shown(value)}: choose one of {', '.join(options)}"
            + did_you_mean(str(value)[:100], options)
        )
    if name in RULES:
        check_number(name, value, where)
    if name == "batch_size" and value < 2:
        raise CamsegError(
            f"{label(name, where)} must be at least 2 (BatchNorm needs two samples); use --accumulate"
        )
    if name == "size" and not (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(type(v) is int and 32 <= v <= MAX_SIDE for v in value)
    ):
        raise CamsegError(
            f"{label(name, where)} {shown(value)}: height and width must be 32 to {MAX_SIDE} pixels"
        )
    if name == "precise_bn" and value != "auto":
        check_number(name, value, where, PRECISE_BN)
    if name == "aug":
        try:
            for item in value.split(",") if is_pipeline(value) else [value]:
                aug_name(item)  # raises on an unknown preset or a missing pipeline file
        except CamsegError as e:
            raise CamsegError(f"{where}: aug: {e}" if where else str(e)) from None


def _check(c: TrainConfig) -> None:
    for f in dataclasses.fields(c):
        check_field(f.name, getattr(c, f.name))
    if any(ch in c.run_name for ch in "/\\") or c.run_name.startswith("."):
        raise CamsegError(f"--run {shown(c.run_name)}: a run name cannot contain slashes or start with a dot")


# From scratch the network must move far from its random start; fine-tuning pretrained weights wants
# small steps that keep what they learnt. A from-scratch MobileNetV3 at 1e-4 reached val mIoU 0.05 in
# the README's 5-epoch CPU example; the demo has always trained from scratch at 1e-3.
LR_SCRATCH, LR_FINETUNE = 1e-3, 1e-4


def default_lr(weights: str) -> float:
    """--lr when not given: 1e-3 for --weights none, 1e-4 for coco, imagenet or a weights file."""
    return LR_SCRATCH if weights == "none" else LR_FINETUNE
