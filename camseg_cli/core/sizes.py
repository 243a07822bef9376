"""Parse image sizes given on the command line ("180x240" -> (180, 240), height first)."""

from __future__ import annotations

import re

from camseg_cli.core.errors import CamsegError

MAX_SIDE = 8192  # larger sides are almost surely a typo, and would allocate gigabytes per image
_SIZE = re.compile(r"\s*(-?\d+)\s*(?:[xX×]\s*(-?\d+)\s*)?")


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' (e.g. '180x240') or a single 'N' for NxN -> (H, W); anything else raises CamsegError."""
    match = _SIZE.fullmatch(str(text))
    if not match:
        raise CamsegError(f"size {text!r} is not HEIGHTxWIDTH — write it like 180x240 (height first)")
    h = int(match.group(1))
    w = int(match.group(2)) if match.group(2) is not None else h
    if h <= 0 or w <= 0:
        raise CamsegError(f"size {text!r}: height and width must be positive, e.g. 180x240")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise CamsegError(f"size {text!r}: each side must be at most {MAX_SIDE} pixels")
    return h, w
