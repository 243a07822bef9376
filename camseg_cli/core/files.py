"""Atomic writes (temp file + rename) and NaN-safe JSON: nothing is ever left half-written."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from camseg_cli.core.errors import CamsegError


@contextmanager
def atomic_path(dest: Path | str) -> Iterator[Path]:
    """Yield a temp path beside `dest`; on success it replaces `dest` in one rename, else it is removed."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as e:
        raise CamsegError(f"{dest.parent}: cannot write here ({e.strerror or e})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; published files get the usual mode
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:  # make the bytes durable before the rename publishes them
            os.fsync(f.fileno())
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def make_folder(folder: Path | str) -> Path:
    """Create an output folder now, so that one that cannot be written fails before any work is done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CamsegError(f"{folder}: cannot write here ({e.strerror or e})") from None
    return folder


def remove_stale_temps(folder: Path | str, name: str = "") -> list[Path]:
    """Delete the temp files a killed writer left in `folder` (all, or those of file `name`)."""
    stale = sorted(p for p in Path(folder).glob(".*.tmp") if p.name.startswith(f".{name}"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def printable(text: str) -> str:
    """Text safe to draw or print: file-name bytes that are not UTF-8 (kept as surrogates) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_with(dest: Path | str, writer: Callable[[Path], Any]) -> Path:
    """Call writer(tmp) and publish tmp as dest atomically."""
    with atomic_path(dest) as tmp:
        writer(tmp)
    return Path(dest)


def write_text(dest: Path | str, text: str) -> Path:
    return write_with(dest, lambda p: p.write_text(text, encoding="utf-8"))


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _clean(obj.item())  # numpy / torch scalars
    if isinstance(obj, Path):
        return str(obj)
    return obj


def fmt_number(x: float | None, digits: int = 3) -> str:
    """A score for tables and reports: fixed digits, and an em dash for missing (None / NaN)."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def to_json(obj: Any, indent: int | None = None) -> str:
    """JSON with NaN/inf written as null (strict JSON readers reject NaN)."""
    return json.dumps(_clean(obj), indent=indent, allow_nan=False)


def write_json(dest: Path | str, obj: Any) -> Path:
    return write_text(dest, to_json(obj, indent=2) + "\n")


def write_csv(dest: Path | str, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically."""
    return write_with(dest, lambda p: frame.to_csv(p, index=False))


_BACKEND_LOADED = False


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend. Imported on first use (about half a second);
    training calls this before its first epoch, so that a Ctrl-C never lands inside the import (an
    interrupted C-extension import surfaces as ImportError, not KeyboardInterrupt)."""
    global _BACKEND_LOADED
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not _BACKEND_LOADED:
        # use() only names the backend; pyplot imports its module at the first figure (epoch 1's curves,
        # where the SIGINT test's Ctrl-C landed). switch_backend imports it now; it also closes every
        # open figure, so it runs once, before any figure exists.
        plt.switch_backend("Agg")
        _BACKEND_LOADED = True
    return plt


def save_figure(dest: Path | str, fig: Any) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    plt = pyplot()
    try:
        return write_with(dest, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)
