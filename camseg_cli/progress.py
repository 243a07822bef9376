"""Progress for long loops: Rich bars on a terminal, plain line-based text when piped, in CI or --quiet."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from camseg_cli.app import err_console, is_interactive

T = TypeVar("T")


class Reporter:
    """Wraps iterables with progress. `track` is what core code receives as a callback."""

    def __init__(self, quiet: bool = False, every_s: float = 10.0):
        self.quiet = quiet
        self.live = is_interactive(quiet)
        self.every_s = every_s
        self._progress: Progress | None = None

    @contextmanager
    def session(self) -> Iterator[Reporter]:
        if not self.live:
            yield self
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("[dim]elapsed"),
            TimeElapsedColumn(),
            TextColumn("[dim]left"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        with self._progress:
            yield self
        self._progress = None

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        if self._progress is not None:
            task = self._progress.add_task(description, total=total, info="")
            for item in items:
                yield item
                self._progress.advance(task)
            self._progress.remove_task(task)
            return
        start = last = time.monotonic()
        n = 0
        for item in items:
            yield item
            n += 1
            now = time.monotonic()
            if not self.quiet and now - last >= self.every_s:
                last = now
                of = f"/{total}" if total else ""
                err_console.print(f"{description}: {n}{of} ({now - start:.0f}s)", highlight=False)

    def line(self, text: str) -> None:
        """A summary line: printed above live bars, or plainly."""
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)
        elif not self.quiet:
            err_console.print(text, highlight=False)


class TrainProgress(Reporter):
    """Training events (see core.train.engine.TrainEvents) as Rich bars — run (epochs, ETA), epoch (steps,
    loss, images/s), validation — or as plain lines. Epoch summaries are printed even with --quiet."""

    def __init__(self, quiet: bool = False, every_s: float = 10.0):
        super().__init__(quiet, every_s)
        self._run_task: Any = None
        self._epoch_task: Any = None
        self._last = 0.0
        self.epochs = 0

    def run_started(self, run: str, epochs: int, start_epoch: int, batches: int) -> None:
        self.epochs = epochs
        resumed = f", resuming after epoch {start_epoch}" if start_epoch else ""
        self._print(f"{run}: {epochs} epochs of {batches} batches{resumed}")  # on a terminal too
        if self._progress is not None:
            self._run_task = self._progress.add_task(run, total=epochs, completed=start_epoch, info="")

    def epoch_started(self, epoch: int, batches: int, done: int) -> None:
        self._last = time.monotonic()
        if self._progress is not None:
            desc = f"epoch {epoch + 1}/{self.epochs}"
            self._epoch_task = self._progress.add_task(desc, total=batches, completed=done, info="")

    def step(self, epoch: int, batch: int, batches: int, loss: float, images_per_s: float, lr: float) -> None:
        info = f"loss {loss:.4f}  {images_per_s:.1f} img/s  lr {lr:.2e}"
        if self._progress is not None and self._epoch_task is not None:
            self._progress.update(self._epoch_task, completed=batch, info=info)
            return
        now = time.monotonic()
        if not self.quiet and now - self._last >= self.every_s:
            self._last = now
            self._print(f"epoch {epoch + 1}/{self.epochs} batch {batch}/{batches}  {info}")

    def epoch_ended(self, row: dict[str, Any], best_miou: float, best_epoch: int) -> None:
        if self._progress is not None:
            if self._epoch_task is not None:
                self._progress.remove_task(self._epoch_task)
                self._epoch_task = None
            if self._run_task is not None:
                self._progress.update(
                    self._run_task, completed=row["epoch"], info=f"best mIoU {best_miou:.3f}"
                )
        mark = " *" if row["epoch"] == best_epoch else ""
        self._print(
            f"epoch {row['epoch']}/{self.epochs}  train loss {row['train_loss']:.4f}  "
            f"val loss {row['val_loss']:.4f}  val mIoU {row['val_miou']:.4f}{mark}  "
            f"pixel acc {row['val_pixel_acc']:.4f}  "
            f"best {best_miou:.4f} @ {best_epoch}  {row['images_per_s']:.1f} img/s  "
            f"data wait {100 * row.get('data_wait', float('nan')):.0f}%  {_memory(row)}{row['seconds']:.1f}s"
        )

    def note(self, text: str) -> None:
        self._print(text)

    def _print(self, text: str) -> None:
        console = self._progress.console if self._progress is not None else err_console
        console.print(text, highlight=False, markup=False, soft_wrap=True)


def _memory(row: dict[str, Any]) -> str:
    """`mem 12.3 GiB  ` on CUDA (the epoch's peak), nothing where it is not measured."""
    peak = row.get("peak_mem_gib", float("nan"))
    return f"mem {peak:.1f} GiB  " if peak == peak else ""
