"""How a training run ends: its TrainResult, or TrainingInterrupted (Ctrl-C) with the command that resumes
it. Plain data and one message; core/train/run.py raises and returns them."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camseg_cli.core.train.config import TrainConfig


class TrainingInterrupted(Exception):
    """Ctrl-C: the resume state was saved; `hint` says how to continue."""

    def __init__(self, config: TrainConfig, epoch: int, batch: int):
        self.config, self.epoch, self.batch = config, epoch, batch
        where = f"epoch {epoch + 1}, batch {batch}" if batch else f"after epoch {epoch}"
        super().__init__(f"interrupted {where}; state saved to {config.last_path}")

    @property
    def hint(self) -> str:
        """Absolute folders, so the command works from any folder (older runs stored --data as typed)."""
        c = self.config
        data = str(Path(c.data).resolve())
        return shlex.join(
            [
                "camseg",
                "train",
                "--resume",
                "--out",
                str(Path(c.out).resolve()),
                "--run",
                c.run_name,
                "--data",
                data,
            ]
        )


@dataclass
class TrainResult:
    run: str
    best_path: Path
    run_dir: Path
    epochs: int  # epochs completed
    best_miou: float
    best_epoch: int
    stopped_early: bool
    history: list[dict[str, Any]]
