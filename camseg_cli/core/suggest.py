"""Cheap checks of what a user typed, with the nearest valid name, run before torch and friends load.

Every command checks its names (presets, choices), folders and files here first, so a typo or a missing
`--data` answers in a fraction of a second instead of after 10-50 s of imports. Imports nothing heavy.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path

from camseg_cli.core.checks import shown
from camseg_cli.core.errors import CamsegError

DEVICE_NAMES = ("auto", "cpu", "cuda")  # and cuda:N


def nearest(word: str, options: Iterable[str]) -> str | None:
    """The option closest to `word` (difflib's ratio of at least 0.6), or None."""
    found = difflib.get_close_matches(str(word).lower(), [str(o) for o in options], n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' — did you mean X?' when some option is close to `word`, else ''."""
    close = nearest(word, options)
    return f" — did you mean {close}?" if close else ""


def check_choice(flag: str, value: object, options: Iterable[object]) -> None:
    """`value` must be one of `options`; the error lists them and suggests the nearest."""
    options = tuple(options)
    if value not in options:
        names = [str(o) for o in options]
        raise CamsegError(
            f"{flag} {shown(value)}: choose one of {', '.join(names)}{did_you_mean(str(value)[:100], names)}"
        )


def check_choices(flag: str, text: str, options: Iterable[str]) -> None:
    """A comma-separated `text` whose every item is one of `options` (empty items are skipped)."""
    options = tuple(options)
    for item in (s.strip() for s in text.split(",")):
        if item:
            check_choice(flag, item, options)


def check_device(name: str | None) -> None:
    """auto, cpu, cuda or cuda:N, by name only (whether a GPU is there is torch's to say)."""
    name = (name or "auto").strip().lower()
    if name in DEVICE_NAMES or re.fullmatch(r"cuda:\d+", name):
        return
    raise CamsegError(
        f"unknown device {name!r} — choose auto, cpu, cuda or cuda:N{did_you_mean(name, DEVICE_NAMES)}"
    )


def check_data_folder(flag: str, path: str | Path) -> None:
    """A dataset folder (--data) that must exist."""
    p = Path(path)
    if not p.exists():
        raise CamsegError(f"{p}: dataset folder not found ({flag})")
    if not p.is_dir():
        raise CamsegError(f"{p}: not a folder ({flag})")


def check_file(path: str | Path, what: str = "checkpoint") -> None:
    """An input file (a checkpoint, a config file) that must exist."""
    p = Path(path)
    if not p.exists():
        raise CamsegError(f"{p}: no such {what}")
    if p.is_dir():
        raise CamsegError(f"{p}: is a folder, not a {what}")


def check_out(path: str | Path, flag: str = "--out") -> None:
    """An output folder: new or a folder, never an existing file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CamsegError(f"{p}: exists and is not a folder ({flag})")
