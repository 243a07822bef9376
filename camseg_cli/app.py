"""The Typer app, the one place CamsegError becomes a red line and exit code 1, and shared options."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from camseg_cli.core.errors import CamsegError

# Piped or captured output has no terminal width; Rich would assume 80 columns and squeeze tables
# into ellipses, so give plain-text readers (logs, CI, `| less`) room for the widest table.
PLAIN_WIDTH = 160
console = Console(width=None if sys.stdout.isatty() else PLAIN_WIDTH)  # results (stdout)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else PLAIN_WIDTH)  # errors, progress

log = logging.getLogger("camseg")


_state = {"debug": False}


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("CAMSEG_DEBUG") == "1"


app = typer.Typer(
    help="Train, evaluate and compare DeepLabV3 segmentation models on driving scenes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _hide_flag_types() -> None:
    """Recent typer prints a type beside every option, so a flag reads `--debug <bool>` as if it took a
    value; show none for flags (typer before 0.2x showed none anyway)."""
    option = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if shown is None or getattr(shown, "_camseg", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._camseg = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_hide_flag_types()


def _version(value: bool) -> None:
    if value:
        from camseg_cli import __version__

        console.print(f"camseg {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print camseg's version and exit."
    ),
) -> None:
    """camseg: which augmentation makes DeepLabV3 better on driving scenes, and can we trust it?"""
    _state["debug"] = debug
    _write_file_names_as_given()
    level = logging.DEBUG if verbose or debug else logging.INFO
    handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    log.setLevel(level)


def _write_file_names_as_given() -> None:
    """A file name that is not UTF-8 reaches Python as surrogates; print its original bytes back, as ls
    does, rather than fail with UnicodeEncodeError halfway through a table."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def command(*args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
    """Like app.command, and turns a CamsegError into one red line on stderr and exit code 1."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except CamsegError as e:
                if debug_enabled():
                    raise
                # one line, even where a message quotes a library's multi-line error
                text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
                err_console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True, highlight=False)
                raise typer.Exit(1) from None

        return app.command(*args, **kwargs)(run)

    return decorate


def is_interactive(quiet: bool = False) -> bool:
    """Rich live progress only on a terminal, never in CI or when piped."""
    return not quiet and err_console.is_terminal and not os.environ.get("CI")


def print_json(obj: Any) -> None:
    """Write one JSON document to stdout, NaN as null, nothing else on the line."""
    from camseg_cli.core.files import to_json

    sys.stdout.write(to_json(obj) + "\n")
    sys.stdout.flush()
