"""Scoring a checkpoint on another dataset's classes: matched by name, or by a `from,to` CSV.

`from` names a class of the evaluation set, `to` one of the checkpoint; several `from` may share a
`to`; a class of the evaluation set that no row (or an empty `to`) maps is void, as is its void.
Shipped maps live in core/data/classes/classmaps/ and are named by their file stem (camvid11_to_cityscapes19).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError

SHIPPED = Path(__file__).parent / "classmaps"


def shipped_maps() -> list[str]:
    """Names of the class maps shipped with camseg (usable as --class-map NAME)."""
    return sorted(p.stem for p in SHIPPED.glob("*.csv"))


def class_map_path(value: Path | str) -> Path:
    """A --class-map value: a CSV file, or the name of a shipped one."""
    path = Path(value)
    if path.is_file():
        return path
    shipped = SHIPPED / f"{value}.csv"
    if shipped.is_file():
        return shipped
    raise CamsegError(
        f"{value}: class map not found — a from,to CSV file or one of {', '.join(shipped_maps())}"
    )


def read_class_pairs(path: Path | str) -> list[tuple[str, str, int]]:
    """(from, to, line) rows of a `from,to` CSV (header required; `#` lines are comments)."""
    path = class_map_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CamsegError(f"{path}: cannot read class map ({e.__class__.__name__}: {e})") from None
    rows = [
        (n, [c.strip() for c in row])
        for n, row in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), start=1)
        if any(c.strip() for c in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows or [c.lower() for c in rows[0][1][:2]] != ["from", "to"]:
        raise CamsegError(f"{path}: a class map needs the header from,to")
    out = []
    for line, row in rows[1:]:
        if len(row) < 1 or len(row) > 2 or not row[0]:
            raise CamsegError(
                f"{path}: line {line}: expected 'from,to' (an empty 'to' means void), got {row}"
            )
        out.append((row[0], row[1] if len(row) == 2 else "", line))
    return out


def _index(classes: ClassMap) -> dict[str, int]:
    return {n.lower(): i for i, n in enumerate(classes.names)}


def _fill(data: ClassMap, target: ClassMap, pairs: dict[int, int]) -> np.ndarray:
    lut = np.full(data.num_classes, target.ignore_index, dtype=np.int64)
    for i, j in pairs.items():
        lut[i] = j
    return lut


def lut_from_file(data: ClassMap, target: ClassMap, path: Path | str) -> np.ndarray:
    """Table dataset class index -> checkpoint class index (void where unmapped) from a from,to CSV."""
    src, dst = _index(data), _index(target)
    mapped: dict[int, int] = {}
    for frm, to, line in read_class_pairs(path):
        where = f"{class_map_path(path)}: line {line}"
        if frm.lower() not in src:
            raise CamsegError(
                f"{where}: {frm!r} is not a class of the evaluation set ({', '.join(data.names)})"
            )
        i = src[frm.lower()]
        if i in mapped:
            raise CamsegError(f"{where}: {frm!r} is mapped twice")
        if not to or to.lower() == (target.void_name or "").lower():
            continue  # void: left out of every score
        if to.lower() not in dst:
            raise CamsegError(f"{where}: {to!r} is not a class of the checkpoint ({', '.join(target.names)})")
        if i != data.void:
            mapped[i] = dst[to.lower()]
    return _fill(data, target, mapped)


def lut_by_name(data: ClassMap, target: ClassMap) -> np.ndarray | None:
    """Table dataset -> checkpoint class index when every non-void class of the dataset is a class of the
    checkpoint by name (case aside); None when some is not. Identity maps give an identity table."""
    dst = _index(target)
    void_names = {(data.void_name or "").lower()}
    mapped = {}
    for i, name in enumerate(data.names):
        if i == data.void or name.lower() in void_names:
            continue
        if name.lower() not in dst or dst[name.lower()] == target.void:
            return None
        mapped[i] = dst[name.lower()]
    return _fill(data, target, mapped)


class Remapped:
    """A transform that first maps the mask's class indices through a table (picklable for workers)."""

    def __init__(self, lut: np.ndarray, inner):
        self.lut, self.inner = lut, inner

    def __call__(self, image: np.ndarray, mask: np.ndarray):
        return self.inner(image, self.lut[mask])
