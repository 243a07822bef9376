"""CompareConfig: everything `camseg compare` was asked, one frozen value built once by the command.

The evaluation settings every compared run shares are an EvalConfig (as `camseg evaluate` builds one);
the rest is compare's own: which checkpoints, which baseline, how the study judges and what it adds
(corruptions, slices, sample masks). Imports nothing heavy: it is checked before torch loads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camseg_cli.core.checks import check_options
from camseg_cli.core.evaluation.scoring.config import Corruption, EvalConfig
from camseg_cli.core.suggest import check_file

MIN_EFFECT = 0.5  # cells.MIN_EFFECT, spelled here so that checking a config loads no numpy or scipy


@dataclass(frozen=True)
class CompareConfig:
    checkpoints: tuple[Path, ...]
    eval: EvalConfig = field(default_factory=EvalConfig)
    baseline: str | None = None  # run name of the baseline; None: the aug=none run
    block: int | None = None  # bootstrap block length in frames; None: n^(1/3)
    min_effect: float = MIN_EFFECT  # mIoU points
    samples: int = 6  # test images in samples.png (0: none)
    corruption: Corruption = field(default_factory=lambda: Corruption((), ()))  # no names: no suite
    slices: tuple[str, ...] = ()  # dark, sequence

    def replace(self, **changes: Any) -> CompareConfig:
        return dataclasses.replace(self, **changes)

    @property
    def under_shift(self) -> bool:
        """Whether the study is also judged under corruptions or on slices."""
        return bool(self.corruption.names or self.slices)

    def check(self) -> CompareConfig:
        """Every number, file, name and folder, before torch loads (a checkpoint given twice is compared
        with itself, a sanity check that must come out within noise); the config itself."""
        check_options(block=self.block, min_effect=self.min_effect, samples=self.samples)
        for path in self.checkpoints:
            check_file(path)
        self.eval.check()
        return self
