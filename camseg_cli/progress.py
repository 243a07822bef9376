"""Progress for long loops: Rich bars on a terminal, plain line-based text when piped, in CI or --quiet."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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
            TimeElapsedColumn(),
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
