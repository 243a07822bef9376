"""Label decoding: RGB masks to class indices by one lookup-table gather on packed 24-bit colours.

Never a per-pixel or per-class Python loop: the 16 MiB table is built once per class map.
"""

from __future__ import annotations

import functools

import numpy as np

from camseg_cli.core.data.classes.maps import ClassMap
from camseg_cli.core.errors import CamsegError

UNKNOWN = 255  # lookup-table value of a colour the class map does not know


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW int32 24-bit colour code r<<16 | g<<8 | b."""
    rgb = rgb.astype(np.int32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


@functools.lru_cache(maxsize=8)
def _color_lut(colors: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    # 16 MiB built once per class map; each decode is then one gather over the packed codes.
    lut = np.full(1 << 24, UNKNOWN, dtype=np.uint8)
    codes = pack_rgb(np.asarray(colors, dtype=np.uint8).reshape(-1, 3))
    lut[codes] = np.arange(len(colors), dtype=np.uint8)
    return lut


def decode_rgb_mask(rgb: np.ndarray, classes: ClassMap, source: str = "mask") -> np.ndarray:
    """RGB mask -> int64 class indices via one lookup-table gather; unknown colours raise."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise CamsegError(f"{source}: RGB mask must be HxWx3 uint8, got {rgb.dtype} of shape {rgb.shape}")
    codes = pack_rgb(rgb)
    idx = _color_lut(classes.colors)[codes]
    bad = idx == UNKNOWN
    if bad.any():
        values, counts = np.unique(codes[bad], return_counts=True)
        worst = int(np.argmax(counts))
        c = int(values[worst])
        rgb_s = f"({c >> 16}, {(c >> 8) & 255}, {c & 255})"
        more = f" and {len(values) - 1} other unknown colour(s)" if len(values) > 1 else ""
        raise CamsegError(
            f"{source}: colour {rgb_s} on {int(counts[worst])} pixels is not in the class map{more}"
        )
    return idx.astype(np.int64)


def check_index_mask(mask: np.ndarray, classes: ClassMap, source: str = "mask") -> np.ndarray:
    """Index mask -> int64; any value outside the class map (negative ones too) raises."""
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise CamsegError(f"{source}: index mask must be HxW integers, got {mask.dtype} {mask.shape}")
    bad = (mask < 0) | (mask >= classes.num_classes)
    if bad.any():
        values, counts = np.unique(mask[bad], return_counts=True)
        worst = int(np.argmax(counts))
        more = f" and {len(values) - 1} other unknown value(s)" if len(values) > 1 else ""
        raise CamsegError(
            f"{source}: class index {int(values[worst])} on {int(counts[worst])} pixels is outside the "
            f"{classes.num_classes} classes{more}"
        )
    return mask.astype(np.int64)


def encode_rgb_mask(mask: np.ndarray, classes: ClassMap) -> np.ndarray:
    """int class indices -> HxWx3 uint8 colours (one palette gather)."""
    return classes.palette()[mask]
