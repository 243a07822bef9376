"""EvalConfig: what `camseg evaluate` and `camseg compare` share, one frozen value like TrainConfig.

Which dataset and split, how its files are read and split, where results and caches go, and how the
bootstrap draws. Both commands build one from their options; the core functions read it, so a new shared
setting is one field here, not a keyword spelled out in four call sites.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camseg_cli.core.checks import check_options
from camseg_cli.core.choices import CACHE_MODES
from camseg_cli.core.data.sources.layouts import READ_LAYOUTS
from camseg_cli.core.data.sources.samples import SPLITS
from camseg_cli.core.data.sources.splits import SPLIT_BY
from camseg_cli.core.suggest import check_choice, check_data_folder, check_device, check_out


@dataclass(frozen=True)
class EvalConfig:
    data: Path | None = None  # None: the dataset the checkpoint was trained on
    split: str = "test"
    layout: str | None = None  # None: detected from the folder
    split_by: str | None = None  # None: as the checkpoint was trained
    val_sequences: str | None = None
    test_sequences: str | None = None
    conditions: str | None = None  # ACDC conditions, e.g. "night,fog"
    class_map: Path | str | None = None  # None: classes matched by name
    skip_bad: bool = False
    batch_size: int | None = None  # None: per device
    device: str = "auto"
    workers: int | None = None  # None: per device
    cache: str = "none"
    bootstrap: int = 1000
    seed: int = 0  # of the bootstrap's resampling
    out: Path = Path("out")

    def replace(self, **changes: Any) -> EvalConfig:
        return dataclasses.replace(self, **changes)

    def split_args(self) -> dict[str, Any]:
        """scoring.evaluate.split_settings's keywords: how the split is defined."""
        return {
            "split_by": self.split_by,
            "val_sequences": self.val_sequences,
            "test_sequences": self.test_sequences,
            "conditions": self.conditions,
        }

    def pass_kwargs(self) -> dict[str, Any]:
        """scoring.evaluate.evaluate_passes's keywords: everything but the checkpoint, the corruptors and
        the progress callback."""
        return self.split_args() | {
            "data": self.data,
            "split": self.split,
            "layout": self.layout,
            "class_map": self.class_map,
            "skip_bad": self.skip_bad,
            "batch_size": self.batch_size,
            "device": self.device,
            "workers": self.workers,
            "cache": self.cache,
            "cache_dir": Path(self.out) / "cache",
            "bootstrap": self.bootstrap,
            "seed": self.seed,
        }

    def check(self) -> EvalConfig:
        """Every name, number, folder and device of the config, before torch loads; the config itself."""
        check_options(
            batch_size=self.batch_size, workers=self.workers, bootstrap=self.bootstrap, seed=self.seed
        )
        check_choice("--split", self.split, SPLITS)
        if self.layout is not None:
            check_choice("--layout", self.layout, READ_LAYOUTS)
        check_choice("--cache", self.cache, CACHE_MODES)
        if self.split_by is not None:
            check_choice("--split-by", self.split_by, SPLIT_BY)
        if self.data is not None:
            check_data_folder("--data", self.data)
        check_device(self.device)
        check_out(self.out)
        return self


@dataclass(frozen=True)
class Corruption:
    """--corrupt, --severity and --corrupt-seed: the suite's corruptions, their severities, their seed."""

    names: tuple[str, ...]
    severities: tuple[int, ...]
    seed: int = 0
